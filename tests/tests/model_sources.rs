//! End to end: a model package whose weights come from a pinned upstream
//! file (`[[model.sources]]`, issue #14 part 3). A real registry, the real
//! `zoo` and `zoo-torch`, and an upstream HTTP server on 127.0.0.1 that
//! serves a VGG-mini-shaped caffemodel, an HTML page, a cut-off body, or a
//! 404, and counts what it sent.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use zoo_e2e::{Registry, Zoo, bin_dir, blob_problems, sha256, walk};

const NAME: &str = "vgg-mini-src";
const VERSION: &str = "1.0.0";
const SOURCE_FILE: &str = "VGG_mini.caffemodel";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What every test shares: the upstream caffemodel and the package that
/// `zoo import caffe --like models/vgg-mini` makes of it.
struct Fixture {
    _dir: tempfile::TempDir,
    caffemodel: Vec<u8>,
    caffemodel_path: PathBuf,
    imported: PathBuf,
    /// sha256 of the import's weights.safetensors: what an install must make.
    produced: String,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("model-sources-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let generator = bin_dir().join("examples/vgg_caffemodel");
        assert!(
            generator.is_file(),
            "{} is missing: `cargo build -p zoo-caffe --example vgg_caffemodel` \
             (`cargo test --workspace` builds it)",
            generator.display()
        );
        let caffemodel = dir.path().join(SOURCE_FILE);
        let status = std::process::Command::new(&generator)
            .arg("mini")
            .arg(&caffemodel)
            .status()
            .unwrap();
        assert!(status.success());
        let imported = dir.path().join("imported");
        let zoo = Zoo::new("http://127.0.0.1:1", None);
        zoo.run(&[
            "import",
            "caffe",
            caffemodel.to_str().unwrap(),
            "--like",
            repo().join("models/vgg-mini").to_str().unwrap(),
            "-o",
            imported.to_str().unwrap(),
            "--name",
            NAME,
            "--version",
            VERSION,
        ])
        .ok();
        let produced = sha256(&std::fs::read(imported.join("weights.safetensors")).unwrap());
        Fixture {
            caffemodel: std::fs::read(&caffemodel).unwrap(),
            caffemodel_path: caffemodel,
            _dir: dir,
            imported,
            produced,
        }
    })
}

/// The imported package without its weights, declaring them as made from
/// the caffemodel at `urls` (with `sha256` and `pin` as given).
fn sources_package(root: &Path, urls: &[String], sha: &str, pin: Option<&str>) -> PathBuf {
    let fixture = fixture();
    let dir = root.join(NAME);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(&fixture.imported).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        if name != "weights.safetensors" {
            std::fs::copy(&path, dir.join(name)).unwrap();
        }
    }
    let urls: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    let mut manifest = std::fs::read_to_string(dir.join("zoo.toml")).unwrap();
    manifest.push_str(&format!(
        "\n[[model.sources]]\nurl = [{}]\nsha256 = \"{sha}\"\nsize = {}\nconvert = \"caffe\"\n\
         produces = \"weights.safetensors\"\n",
        urls.join(", "),
        fixture.caffemodel.len()
    ));
    if let Some(pin) = pin {
        manifest.push_str(&format!("produces_sha256 = \"{pin}\"\n"));
    }
    std::fs::write(dir.join("zoo.toml"), manifest).unwrap();
    dir
}

/// How the upstream server answers a path.
#[derive(Clone)]
enum Route {
    /// The bytes, honouring `Range: bytes=N-`.
    File(Vec<u8>),
    /// Like `File`, but the first answer breaks off after this many bytes.
    CutOnce(Vec<u8>, usize),
    /// A 200 text/html login page.
    Html,
}

/// One request the upstream server answered.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    range: Option<u64>,
    sent: u64,
}

struct Upstream {
    url: String,
    hits: Arc<Mutex<Vec<Hit>>>,
}

impl Upstream {
    fn start(routes: Vec<(&str, Route)>) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let routes: HashMap<String, Route> = routes
            .into_iter()
            .map(|(p, r)| (p.to_string(), r))
            .collect();
        let hits = Arc::new(Mutex::new(Vec::<Hit>::new()));
        let log = Arc::clone(&hits);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let path = request.split_whitespace().nth(1).unwrap_or("").to_string();
                let mut range = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                        range = v.trim().trim_end_matches('-').parse::<u64>().ok();
                    }
                }
                let earlier = log
                    .lock()
                    .unwrap()
                    .iter()
                    .filter(|h| h.path == path)
                    .count();
                let (head, body, limit): (String, Vec<u8>, Option<usize>) = match routes.get(&path)
                {
                    None => (
                        "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n".into(),
                        b"not found".to_vec(),
                        None,
                    ),
                    Some(Route::Html) => {
                        let page = b"<!DOCTYPE html><html><body>Sign in to download</body></html>";
                        (
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n",
                                page.len()
                            ),
                            page.to_vec(),
                            None,
                        )
                    }
                    Some(Route::File(bytes) | Route::CutOnce(bytes, _)) => {
                        let cut = match routes.get(&path) {
                            Some(Route::CutOnce(_, n)) if earlier == 0 => Some(*n),
                            _ => None,
                        };
                        match range {
                            Some(start) if start as usize >= bytes.len() => (
                                format!(
                                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\n",
                                    bytes.len()
                                ),
                                Vec::new(),
                                None,
                            ),
                            Some(start) => (
                                format!(
                                    "HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes {start}-{}/{}\r\nContent-Length: {}\r\n",
                                    bytes.len() - 1,
                                    bytes.len(),
                                    bytes.len() - start as usize
                                ),
                                bytes[start as usize..].to_vec(),
                                cut,
                            ),
                            None => (
                                format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n",
                                    bytes.len()
                                ),
                                bytes.clone(),
                                cut,
                            ),
                        }
                    }
                };
                let body = &body[..limit.unwrap_or(body.len()).min(body.len())];
                let _ = stream.write_all(format!("{head}Connection: close\r\n\r\n").as_bytes());
                let sent = stream.write_all(body).map_or(0, |()| body.len() as u64);
                let _ = stream.flush();
                log.lock().unwrap().push(Hit { path, range, sent });
                // Dropping the stream closes it (mid-body for a cut answer).
            }
        });
        Upstream { url, hits }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

/// A registry where alice published the package made by `package`.
fn published(package: impl FnOnce(&Path) -> PathBuf) -> (Registry, Zoo) {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let dir = package(work.path());
    alice.run(&["publish", dir.to_str().unwrap()]).ok();
    let user = Zoo::new(&registry.url, None);
    (registry, user)
}

/// `zoo run NAME photo --json`: the top-5 labels.
fn top_labels(user: &Zoo) -> Vec<String> {
    let photo = repo().join("models/vgg-mini/examples/0-diamond.png");
    let out = user
        .run(&["run", NAME, photo.to_str().unwrap(), "--json"])
        .ok();
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    value[0]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["label"].as_str().unwrap().to_string())
        .collect()
}

/// Nothing installed, no staging dir left, every stored blob intact.
#[track_caller]
fn nothing_installed(user: &Zoo) {
    assert!(user.installed().is_empty(), "{:?}", user.installed());
    let staged: Vec<_> = walk(&user.zoo_home().join("tmp"))
        .into_iter()
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("stage-"))
        })
        .collect();
    assert!(staged.is_empty(), "{staged:?}");
    assert_eq!(blob_problems(user.zoo_home()), Vec::<String>::new());
}

/// An upstream serving `route` at `/VGG_mini.caffemodel`, and that URL.
fn upstream_with(route: Route) -> (Upstream, String) {
    let upstream = Upstream::start(vec![("/VGG_mini.caffemodel", route)]);
    let url = upstream.url("/VGG_mini.caffemodel");
    (upstream, url)
}

/// [`published`] [`sources_package`] of `urls` that name the fixture's
/// caffemodel (its hash), converting to `pin`.
fn published_fixture(urls: &[String], pin: Option<&str>) -> (Registry, Zoo) {
    let sha = sha256(&fixture().caffemodel);
    published(|root| sources_package(root, urls, &sha, pin))
}

fn store_has(user: &Zoo, sha: &str) -> bool {
    user.zoo_home()
        .join(format!("blobs/sha256/{}/{sha}", &sha[..2]))
        .is_file()
}

#[test]
fn a_sources_package_installs_converts_and_classifies() {
    let fixture = fixture();
    let upstream = Upstream::start(vec![(
        "/v/VGG_mini.caffemodel",
        Route::File(fixture.caffemodel.clone()),
    )]);
    let url = upstream.url("/v/VGG_mini.caffemodel");
    let (registry, user) = published_fixture(std::slice::from_ref(&url), Some(&fixture.produced));
    // The package does not carry the weights, and the index does not claim them.
    let entry = registry.index_line(NAME, VERSION);
    let files: Vec<&str> = entry["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(!files.contains(&"weights.safetensors"), "{files:?}");
    let info = user.run(&["info", NAME]).ok();
    assert!(
        info.contains(&url) && info.contains("weights.safetensors") && info.contains("caffe"),
        "{info}"
    );
    // The package's web page says where its weights come from, too.
    let page = zoo_e2e::http(
        "GET",
        &format!("{}/packages/{NAME}", registry.url),
        &[],
        b"",
    );
    let html = String::from_utf8_lossy(&page.body);
    assert!(
        html.contains("Weights from upstream")
            && html.contains(&url)
            && html.contains("caffe conversion"),
        "{html}"
    );

    user.run(&["install", NAME]).ok();
    assert_eq!(user.installed(), [(NAME.into(), VERSION.into())]);
    let installed = user
        .zoo_home()
        .join(format!("packages/{NAME}/{VERSION}/weights.safetensors"));
    assert_eq!(
        sha256(&std::fs::read(&installed).unwrap()),
        fixture.produced
    );
    assert!(store_has(&user, &fixture.produced));
    assert!(store_has(&user, &sha256(&fixture.caffemodel)));
    let labels = top_labels(&user);
    assert_eq!(labels.len(), 5, "{labels:?}");
    assert_eq!(upstream.hits().len(), 1, "{:?}", upstream.hits());
    // `zoo cache gc` keeps what the package uses.
    user.run(&["cache", "gc"]).ok();
    assert!(store_has(&user, &fixture.produced));
    user.run(&["verify", NAME]).ok();

    // An import --like this package carries its weights: no sources kept.
    let work = tempfile::tempdir().unwrap();
    let out = work.path().join("again");
    let installed_dir = user.zoo_home().join(format!("packages/{NAME}/{VERSION}"));
    user.run(&[
        "import",
        "caffe",
        fixture.caffemodel_path.to_str().unwrap(),
        "--like",
        installed_dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ])
    .ok();
    let manifest = std::fs::read_to_string(out.join("zoo.toml")).unwrap();
    assert!(!manifest.contains("model.sources"), "{manifest}");
    assert_eq!(
        sha256(&std::fs::read(out.join("weights.safetensors")).unwrap()),
        fixture.produced
    );
}

#[test]
fn a_hash_mismatch_is_refused_naming_the_url() {
    let fixture = fixture();
    let (_upstream, url) = upstream_with(Route::File(fixture.caffemodel.clone()));
    let wrong = "ab".repeat(32);
    let (_registry, user) =
        published(|root| sources_package(root, std::slice::from_ref(&url), &wrong, None));
    let err = user.run(&["install", NAME]).fails();
    assert!(
        err.contains(&url) && err.contains(&wrong) && err.contains(&sha256(&fixture.caffemodel)),
        "{err}"
    );
    nothing_installed(&user);
    assert!(!store_has(&user, &wrong));
}

#[test]
fn a_truncated_download_is_refused_naming_the_url() {
    let fixture = fixture();
    let half = fixture.caffemodel[..fixture.caffemodel.len() / 2].to_vec();
    let (_upstream, url) = upstream_with(Route::File(half.clone()));
    let (_registry, user) = published_fixture(std::slice::from_ref(&url), None);
    let err = user.run(&["install", NAME]).fails();
    assert!(
        err.contains(&url) && err.contains(&format!("({} bytes)", half.len())),
        "{err}"
    );
    nothing_installed(&user);
}

#[test]
fn a_dead_first_mirror_is_reported_and_the_second_used() {
    let fixture = fixture();
    let upstream = Upstream::start(vec![(
        "/mirror2/VGG_mini.caffemodel",
        Route::File(fixture.caffemodel.clone()),
    )]);
    let dead = upstream.url("/mirror1/VGG_mini.caffemodel");
    let good = upstream.url("/mirror2/VGG_mini.caffemodel");
    let (_registry, user) =
        published_fixture(&[dead.clone(), good.clone()], Some(&fixture.produced));
    let out = user.run(&["install", NAME]);
    assert!(
        out.stderr.contains(&dead) && out.stderr.contains("404"),
        "{}",
        out.stderr
    );
    out.ok();
    assert_eq!(user.installed(), [(NAME.into(), VERSION.into())]);
    let paths: Vec<String> = upstream.hits().into_iter().map(|h| h.path).collect();
    assert_eq!(
        paths,
        [
            "/mirror1/VGG_mini.caffemodel",
            "/mirror2/VGG_mini.caffemodel"
        ]
    );
}

#[test]
fn an_interrupted_download_resumes_with_range() {
    let fixture = fixture();
    let len = fixture.caffemodel.len();
    let (upstream, url) = upstream_with(Route::CutOnce(fixture.caffemodel.clone(), len / 3));
    let (_registry, user) = published_fixture(std::slice::from_ref(&url), Some(&fixture.produced));
    user.run(&["install", NAME]).ok();
    assert_eq!(user.installed(), [(NAME.into(), VERSION.into())]);
    let hits = upstream.hits();
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[0].range, None);
    assert_eq!(hits[1].range, Some((len / 3) as u64), "{hits:?}");
    let total: u64 = hits.iter().map(|h| h.sent).sum();
    assert!(total < 2 * len as u64, "{total} bytes sent for {len}");
    assert_eq!(blob_problems(user.zoo_home()), Vec::<String>::new());
}

#[test]
fn an_html_page_is_refused_naming_the_url() {
    let fixture = fixture();
    let (_upstream, url) = upstream_with(Route::Html);
    let (_registry, user) = published_fixture(std::slice::from_ref(&url), None);
    let err = user.run(&["install", NAME]).fails();
    assert!(err.contains(&url) && err.contains("HTML"), "{err}");
    nothing_installed(&user);
    assert!(!store_has(&user, &sha256(&fixture.caffemodel)));
}

#[test]
fn a_converted_hash_other_than_the_pin_is_refused() {
    let fixture = fixture();
    let (_upstream, url) = upstream_with(Route::File(fixture.caffemodel.clone()));
    let pin = "cd".repeat(32);
    let (_registry, user) = published_fixture(std::slice::from_ref(&url), Some(&pin));
    let err = user.run(&["install", NAME]).fails();
    assert!(
        err.contains("produces_sha256")
            && err.contains(&pin)
            && err.contains(&fixture.produced)
            && err.contains("weights.safetensors"),
        "{err}"
    );
    nothing_installed(&user);
    assert!(!store_has(&user, &fixture.produced));
}

#[test]
fn offline_reinstalls_use_only_the_store() {
    let fixture = fixture();
    let (upstream, url) = upstream_with(Route::File(fixture.caffemodel.clone()));
    let (registry, user) = published_fixture(std::slice::from_ref(&url), Some(&fixture.produced));
    user.run(&["install", NAME]).ok();
    assert_eq!(upstream.hits().len(), 1);

    // The package folder goes, the store stays: the pinned weights are reused.
    user.run(&["uninstall", NAME]).ok();
    assert!(user.installed().is_empty());
    user.run(&["install", "--offline", NAME]).ok();
    assert_eq!(user.installed(), [(NAME.into(), VERSION.into())]);
    // Without the converted weights, the stored caffemodel is converted again.
    user.run(&["uninstall", NAME]).ok();
    let produced = user.zoo_home().join(format!(
        "blobs/sha256/{}/{}",
        &fixture.produced[..2],
        fixture.produced
    ));
    std::fs::remove_file(&produced).unwrap();
    user.run(&["install", "--offline", NAME]).ok();
    assert!(produced.is_file());
    assert_eq!(top_labels(&user).len(), 5);
    assert_eq!(upstream.hits().len(), 1, "{:?}", upstream.hits());

    // A store without the caffemodel: offline names what is missing.
    let fresh = Zoo::new(&registry.url, None);
    fresh.run(&["install", NAME]).ok();
    assert_eq!(upstream.hits().len(), 2);
    fresh.run(&["uninstall", NAME]).ok();
    for blob in [sha256(&fixture.caffemodel), fixture.produced.clone()] {
        std::fs::remove_file(
            fresh
                .zoo_home()
                .join(format!("blobs/sha256/{}/{blob}", &blob[..2])),
        )
        .unwrap();
    }
    let err = fresh.run(&["install", "--offline", NAME]).fails();
    assert!(
        err.contains("offline") && err.contains(SOURCE_FILE) && err.contains(&url),
        "{err}"
    );
    nothing_installed(&fresh);
    assert_eq!(upstream.hits().len(), 2, "{:?}", upstream.hits());
}

#[test]
fn an_upstream_file_that_does_not_fit_the_architecture_is_refused() {
    // A real caffemodel with the right hash, but not VGG-mini's layers.
    let other =
        std::fs::read(repo().join("crates/zoo-caffe/tests/fixtures/net_v1.caffemodel")).unwrap();
    let (_upstream, url) = upstream_with(Route::File(other.clone()));
    let (_registry, user) = published(|root| {
        let dir = sources_package(root, std::slice::from_ref(&url), &sha256(&other), None);
        let manifest = std::fs::read_to_string(dir.join("zoo.toml")).unwrap();
        let size = format!("size = {}", fixture().caffemodel.len());
        std::fs::write(
            dir.join("zoo.toml"),
            manifest.replace(&size, &format!("size = {}", other.len())),
        )
        .unwrap();
        dir
    });
    let err = user.run(&["install", NAME]).fails();
    assert!(
        err.contains("converting")
            && err.contains(SOURCE_FILE)
            && err.contains(&url)
            && err.contains("failed")
            && err.contains("nothing was installed"),
        "{err}"
    );
    nothing_installed(&user);
}

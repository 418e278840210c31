//! Tampering between publish and install (SECURITY.md, "Tampering").
//!
//! One registry, a few published packages, then 36 cases. Each changes a
//! blob, an archive, an index entry or a whole index document after
//! publication, in one of three places:
//!
//! - `disk`: the registry's blob files (bit rot, a broken or hostile storage
//!   backend);
//! - `db`: the registry's database, so the registry itself renders and signs
//!   the changed entry (a compromised registry);
//! - `wire`: a proxy between client and registry (a man in the middle, a
//!   broken mirror or cache, a replay of older documents).
//!
//! Every case must be refused by `zoo install` with a message naming the
//! problem, and leave nothing installed: `packages/` and `tmp/` of ZOO_HOME
//! unchanged, no `.partial` download, every stored blob hashing to its name,
//! and a refused index document not cached. The test prints the table that
//! SECURITY.md shows (`cargo test -p zoo-e2e --test tampering -- --nocapture`).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use zoo_e2e::proxy::{Proxy, http_get};
use zoo_e2e::{Registry, Zoo, blob_problems, installed_state, noise, sha256, walk, write_package};
use zoo_format::archive::{Packed, pack};
use zoo_format::index::IndexEntry;
use zoo_format::signing::{SecretKey, SignedIndex, sign_entry, split_signed};

/// Above the 1 MiB threshold: an external blob.
const BIG: usize = 3 << 19;
/// Seconds a signed index document lives: short, so that documents captured
/// during set-up have expired by the time the replay cases run.
const TTL: u64 = 6;

struct World {
    registry: Registry,
    proxy: Proxy,
    work: tempfile::TempDir,
    alice_key: SecretKey,
    /// Index documents captured along the way (from the registry itself).
    lib_only_1_0: Vec<u8>,
    lib_before_yank: Vec<u8>,
    other_doc: Vec<u8>,
}

/// The `weights.bin` entry of an index entry's file list.
fn weights_file(entry: &mut Value) -> &mut Value {
    let files = entry["files"].as_array_mut().unwrap();
    files
        .iter_mut()
        .find(|f| f["path"] == "weights.bin")
        .unwrap()
}

/// An edit of an index entry that points it at another archive.
fn archive_at(sha256: &str, size: Value) -> impl FnOnce(&mut Value) {
    let sha256 = sha256.to_string();
    move |e| {
        e["archive"]["sha256"] = sha256.into();
        e["archive"]["size"] = size;
    }
}

impl World {
    fn entry(&self, name: &str, version: &str) -> Value {
        self.registry.index_line(name, version)
    }

    fn set_entry(&self, name: &str, version: &str, entry: &Value) {
        self.registry.set_index_line(name, version, entry);
    }

    /// Edits the stored index entry, runs `f`, restores the entry.
    fn with_entry<T>(
        &self,
        name: &str,
        version: &str,
        edit: impl FnOnce(&mut Value),
        f: impl FnOnce() -> T,
    ) -> T {
        let original = self.entry(name, version);
        let mut changed = original.clone();
        edit(&mut changed);
        self.set_entry(name, version, &changed);
        let result = f();
        self.set_entry(name, version, &original);
        result
    }

    /// Replaces the bytes of a stored blob, runs `f`, restores them.
    fn with_blob<T>(&self, sha: &str, bytes: Vec<u8>, f: impl FnOnce() -> T) -> T {
        let path = self.registry.blob_path(sha);
        let original = std::fs::read(&path).unwrap();
        std::fs::write(&path, bytes).unwrap();
        let result = f();
        std::fs::write(&path, original).unwrap();
        result
    }

    fn blob(&self, sha: &str) -> Vec<u8> {
        std::fs::read(self.registry.blob_path(sha)).unwrap()
    }

    /// Stores extra bytes as a blob (what a compromised registry would serve).
    fn store_blob(&self, bytes: &[u8]) -> String {
        let sha = sha256(bytes);
        let path = self.registry.blob_path(&sha);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
        sha
    }

    /// Packs a variant of a package under `work/<tag>/`.
    fn variant(
        &self,
        tag: &str,
        name: &str,
        version: &str,
        deps: &[(&str, &str)],
        files: &[(&str, &[u8])],
    ) -> Packed {
        let root = self.work.path().join(tag);
        let dir = write_package(&root, name, version, deps, files);
        let packed = pack(&dir, &Default::default()).unwrap();
        self.store_blob(&packed.bytes);
        packed
    }

    /// The current signed index document, straight from the registry.
    fn document(&self, path: &str) -> Vec<u8> {
        let (status, body) = http_get(&format!("{}/index/{path}", self.registry.url));
        assert_eq!(status, 200, "{path}");
        body
    }

    fn fresh_client(&self) -> Zoo {
        Zoo::new(&self.proxy.url, None)
    }
}

fn model_files(weights: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("weights.bin", weights.to_vec()),
        ("labels.txt", b"cat\ndog\n".to_vec()),
    ]
}

fn as_refs<'a>(files: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    files.iter().map(|(p, b)| (*p, &b[..])).collect()
}

fn set_up() -> World {
    // The "db" cases edit the database behind the registry's back, as an
    // attacker with access to it would; the index cache (which only drops a
    // document when the registry itself changes the package) is off so that
    // the registry renders and signs what the database now says.
    let registry = Registry::start_with(
        None,
        &["--index-ttl", &TTL.to_string(), "--index-cache-ttl", "0"],
    );
    let proxy = Proxy::start_signed(&registry.url, registry.signing_key());
    let work = tempfile::tempdir().unwrap();
    let alice = registry.user("alice");
    let alice_key = {
        alice.run(&["keygen"]).ok();
        let path = alice.zoo_home().join("signing.key");
        SecretKey::from_file_text(&std::fs::read_to_string(path).unwrap()).unwrap()
    };
    let publish = |dir: PathBuf, sign: bool| {
        let dir = dir.to_str().unwrap().to_string();
        let mut args = vec!["publish", &dir];
        if sign {
            args.push("--sign");
        }
        alice.run(&args).ok();
    };
    let lib1 = write_package(work.path(), "lib", "1.0.0", &[], &[("lib.txt", b"one")]);
    publish(lib1, false);
    let lib_only_1_0 = http_get(&format!("{}/index/3/l/lib", registry.url)).1;
    let lib11 = write_package(work.path(), "lib", "1.1.0", &[], &[("lib.txt", b"one.one")]);
    publish(lib11, false);
    let lib_before_yank = http_get(&format!("{}/index/3/l/lib", registry.url)).1;
    alice.run(&["yank", "lib@1.1.0"]).ok();

    let model = write_package(
        work.path(),
        "model",
        "1.0.0",
        &[("lib", "^1")],
        &as_refs(&model_files(&noise(BIG, 1))),
    );
    publish(model, false);
    let other = write_package(
        work.path(),
        "other",
        "1.0.0",
        &[],
        &as_refs(&[
            ("weights.bin", noise(BIG, 2)),
            ("labels.txt", b"ant\nbee\n".to_vec()),
        ]),
    );
    publish(other, false);
    let signed = write_package(work.path(), "signed", "1.0.0", &[], &[("s.txt", b"signed")]);
    publish(signed, true);
    let other_doc = http_get(&format!("{}/index/ot/he/other", registry.url)).1;
    World {
        registry,
        proxy,
        work,
        alice_key,
        lib_only_1_0,
        lib_before_yank,
        other_doc,
    }
}

/// Index documents cached by the client, by their path under the cache.
fn cached_documents(home: &Path) -> Vec<Vec<u8>> {
    walk(&home.join("index"))
        .into_iter()
        .filter(|p| p.is_file())
        .filter_map(|p| std::fs::read(p).ok())
        .collect()
}

/// The outcome of one case.
struct Outcome {
    case: String,
    place: &'static str,
    refused: bool,
    clean: bool,
    message: String,
}

/// Runs `zoo ARGS` for a case; it must fail with one of `needles` in its
/// error, and leave the store as it was (`served`: a forged document that
/// must not end up cached).
fn attempt(
    client: &Zoo,
    env: &[(&str, &str)],
    args: &[&str],
    needles: &[&str],
    served: Option<&[u8]>,
) -> (bool, bool, String) {
    let home = client.zoo_home();
    let before = installed_state(home);
    let mut cmd = client.command(client.user_home.path(), args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let message = stderr
        .lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("")
        .to_string();
    let refused = !out.status.success() && needles.iter().any(|n| stderr.contains(n));
    let mut problems = blob_problems(home);
    if installed_state(home) != before {
        problems.push("packages/ or tmp/ changed".into());
    }
    if let Some(served) = served
        && cached_documents(home).iter().any(|d| d == served)
    {
        problems.push("the forged index document was cached".into());
    }
    if !refused || !problems.is_empty() {
        eprintln!(
            "zoo {args:?}: success={} problems={problems:?}\n{stderr}",
            out.status.success()
        );
    }
    (refused, problems.is_empty(), message)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Waits until the signature of `document` has expired.
fn wait_until_expired(document: &[u8]) {
    let text = std::str::from_utf8(document).unwrap();
    let expires = split_signed(text).unwrap().1.unwrap().expires;
    while unix_now() <= expires {
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Replaces the first occurrence of `from` in a document's entry lines,
/// keeping the registry's signature line as it was.
fn edit_lines(document: &[u8], from: &str, to: &str) -> Vec<u8> {
    let text = String::from_utf8(document.to_vec()).unwrap();
    assert!(text.contains(from), "{from} not in {text}");
    text.replacen(from, to, 1).into_bytes()
}

#[test]
fn every_tampering_between_publish_and_install_is_refused() {
    let w = set_up();
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut record =
        |case: &str, place: &'static str, (refused, clean, message): (bool, bool, String)| {
            outcomes.push(Outcome {
                case: case.to_string(),
                place,
                refused,
                clean,
                message,
            });
        };
    const CORRUPT: &[&str] = &["is corrupt"];
    const LISTING: &[&str] = &["file listing differs from the registry index"];
    const MANIFEST: &[&str] = &["the archive's zoo.toml has"];
    const REFUSED_INDEX: &[&str] = &["is refused"];

    let model = w.entry("model", "1.0.0");
    let model_archive = model["archive"]["sha256"].as_str().unwrap().to_string();
    let weights = model["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == "weights.bin")
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let other = w.entry("other", "1.0.0");
    let other_archive = other["archive"]["sha256"].as_str().unwrap().to_string();
    let other_weights = other["files"][1]["sha256"].as_str().unwrap().to_string();
    let lib11 = w.entry("lib", "1.1.0");
    let lib1_archive = w.entry("lib", "1.0.0")["archive"]["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    let install_model = |env: &[(&str, &str)], needles: &[&str]| {
        attempt(&w.fresh_client(), env, &["install", "model"], needles, None)
    };

    // --- disk: the registry's stored bytes change -------------------------
    let archive = w.blob(&model_archive);
    let mut flipped = archive.clone();
    flipped[archive.len() / 2] ^= 0x01;
    record(
        "archive: one bit flipped",
        "disk",
        w.with_blob(&model_archive, flipped, || install_model(&[], CORRUPT)),
    );
    record(
        "archive: truncated",
        "disk",
        w.with_blob(
            &model_archive,
            archive[..archive.len() - 7].to_vec(),
            || install_model(&[], CORRUPT),
        ),
    );
    let mut longer = archive.clone();
    longer.extend_from_slice(b"appended");
    record(
        "archive: bytes appended",
        "disk",
        w.with_blob(&model_archive, longer, || install_model(&[], CORRUPT)),
    );
    let blob = w.blob(&weights);
    let mut flipped = blob.clone();
    flipped[12345] ^= 0x80;
    record(
        "external blob: one bit flipped",
        "disk",
        w.with_blob(&weights, flipped, || install_model(&[], CORRUPT)),
    );
    record(
        "external blob: truncated",
        "disk",
        w.with_blob(&weights, blob[..BIG / 2].to_vec(), || {
            install_model(&[], CORRUPT)
        }),
    );
    let mut longer = blob.clone();
    longer.extend_from_slice(&[0; 100]);
    record(
        "external blob: bytes appended",
        "disk",
        w.with_blob(&weights, longer, || install_model(&[], CORRUPT)),
    );
    record(
        "external blob swapped with another package's",
        "disk",
        w.with_blob(&weights, w.blob(&other_weights), || {
            install_model(&[], CORRUPT)
        }),
    );
    record(
        "archive swapped with another package's",
        "disk",
        w.with_blob(&model_archive, w.blob(&other_archive), || {
            install_model(&[], CORRUPT)
        }),
    );
    let lib11_archive = lib11["archive"]["sha256"].as_str().unwrap().to_string();
    record(
        "archive of another version served",
        "disk",
        w.with_blob(&lib1_archive, w.blob(&lib11_archive), || {
            install_model(&[], CORRUPT)
        }),
    );
    let files = model_files(&blob);
    let no_deps = w.variant("no-deps", "model", "1.0.0", &[], &as_refs(&files));
    record(
        "manifest edited inside the archive",
        "disk",
        w.with_blob(&model_archive, no_deps.bytes.clone(), || {
            install_model(&[], CORRUPT)
        }),
    );
    let mut extra = files.clone();
    extra.push(("extra.py", b"import os".to_vec()));
    let with_extra = w.variant(
        "extra",
        "model",
        "1.0.0",
        &[("lib", "^1")],
        &as_refs(&extra),
    );
    record(
        "file added inside the archive",
        "disk",
        w.with_blob(&model_archive, with_extra.bytes.clone(), || {
            install_model(&[], CORRUPT)
        }),
    );

    // --- db: the registry serves (and signs) a changed entry --------------
    let point_at = |packed: &Packed, with_files: bool| {
        let (sha, size, files) = (
            packed.sha256.clone(),
            packed.size,
            serde_json::to_value(&packed.files).unwrap(),
        );
        move |e: &mut Value| {
            e["archive"]["sha256"] = sha.into();
            e["archive"]["size"] = size.into();
            if with_files {
                e["files"] = files;
            }
        }
    };
    record(
        "manifest edited in a new archive, index follows but keeps the deps",
        "db",
        w.with_entry("model", "1.0.0", point_at(&no_deps, true), || {
            install_model(&[], MANIFEST)
        }),
    );
    record(
        "file added to the archive, not to the index's files list",
        "db",
        w.with_entry("model", "1.0.0", point_at(&with_extra, false), || {
            install_model(&[], LISTING)
        }),
    );
    let fewer = w.variant(
        "fewer",
        "model",
        "1.0.0",
        &[("lib", "^1")],
        &as_refs(&files[..1]),
    );
    record(
        "file removed from the archive, not from the index's files list",
        "db",
        w.with_entry("model", "1.0.0", point_at(&fewer, false), || {
            install_model(&[], LISTING)
        }),
    );
    let lib11_files = lib11["files"].clone();
    let lib11_size = lib11["archive"]["size"].clone();
    record(
        "index entry points at another version's archive",
        "db",
        w.with_entry(
            "lib",
            "1.0.0",
            |e| {
                archive_at(&lib11_archive, lib11_size)(e);
                e["files"] = lib11_files;
            },
            || install_model(&[], MANIFEST),
        ),
    );
    record(
        "index: wrong size of an external file",
        "db",
        w.with_entry(
            "model",
            "1.0.0",
            |e| weights_file(e)["size"] = (BIG as u64 - 1).into(),
            || install_model(&[], CORRUPT),
        ),
    );
    record(
        "index: wrong archive size",
        "db",
        w.with_entry(
            "model",
            "1.0.0",
            |e| {
                e["archive"]["size"] = (e["archive"]["size"].as_u64().unwrap() + 1).into();
            },
            || install_model(&[], CORRUPT),
        ),
    );
    let other_size = other["archive"]["size"].clone();
    record(
        "index: archive checksum changed (to another package's archive)",
        "db",
        w.with_entry(
            "model",
            "1.0.0",
            archive_at(&other_archive, other_size),
            || install_model(&[], LISTING),
        ),
    );
    record(
        "index: dependency list altered",
        "db",
        w.with_entry(
            "model",
            "1.0.0",
            |e| e["deps"] = serde_json::json!([]),
            || install_model(&[], MANIFEST),
        ),
    );
    let signed_files: Vec<(&'static str, Vec<u8>)> = vec![("s.txt", b"evil".to_vec())];
    let evil = w.variant("evil", "signed", "1.0.0", &[], &as_refs(&signed_files));
    let install_signed = |env: &[(&str, &str)], needles: &[&str]| {
        attempt(
            &w.fresh_client(),
            env,
            &["install", "signed"],
            needles,
            None,
        )
    };
    record(
        "signed package: archive and index entry replaced together",
        "db",
        w.with_entry("signed", "1.0.0", point_at(&evil, true), || {
            install_signed(&[], &["changed after it was signed"])
        }),
    );
    let require = [("ZOO_REQUIRE_SIGNATURES", "1")];
    record(
        "signed package: signature stripped (signatures required)",
        "db",
        w.with_entry(
            "signed",
            "1.0.0",
            |e| {
                e.as_object_mut().unwrap().remove("signature");
            },
            || install_signed(&require, &["is not signed, and signatures are required"]),
        ),
    );
    let mallory = SecretKey::generate().unwrap();
    let trusting_alice = |needles: &'static [&'static str]| {
        let client = w.fresh_client();
        client
            .run(&[
                "trust",
                "add",
                &w.alice_key.public().to_string(),
                "--name",
                "alice",
            ])
            .ok();
        attempt(&client, &require, &["install", "signed"], needles, None)
    };
    record(
        "signed package: replaced and re-signed by an untrusted key (signatures required)",
        "db",
        w.with_entry(
            "signed",
            "1.0.0",
            |e| {
                point_at(&evil, true)(e);
                let entry: IndexEntry = serde_json::from_value(e.clone()).unwrap();
                e["signature"] = serde_json::to_value(sign_entry(&mallory, &entry)).unwrap();
            },
            || trusting_alice(&["not a trusted publisher key"]),
        ),
    );
    record(
        "signed package: file list altered in the index, signature kept",
        "db",
        w.with_entry(
            "signed",
            "1.0.0",
            |e| e["files"][0]["sha256"] = "0".repeat(64).into(),
            || install_signed(&[], &["changed after it was signed"]),
        ),
    );
    let escaping = "../../../../../../../../tmp/zoo-tampering-escaped";
    record(
        "index: archive checksum made a path (`../…`)",
        "db",
        w.with_entry(
            "model",
            "1.0.0",
            |e| e["archive"]["sha256"] = escaping.into(),
            || install_model(&[], &["is not a sha256"]),
        ),
    );
    record(
        "index: external file checksum made an absolute path (signatures required)",
        "db",
        w.with_entry(
            "model",
            "1.0.0",
            |e| weights_file(e)["sha256"] = "/tmp/zoo-tampering-escaped".into(),
            || install_model(&require, &["is not a sha256"]),
        ),
    );
    assert!(
        !Path::new("/tmp/zoo-tampering-escaped").exists()
            && !Path::new("/tmp/zoo-tampering-escaped.partial").exists(),
        "a digest from the index became a path outside ZOO_HOME"
    );

    // --- wire: a proxy changes or replays index documents -----------------
    let model_path = "/index/mo/de/model";
    let current = w.document("mo/de/model");
    let mut on_wire = |case: &str, forged: Vec<u8>, needles: &[&str]| {
        w.proxy.replace(model_path, forged.clone());
        let result = attempt(
            &w.fresh_client(),
            &[],
            &["install", "model"],
            needles,
            Some(&forged),
        );
        w.proxy.clear();
        record(case, "wire", result);
    };
    on_wire(
        "index: archive checksum changed in transit",
        edit_lines(&current, &model_archive, &other_archive),
        REFUSED_INDEX,
    );
    let size = model["archive"]["size"].as_u64().unwrap();
    on_wire(
        "index: archive size changed in transit",
        edit_lines(
            &current,
            &format!("\"size\":{size}"),
            &format!("\"size\":{}", size + 1),
        ),
        REFUSED_INDEX,
    );
    on_wire(
        "index: dependency list changed in transit",
        edit_lines(&current, "\"req\":\"^1\"", "\"req\":\"^1.1\""),
        REFUSED_INDEX,
    );
    let text = String::from_utf8(current.clone()).unwrap();
    let (lines, _) = split_signed(&text).unwrap();
    on_wire(
        "index: signature line removed",
        lines.as_bytes().to_vec(),
        &["it is not signed"],
    );
    on_wire(
        "index: another package's document served",
        w.other_doc.clone(),
        &["not of `model`"],
    );
    let resigned = SignedIndex::sign(&mallory, "model", u64::MAX / 2, unix_now() + 3600, lines);
    on_wire(
        "index: edited and re-signed with another key",
        format!("{lines}{}", resigned.to_line()).into_bytes(),
        &["the trusted registry key is"],
    );

    let lib_path = "/index/3/l/lib";
    let current_lib = w.document("3/l/lib");
    let mut lib_on_wire = |case: &str, client: &Zoo, forged: Vec<u8>, needles: &[&str]| {
        w.proxy.replace(lib_path, forged.clone());
        let result = attempt(client, &[], &["install", "lib"], needles, Some(&forged));
        w.proxy.clear();
        record(case, "wire", result);
    };
    lib_on_wire(
        "index: yanked flag cleared in transit",
        &w.fresh_client(),
        edit_lines(&current_lib, "\"yanked\":true", "\"yanked\":false"),
        REFUSED_INDEX,
    );
    // A client that has seen the current document (1.1.0 yanked).
    let seen = w.fresh_client();
    seen.run(&["install", "lib"]).ok();
    lib_on_wire(
        "stale index replayed: hides a newer version",
        &seen,
        w.lib_only_1_0.clone(),
        &["older"],
    );
    lib_on_wire(
        "stale index replayed: un-yanks a version",
        &seen,
        w.lib_before_yank.clone(),
        &["older"],
    );
    wait_until_expired(&w.lib_only_1_0);
    lib_on_wire(
        "stale index replayed to a new client after expiry",
        &w.fresh_client(),
        w.lib_only_1_0.clone(),
        &["expired"],
    );
    // A frozen index: the proxy answers 304 to a client whose cached copy
    // has expired.
    let cached = cached_documents(seen.zoo_home())
        .into_iter()
        .find(|d| d.starts_with(b"{\"name\":\"lib\""))
        .unwrap();
    wait_until_expired(&cached);
    w.proxy.not_modified(lib_path);
    let result = attempt(&seen, &[], &["install", "lib"], &["expired"], None);
    w.proxy.clear();
    record(
        "frozen index: 304 Not Modified after the cached copy expired",
        "wire",
        result,
    );

    // Untampered, everything installs (the cases are not refusing everything).
    let client = w.fresh_client();
    client.run(&["install", "model", "signed"]).ok();
    assert_eq!(client.installed().len(), 3);

    println!("| # | where | tampering | refused | nothing installed | error |");
    println!("|---|---|---|---|---|---|");
    for (i, o) in outcomes.iter().enumerate() {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            i + 1,
            o.place,
            o.case,
            if o.refused { "yes" } else { "**NO**" },
            if o.clean { "yes" } else { "**NO**" },
            o.message.replace('|', "\\|")
        );
    }
    let accepted: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.refused || !o.clean)
        .map(|o| o.case.as_str())
        .collect();
    println!("{} cases, {} accepted", outcomes.len(), accepted.len());
    assert!(outcomes.len() >= 20);
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}

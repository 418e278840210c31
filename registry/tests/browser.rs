//! The pages in a real browser: starts the `zoo-registry` binary on a data
//! directory with published packages, checks the DOM headless Chromium
//! builds for the home, search and package pages (`--dump-dom`), and saves
//! phone (390×844) and desktop (1200×900) screenshots to
//! `target/screenshots/`. Chromium comes from the test command's set-up
//! (`cargo xtask test` runs `setup-services`, which installs Debian's
//! `chromium`); without it the test fails, naming what to install (or set
//! `ZOO_CHROMIUM` to a Chromium or Chrome binary).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use zoo_e2e::in_process::{Registry, link, model};
use zoo_registry::auth::Scope;

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ZOO_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
    .find(|candidate| candidate.is_file())
}

/// Runs Chromium headless with `args`, killing it after a minute.
fn chromium(browser: &Path, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium {args:?} did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    reader.join().unwrap()
}

#[tokio::test]
async fn pages_render_in_headless_chromium() {
    let browser = find_chromium().unwrap_or_else(|| {
        panic!(
            "no chromium binary on PATH: run `cargo xtask setup-services` (it installs \
             Debian's chromium), `apt-get install -y chromium`, or set ZOO_CHROMIUM"
        )
    });
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let readme = "# Shape classifier\n\nA **tiny** model card: it tells circles from squares.\n\n\
                  | class | recall |\n|---|---|\n| circle | 0.98 |\n| square | 0.96 |\n\n\
                  <script>document.title = 'pwned'</script>\n";
    // The models' dependency first: the registry refuses unknown ones.
    let published = [
        link(
            "peephole-lstm",
            "0.1.0",
            "An LSTM with peephole connections",
        ),
        model(
            "shape-net",
            "1.0.0",
            "Classifies <b>shapes</b> in 8x8 images",
            readme,
        ),
        model(
            "shape-net",
            "1.2.0",
            "Classifies <b>shapes</b> in 8x8 images",
            readme,
        ),
    ];
    for package in &published {
        let reply = reg.publish(&alice, package).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    }
    let server = zoo_e2e::serve(&reg.data, &[]);
    let url = &server.url;

    let home = chromium(&browser, &["--dump-dom", &format!("{url}/")]);
    assert!(home.contains("Recently published"), "{home}");
    assert!(home.contains("href=\"/packages/shape-net\""), "{home}");
    assert!(home.contains("peephole-lstm"));

    let search = chromium(&browser, &["--dump-dom", &format!("{url}/search?q=shape")]);
    assert!(search.contains("1 package found"), "{search}");
    assert!(
        search.contains("Classifies &lt;b&gt;shapes&lt;/b&gt;"),
        "{search}"
    );

    let package = chromium(
        &browser,
        &["--dump-dom", &format!("{url}/packages/shape-net")],
    );
    assert!(
        package.contains("<title>shape-net 1.2.0 · zoo registry</title>"),
        "{package}"
    );
    assert!(package.contains("zoo install shape-net@1.2.0"));
    assert!(package.contains("<strong>tiny</strong>"));
    assert!(package.contains("<td>circle</td>"));
    assert!(!package.contains("<script"), "README script must stay text");
    assert!(package.contains("synthetic-shapes"));

    let login = chromium(&browser, &["--dump-dom", &format!("{url}/login")]);
    assert!(login.contains("name=\"username\"") && login.contains("type=\"password\""));
    assert!(login.contains("name=\"csrf\""), "{login}");

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    for (page, path) in [("home", "/"), ("package", "/packages/shape-net")] {
        for (device, size) in [("phone", "390,844"), ("desktop", "1200,900")] {
            let file = shots.join(format!("{page}-{device}.png"));
            let _ = std::fs::remove_file(&file);
            chromium(
                &browser,
                &[
                    &format!("--screenshot={}", file.display()),
                    &format!("--window-size={size}"),
                    &format!("{url}{path}"),
                ],
            );
            let png = std::fs::read(&file)
                .unwrap_or_else(|e| panic!("no screenshot at {}: {e}", file.display()));
            assert!(
                png.starts_with(b"\x89PNG") && png.len() > 5_000,
                "{}",
                file.display()
            );
            eprintln!("saved {}", file.display());
        }
    }
}

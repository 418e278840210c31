//! A hostile or broken registry, mirror or network against the real `zoo`
//! (SECURITY.md, "Hostile registries"): index digests that are paths, a
//! signed entry whose file list was changed, tokens sent where they do not
//! belong, endless answers, a registry that never answers, and registry
//! URLs that cannot work.
//!
//! A real `zoo-registry` serves the packages; [`Proxy`] stands in front of
//! it to forge answers and to record what each request carried.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use zoo_e2e::proxy::{Proxy, SeenRequest};
use zoo_e2e::{Registry, Zoo, blob_problems, installed_state, noise, walk, write_package};

/// Above the 1 MiB threshold: an external blob.
const BIG: usize = 3 << 19;

/// A registry with `lib` 1.0.0 (small, unsigned) and `model` 1.0.0 (signed by
/// alice, with a 1.5 MiB external `weights.bin`).
struct World {
    registry: Registry,
    alice: Zoo,
    token: String,
    _work: tempfile::TempDir,
}

fn set_up() -> World {
    let registry = Registry::start_with(None, &["--index-cache-ttl", "0"]);
    let token = registry.add_user("alice");
    let alice = Zoo::new(&registry.url, Some(&token));
    alice.run(&["keygen"]).ok();
    let work = tempfile::tempdir().unwrap();
    let lib = write_package(work.path(), "lib", "1.0.0", &[], &[("lib.txt", b"one")]);
    alice.run(&["publish", lib.to_str().unwrap()]).ok();
    let weights = noise(BIG, 7);
    let model = write_package(
        work.path(),
        "model",
        "1.0.0",
        &[],
        &[("weights.bin", &weights), ("labels.txt", b"cat\n")],
    );
    alice
        .run(&["publish", "--sign", model.to_str().unwrap()])
        .ok();
    World {
        registry,
        alice,
        token,
        _work: work,
    }
}

impl World {
    /// A client that trusts alice's publisher key.
    fn client_trusting_alice(&self, registry: &str) -> Zoo {
        let client = Zoo::new(registry, None);
        let key_file = self.alice.zoo_home().join("signing.key");
        let text = std::fs::read_to_string(key_file).unwrap();
        let key = zoo_format::signing::SecretKey::from_file_text(&text).unwrap();
        client
            .run(&["trust", "add", &key.public().to_string(), "--name", "alice"])
            .ok();
        client
    }
}

/// Runs `zoo ARGS` with extra environment; (success, stderr, seconds).
fn run_with(client: &Zoo, env: &[(&str, &str)], args: &[&str]) -> (bool, String, f64) {
    let mut cmd = client.command(client.user_home.path(), args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        started.elapsed().as_secs_f64(),
    )
}

/// Every path under `dir`, relative to it.
fn tree(dir: &Path) -> Vec<PathBuf> {
    walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().to_path_buf())
        .collect()
}

fn blob_requests(seen: &[SeenRequest]) -> Vec<&SeenRequest> {
    seen.iter()
        .filter(|r| r.path.starts_with("/blobs/"))
        .collect()
}

#[test]
fn digests_that_are_paths_never_reach_the_file_system() {
    let w = set_up();
    // The attacker's targets: a directory next to ZOO_HOME, reached by an
    // absolute "digest" and by a `../` one.
    let outside = tempfile::tempdir().unwrap();
    // In directories that do not exist yet: the store used to create a
    // blob's parent directory before downloading anything.
    let absolute = outside.path().join("abs-dir").join("abs-target");
    let lib = w.registry.index_line("lib", "1.0.0");
    let model = w.registry.index_line("model", "1.0.0");
    let mut archive_abs = lib.clone();
    archive_abs["archive"]["sha256"] = absolute.to_str().unwrap().into();
    let mut file_up = model.clone();
    for file in file_up["files"].as_array_mut().unwrap() {
        if file["path"] == "weights.bin" {
            // blobs/sha256/<fan = "..">/<digest>: `../..` from there is
            // ZOO_HOME's parent, the temp dir that `outside` is in too. The
            // v1 signature covered only the archive, so this passed it.
            file["sha256"] = format!(
                "../../{}/up-dir/up-target",
                outside.path().file_name().unwrap().to_str().unwrap()
            )
            .into();
        }
    }
    let cases = [
        (
            "archive sha256 absolute",
            "lib",
            &lib,
            archive_abs,
            "`archive.sha256`",
        ),
        (
            "external file sha256 with ..",
            "model",
            &model,
            file_up,
            "`files[].sha256`",
        ),
    ];
    for (case, package, original, entry, field) in cases {
        for require in [false, true] {
            w.registry.set_index_line(package, "1.0.0", &entry);
            let client = w.client_trusting_alice(&w.registry.url);
            assert_eq!(client.zoo_home().parent(), outside.path().parent());
            let env: &[(&str, &str)] = if require {
                &[("ZOO_REQUIRE_SIGNATURES", "1")]
            } else {
                &[]
            };
            let (ok, stderr, _) = run_with(&client, env, &["install", package]);
            assert!(
                tree(outside.path()).is_empty(),
                "{case}: written outside ZOO_HOME: {:?}\n{stderr}",
                tree(outside.path())
            );
            assert!(!ok, "{case} (require {require}) installed:\n{stderr}");
            assert!(
                stderr.contains("is not a sha256") && stderr.contains(field),
                "{case}: {stderr}"
            );
            assert!(
                stderr.contains(&format!("index of `{package}`")),
                "{case}: {stderr}"
            );
            assert!(blob_problems(client.zoo_home()).is_empty(), "{case}");
            assert!(installed_state(client.zoo_home()).is_empty(), "{case}");
        }
        w.registry.set_index_line(package, "1.0.0", original);
    }
    let client = w.client_trusting_alice(&w.registry.url);
    let (ok, stderr, _) = run_with(
        &client,
        &[("ZOO_REQUIRE_SIGNATURES", "1")],
        &["install", "model"],
    );
    assert!(ok, "the untampered entry must install: {stderr}");
}

#[test]
fn a_signed_entry_whose_file_list_changed_is_refused_before_any_download() {
    let w = set_up();
    let proxy = Proxy::start_signed(&w.registry.url, w.registry.signing_key());
    let original = w.registry.index_line("model", "1.0.0");
    let mut changed = original.clone();
    for file in changed["files"].as_array_mut().unwrap() {
        if file["path"] == "weights.bin" {
            file["sha256"] = "0".repeat(64).into();
        }
    }
    w.registry.set_index_line("model", "1.0.0", &changed);
    for require in [false, true] {
        let client = w.client_trusting_alice(&proxy.url);
        let env: &[(&str, &str)] = if require {
            &[("ZOO_REQUIRE_SIGNATURES", "1")]
        } else {
            &[]
        };
        let before = proxy.requests().len();
        let (ok, stderr, _) = run_with(&client, env, &["install", "model"]);
        assert!(!ok, "installed:\n{stderr}");
        assert!(stderr.contains("changed after it was signed"), "{stderr}");
        let seen = proxy.requests()[before..].to_vec();
        assert!(
            blob_requests(&seen).is_empty(),
            "downloads before the signature check: {seen:?}"
        );
        assert!(walk(&client.zoo_home().join("blobs")).is_empty());
    }
    w.registry.set_index_line("model", "1.0.0", &original);
}

#[test]
fn a_saved_token_goes_only_to_its_own_registry() {
    let w = set_up();
    let proxy = Proxy::start_signed(&w.registry.url, w.registry.signing_key());
    // Logged in to the registry, then pointed elsewhere with ZOO_REGISTRY.
    let user = Zoo::new(&proxy.url, None);
    user.run(&["login", "--registry", &w.registry.url, "--token", &w.token])
        .ok();
    let config_file = user.zoo_home().join("config.toml");
    let saved = std::fs::read_to_string(&config_file).unwrap();
    assert!(
        saved.contains(&format!("[registries.\"{}\"]", w.registry.url)),
        "{saved}"
    );
    user.run(&["install", "lib"]).ok();
    let (ok, stderr, _) = run_with(&user, &[], &["yank", "lib@1.0.0"]);
    assert!(!ok, "yanked through another registry with the saved token");
    // No token is saved for the proxy's origin, so zoo refuses before asking.
    assert!(
        stderr.contains("needs a token: run `zoo login`"),
        "{stderr}"
    );
    let leaked: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| r.authorization.is_some())
        .collect();
    assert!(leaked.is_empty(), "the token went to {leaked:?}");

    // An older config file (one top-level token) is read the same way: its
    // token belongs to its registry only.
    std::fs::write(
        &config_file,
        format!(
            "registry = \"{}\"\ntoken = \"{}\"\n",
            w.registry.url, w.token
        ),
    )
    .unwrap();
    let before = proxy.requests().len();
    let (ok, _, _) = run_with(&user, &[], &["yank", "lib@1.0.0"]);
    assert!(!ok);
    assert!(
        proxy.requests()[before..]
            .iter()
            .all(|r| r.authorization.is_none())
    );
    // ...and it still works for the registry it was saved for.
    let (ok, stderr, _) = run_with(
        &user,
        &[("ZOO_REGISTRY", &w.registry.url)],
        &["yank", "lib@1.0.0"],
    );
    assert!(ok, "{stderr}");
    // The next login moves it under its origin.
    user.run(&["login", "--registry", &w.registry.url, "--token", &w.token])
        .ok();
    let saved = std::fs::read_to_string(&config_file).unwrap();
    let top_level = saved.split('[').next().unwrap();
    assert!(!top_level.contains("token"), "{saved}");
    assert!(saved.contains(&w.token), "{saved}");
}

#[test]
fn the_token_is_sent_only_where_needed_and_never_to_a_download_host() {
    let w = set_up();
    let downloads = Proxy::start(&w.registry.url);
    let front =
        Proxy::start_with_downloads(&w.registry.url, w.registry.signing_key(), &downloads.url);
    let user = w.client_trusting_alice(&front.url);
    let (ok, stderr, _) = run_with(&user, &[("ZOO_TOKEN", &w.token)], &["install", "model"]);
    assert!(ok, "{stderr}");
    let fetched = downloads.requests();
    assert!(!blob_requests(&fetched).is_empty(), "{fetched:?}");
    assert!(
        fetched.iter().all(|r| r.authorization.is_none()),
        "the download host got the token: {fetched:?}"
    );
    // Anonymous reads (config.json, index documents) carry no token either.
    assert!(front.requests().iter().all(|r| r.authorization.is_none()));
    // Calls that need it carry it, to the registry's own origin.
    let (ok, stderr, _) = run_with(&user, &[("ZOO_TOKEN", &w.token)], &["yank", "lib@1.0.0"]);
    assert!(ok, "{stderr}");
    assert!(
        front
            .requests()
            .iter()
            .any(|r| r.path.ends_with("/yank") && r.authorization.is_some())
    );

    // A config.json pointing downloads elsewhere without the registry's
    // signature (a tampering mirror) is refused before any download.
    let tampering = Proxy::start(&w.registry.url);
    let client = Zoo::new(&tampering.url, Some(&w.token));
    let (ok, stderr, _) = run_with(&client, &[], &["install", "lib"]);
    assert!(!ok);
    assert!(
        stderr.contains("config.json is refused")
            && stderr.contains("not signed by the registry's key"),
        "{stderr}"
    );
    assert!(blob_requests(&tampering.requests()).is_empty());
}

/// Peak resident memory of a running `zoo`, sampled until it exits.
fn run_measuring_peak(client: &Zoo, env: &[(&str, &str)], args: &[&str]) -> (bool, String, u64) {
    let mut cmd = client.command(client.user_home.path(), args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib = line
                .split_whitespace()
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("zoo {args:?} ran for a minute on an endless answer");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    use std::io::Read;
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.success(), stderr, peak_kib * 1024)
}

#[test]
fn endless_index_and_config_answers_are_refused_with_bounded_memory() {
    let w = set_up();
    let proxy = Proxy::start_signed(&w.registry.url, w.registry.signing_key());
    for (path, limit) in [
        ("/index/config.json", "65536 bytes"),
        ("/index/3/l/lib", "8388608 bytes"),
    ] {
        proxy.clear();
        proxy.endless(path);
        let client = Zoo::new(&proxy.url, None);
        let (ok, stderr, peak) = run_measuring_peak(&client, &[], &["install", "lib"]);
        assert!(!ok, "{path}: installed");
        let url = format!("{}{path}", proxy.url);
        assert!(
            stderr.contains(&url) && stderr.contains(limit) && stderr.contains("larger than"),
            "{path}: {stderr}"
        );
        assert!(peak < 150 << 20, "{path}: zoo peaked at {} MiB", peak >> 20);
        println!("endless {path}: refused, peak {} MiB", peak >> 20);
    }
}

#[test]
fn a_registry_that_never_answers_times_out_naming_the_url() {
    let w = set_up();
    let proxy = Proxy::start_signed(&w.registry.url, w.registry.signing_key());
    proxy.silent("/index/3/l/lib");
    let client = Zoo::new(&proxy.url, None);
    let (ok, stderr, seconds) =
        run_with(&client, &[("ZOO_READ_TIMEOUT", "2")], &["install", "lib"]);
    assert!(!ok, "{stderr}");
    assert!(
        stderr.contains(&format!("{}/index/3/l/lib", proxy.url))
            && stderr.contains("no answer within 2 s")
            && stderr.contains("ZOO_READ_TIMEOUT"),
        "{stderr}"
    );
    assert!(seconds < 8.0, "took {seconds:.1} s with a 2 s read timeout");
    println!("silent registry: refused after {seconds:.1} s (read timeout 2 s)");
}

#[test]
fn registry_urls_are_checked_and_an_unreachable_registry_is_explained() {
    let client = Zoo::new("http://127.0.0.1:9", None);
    // No scheme: refused before any request, saying what to write.
    let started = Instant::now();
    let (ok, stderr, _) = run_with(
        &client,
        &[],
        &["search", "x", "--registry", "127.0.0.1:8000"],
    );
    assert!(!ok);
    assert!(
        stderr.contains("has no scheme: write `http://127.0.0.1:8000`")
            && stderr.contains("--registry")
            && !stderr.contains("relative URL"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(2), "it retried");

    // Nothing listens: the message names the URL, where it came from and
    // what to do.
    let port = zoo_e2e::services::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (ok, stderr, _) = run_with(&client, &[("ZOO_REGISTRY", &url)], &["install", "lib"]);
    assert!(!ok);
    assert!(
        stderr.contains(&url)
            && stderr.contains("(from ZOO_REGISTRY) could not be reached")
            && stderr.contains("zoo-registry serve"),
        "{stderr}"
    );
}

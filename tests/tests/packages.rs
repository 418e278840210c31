//! End to end: a real registry on 127.0.0.1, the real `zoo` binary.

use std::path::Path;
use zoo_e2e::{Manifest, Registry, Zoo, noise, sha256, wait_all_ok, write_package};

/// 1.5 MiB: above the 1 MiB threshold, so it travels as an external blob.
const BIG: usize = 3 << 19;

fn project(dir: &Path, deps: &[(&str, &str)]) -> std::path::PathBuf {
    write_package(dir, "app", "0.1.0", deps, &[])
}

#[test]
fn publish_search_info_install_list_verify_gc() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let weights = noise(BIG, 1);
    let beta = write_package(work.path(), "beta", "1.2.0", &[], &[("README.md", b"beta")]);
    let alpha = write_package(
        work.path(),
        "alpha",
        "1.0.0",
        &[("beta", "^1")],
        &[("weights.bin", &weights), ("labels.txt", b"cat\ndog\n")],
    );
    alice.run(&["publish", beta.to_str().unwrap()]).ok();
    let out = alice.run(&["publish", alpha.to_str().unwrap()]).ok();
    assert!(out.contains("uploaded weights.bin"), "{out}");
    assert!(out.contains("published alpha@1.0.0"), "{out}");

    let search: serde_json::Value =
        serde_json::from_str(&alice.run(&["search", "alpha", "--json"]).ok()).unwrap();
    assert_eq!(search["packages"][0]["name"], "alpha");
    // Several words, unquoted as README writes them: each must match.
    let found = alice.run(&["search", "test", "alpha"]).ok();
    assert!(
        found.contains("alpha") && !found.contains("beta"),
        "{found}"
    );
    let info: serde_json::Value =
        serde_json::from_str(&alice.run(&["info", "alpha", "--json"]).ok()).unwrap();
    assert_eq!(info["versions"][0]["version"], "1.0.0");
    assert!(alice.run(&["info", "alpha"]).ok().contains("owners: alice"));

    let user = Zoo::new(&registry.url, None);
    let out = user.run(&["install", "alpha"]).ok();
    assert!(out.contains("installed alpha@1.0.0"), "{out}");
    assert!(out.contains("installed beta@1.2.0"), "{out}");
    assert_eq!(
        user.installed(),
        [
            ("alpha".into(), "1.0.0".into()),
            ("beta".into(), "1.2.0".into())
        ]
    );
    let dir = user.zoo_home().join("packages/alpha/1.0.0");
    assert_eq!(std::fs::read(dir.join("weights.bin")).unwrap(), weights);
    assert_eq!(
        std::fs::read(dir.join("labels.txt")).unwrap(),
        b"cat\ndog\n"
    );
    assert!(
        user.run(&["install", "alpha"])
            .ok()
            .contains("already installed")
    );

    assert!(user.run(&["cache", "verify"]).ok().contains("0 corrupt"));
    user.run(&["uninstall", "alpha"]).ok();
    let gc = user.run(&["cache", "gc"]).ok();
    assert!(gc.contains("removed 2 unused blob(s)"), "{gc}"); // archive + weights
    assert_eq!(user.installed(), [("beta".into(), "1.2.0".into())]);
}

#[test]
fn yanked_versions_are_skipped_except_when_locked() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    for version in ["1.0.0", "1.1.0"] {
        let dir = write_package(
            work.path(),
            "lib",
            version,
            &[],
            &[("v.txt", version.as_bytes())],
        );
        alice.run(&["publish", dir.to_str().unwrap()]).ok();
    }
    // A project locks lib 1.1.0.
    let proj = project(work.path(), &[("lib", "^1")]);
    let first = Zoo::new(&registry.url, None);
    first.run_in(&proj, &["install"]).ok();
    let lock = std::fs::read_to_string(proj.join("zoo.lock")).unwrap();
    assert!(lock.contains("version = \"1.1.0\""), "{lock}");

    alice.run(&["yank", "lib@1.1.0"]).ok();
    let fresh = Zoo::new(&registry.url, None);
    fresh.run(&["install", "lib"]).ok();
    assert_eq!(fresh.installed(), [("lib".into(), "1.0.0".into())]);

    let locked = Zoo::new(&registry.url, None);
    locked.run_in(&proj, &["install"]).ok();
    assert_eq!(locked.installed(), [("lib".into(), "1.1.0".into())]);

    alice.run(&["yank", "--undo", "lib@1.1.0"]).ok();
    let after = Zoo::new(&registry.url, None);
    after.run(&["install", "lib"]).ok();
    assert_eq!(after.installed(), [("lib".into(), "1.1.0".into())]);
}

#[test]
fn impossible_requests_are_explained() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    for (name, version, deps) in [
        ("shared", "1.0.0", vec![]),
        ("shared", "2.0.0", vec![]),
        ("left", "1.0.0", vec![("shared", "^1")]),
        ("right", "1.0.0", vec![("shared", "^2")]),
    ] {
        let dir = write_package(work.path(), name, version, &deps, &[]);
        alice.run(&["publish", dir.to_str().unwrap()]).ok();
    }
    let user = Zoo::new(&registry.url, None);
    let err = user.run(&["install", "left", "right"]).fails();
    for needle in [
        "left",
        "right",
        "shared >=1.0.0, <2.0.0",
        "shared >=2.0.0, <3.0.0",
    ] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    assert!(user.installed().is_empty());
    let err = user.run(&["install", "nonexistent"]).fails();
    assert!(err.contains("`nonexistent` was not found"), "{err}");
}

/// A registry where alice published `model@1.0.0`: `weights.bin` of BIG
/// noise bytes from `seed` (an external blob); returns them too.
fn published_big_model(seed: u64) -> (Registry, Vec<u8>) {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let weights = noise(BIG, seed);
    let files: &[(&str, &[u8])] = &[("weights.bin", &weights)];
    let dir = write_package(work.path(), "model", "1.0.0", &[], files);
    alice.run(&["publish", dir.to_str().unwrap()]).ok();
    (registry, weights)
}

#[test]
fn a_blob_altered_on_the_server_is_refused() {
    let (registry, weights) = published_big_model(2);
    let sha = sha256(&weights);
    let mut altered = weights.clone();
    altered[1000] ^= 0xff;
    std::fs::write(registry.blob_path(&sha), &altered).unwrap();

    let user = Zoo::new(&registry.url, None);
    let err = user.run(&["install", "model"]).fails();
    for needle in ["model@1.0.0", "weights.bin", &sha, &sha256(&altered)] {
        assert!(err.contains(needle), "{needle:?} missing from:\n{err}");
    }
    assert!(user.installed().is_empty());
    let blob_dir = user.zoo_home().join("blobs/sha256").join(&sha[..2]);
    let leftovers: Vec<_> = std::fs::read_dir(&blob_dir)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn an_interrupted_download_resumes_with_range() {
    let (registry, weights) = published_big_model(3);
    let sha = sha256(&weights);
    let half = weights.len() / 2;

    // A partial download with the right first half: only the rest is fetched.
    let user = Zoo::new(&registry.url, None);
    let partial = user
        .zoo_home()
        .join("blobs/sha256")
        .join(&sha[..2])
        .join(format!("{sha}.partial"));
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, &weights[..half]).unwrap();
    let out = user
        .command(user.user_home.path(), &["--verbose", "install", "model"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("resuming model@1.0.0 weights.bin at byte {half}")),
        "{stderr}"
    );
    let installed = user.zoo_home().join("packages/model/1.0.0/weights.bin");
    assert_eq!(std::fs::read(installed).unwrap(), weights);
    assert!(!partial.exists());

    // A partial whose first half is wrong proves the first half is not
    // downloaded again: the hash of the combined file is refused.
    let other = Zoo::new(&registry.url, None);
    let partial = other
        .zoo_home()
        .join("blobs/sha256")
        .join(&sha[..2])
        .join(format!("{sha}.partial"));
    std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
    std::fs::write(&partial, vec![0u8; half]).unwrap();
    let err = other.run(&["install", "model"]).fails();
    assert!(err.contains("weights.bin is corrupt"), "{err}");
    assert!(!partial.exists(), "the bad partial is deleted");
    other.run(&["install", "model"]).ok();
}

#[test]
fn concurrent_installs_share_one_store() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let dep = write_package(
        work.path(),
        "dep",
        "1.0.0",
        &[],
        &[("w.bin", &noise(BIG, 4))],
    );
    let top = write_package(
        work.path(),
        "top",
        "1.0.0",
        &[("dep", "^1")],
        &[("w.bin", &noise(BIG, 5))],
    );
    alice.run(&["publish", dep.to_str().unwrap()]).ok();
    alice.run(&["publish", top.to_str().unwrap()]).ok();

    // Eight processes install into one store at once.
    let user = Zoo::new(&registry.url, None);
    let children: Vec<_> = (0..8)
        .map(|_| user.spawn_in(user.user_home.path(), &["install", "top"]))
        .collect();
    wait_all_ok(children);
    assert_eq!(
        user.installed(),
        [
            ("dep".into(), "1.0.0".into()),
            ("top".into(), "1.0.0".into())
        ]
    );
    let verify = user.run(&["cache", "verify"]).ok();
    assert!(
        verify.contains("checked 4 blobs") && verify.contains("2 installed packages: 0 broken"),
        "{verify}"
    );
    let tmp = std::fs::read_dir(user.zoo_home().join("tmp"))
        .unwrap()
        .count();
    assert_eq!(tmp, 0, "staging dirs are cleaned up");
}

#[test]
fn offline_mode_uses_only_the_store_and_cached_index() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let dir = write_package(
        work.path(),
        "model",
        "1.0.0",
        &[],
        &[("w.bin", &noise(BIG, 6))],
    );
    alice.run(&["publish", dir.to_str().unwrap()]).ok();

    let user = Zoo::new(&registry.url, None);
    let err = user.run(&["install", "--offline", "model"]).fails();
    assert!(
        err.contains("offline: package `model` is not in the cached index"),
        "{err}"
    );

    user.run(&["install", "model"]).ok();
    user.run(&["uninstall", "model"]).ok();
    drop(registry); // the network is gone
    let out = user.run(&["install", "--offline", "model"]).ok();
    assert!(out.contains("installed model@1.0.0"), "{out}");

    user.run(&["uninstall", "model"]).ok();
    user.run(&["cache", "gc"]).ok();
    let mut cmd = user.command(user.user_home.path(), &["install", "model"]);
    let out = cmd.env("ZOO_OFFLINE", "1").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("not in the store") && err.contains("w.bin"),
        "{err}"
    );
}

#[test]
fn publishing_needs_a_valid_token_and_never_overwrites() {
    let registry = Registry::start();
    let alice_token = registry.add_user("alice");
    let bob_token = registry.add_user("bob");
    let work = tempfile::tempdir().unwrap();
    let dir = write_package(work.path(), "thing", "1.0.0", &[], &[]);
    let dir = dir.to_str().unwrap();

    let anonymous = Zoo::new(&registry.url, None);
    let err = anonymous.run(&["publish", dir]).fails();
    assert!(err.contains("needs a token"), "{err}");
    // Yank and owner changes say how to give one too, before any request.
    for args in [
        &["yank", "thing@1.0.0"][..],
        &["owner", "add", "thing", "bob"],
    ] {
        let err = anonymous.run(args).fails();
        assert!(
            err.contains("needs a token: run `zoo login`"),
            "{args:?}: {err}"
        );
    }
    let forger = Zoo::new(&registry.url, Some("zoo_0000000000000000_bogus"));
    let err = forger.run(&["publish", dir]).fails();
    assert!(err.contains("401"), "{err}");

    // `zoo login` refuses a token the registry does not accept, saving
    // nothing, and stores a good one in the (temporary) config dir.
    let alice = Zoo::new(&registry.url, None);
    let login = |token: &str| alice.run(&["login", "--registry", &registry.url, "--token", token]);
    let err = login("zoo_0000000000000000_bogus").fails();
    assert!(
        err.contains("refused this token") && err.contains("nothing was saved"),
        "{err}"
    );
    assert!(
        !std::fs::read_to_string(alice.zoo_home().join("config.toml"))
            .unwrap_or_default()
            .contains("bogus")
    );
    let out = login(&alice_token).ok();
    assert!(out.contains("the token is alice's (scopes: "), "{out}");
    alice.run(&["publish", dir]).ok();
    let err = alice.run(&["publish", dir]).fails();
    assert!(
        err.contains("409") && err.contains("already exists"),
        "{err}"
    );

    let bob = Zoo::new(&registry.url, Some(&bob_token));
    let newer = write_package(work.path(), "thing", "1.1.0", &[], &[]);
    let err = bob.run(&["publish", newer.to_str().unwrap()]).fails();
    assert!(err.contains("403"), "{err}");
    alice.run(&["owner", "add", "thing", "bob"]).ok();
    assert!(alice.run(&["owner", "list", "thing"]).ok().contains("bob"));
    bob.run(&["publish", newer.to_str().unwrap()]).ok();
}

/// A model package as a newcomer meets one: a license, inputs with a shape
/// and preprocessing, outputs with labels, and a metric.
fn model_package(root: &Path, version: &str) -> std::path::PathBuf {
    Manifest::model("shapes", version)
        .description("Classifies shapes")
        .license("MIT OR Apache-2.0")
        .weights(&["weights.safetensors"])
        .builtin("vgg-mini")
        .input("image", &[-1, 3, 32, 32])
        .preprocess(
            "resize = [32, 32]\nchannel_order = \"rgb\"\nmean = [0.5, 0.25, 0.125]\nscale = 2.0",
        )
        .output("prob", Some("labels.txt"))
        .metric("accuracy", "synthetic-shapes (held-out)", 0.911)
        .write_with(
            &root.join(format!("shapes-{version}")),
            &[
                ("labels.txt", b"circle\nsquare\n"),
                ("weights.safetensors", b"weights"),
            ],
        )
}

/// Issue #15: `zoo info` names the license, the inputs and outputs, the
/// metrics, and per version whether it is yanked and who signed it (key id,
/// and whether the user trusts that key) or that it is unsigned; `--json`
/// carries the same.
#[test]
fn info_names_license_io_metrics_and_each_versions_state() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let public = alice.run(&["keygen"]).ok();
    let public = public.lines().last().unwrap().trim().to_string();
    let key_id = public
        .parse::<zoo_format::signing::PublicKey>()
        .unwrap()
        .fingerprint();
    let v1 = model_package(work.path(), "1.0.0");
    alice.run(&["publish", "--sign", v1.to_str().unwrap()]).ok();
    let v2 = model_package(work.path(), "1.1.0");
    alice.run(&["publish", v2.to_str().unwrap()]).ok();
    alice.run(&["yank", "shapes@1.1.0"]).ok();

    let user = Zoo::new(&registry.url, None);
    let out = user.run(&["info", "shapes"]).ok();
    // 1.1.0 is yanked: the package is described by 1.0.0.
    assert!(out.starts_with("shapes 1.0.0 (model)\n"), "{out}");
    assert!(out.contains("license: MIT OR Apache-2.0\n"), "{out}");
    assert!(
        out.contains(
            "inputs:\n  image  shape [?, 3, 32, 32]  f32  preprocess: resize 32x32, rgb, mean [0.5, 0.25, 0.125], scale 2\n"
        ),
        "{out}"
    );
    assert!(
        out.contains("outputs:\n  prob  labels in labels.txt\n"),
        "{out}"
    );
    assert!(
        out.contains("metrics:\n  accuracy = 0.911  (synthetic-shapes (held-out))\n"),
        "{out}"
    );
    let line = |version: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("  {version}  ")))
            .unwrap_or_else(|| panic!("no line for {version}: {out}"))
            .to_string()
    };
    assert!(line("1.1.0").ends_with("  yanked  unsigned"), "{out}");
    assert!(
        line("1.0.0").ends_with(&format!(
            "  not yanked  signed by key {key_id} (not in your trusted keys)"
        )),
        "{out}"
    );
    user.run(&["trust", "add", &public, "--name", "alice"]).ok();
    // Trusting it again under another name says it renames; a name is one line.
    let out = user.run(&["trust", "add", &public, "--name", "Alice"]).ok();
    assert!(
        out.contains("already trusted as \"alice\"; now named \"Alice\""),
        "{out}"
    );
    let err = user
        .run(&["trust", "add", &public, "--name", "al\nice"])
        .fails();
    assert!(err.contains("one line of text"), "{err}");
    user.run(&["trust", "add", &public, "--name", "alice"]).ok();
    let out = user.run(&["info", "shapes"]).ok();
    assert!(
        out.contains(&format!("signed by key {key_id} (trusted: alice)")),
        "{out}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&user.run(&["info", "shapes", "--json"]).ok()).unwrap();
    assert_eq!(json["license"], "MIT OR Apache-2.0");
    assert_eq!(json["inputs"][0]["name"], "image");
    assert_eq!(
        json["inputs"][0]["shape"],
        serde_json::json!([-1, 3, 32, 32])
    );
    assert_eq!(json["inputs"][0]["dtype"], "f32");
    assert_eq!(json["outputs"][0]["labels"], "labels.txt");
    assert_eq!(json["metrics"][0]["value"], 0.911);
    let (newest, older) = (&json["versions"][0], &json["versions"][1]);
    assert_eq!(newest["yanked"], true);
    assert_eq!(newest["signed_by"], serde_json::Value::Null);
    assert_eq!(older["yanked"], false);
    assert_eq!(
        older["signed_by"],
        serde_json::json!({"key": public, "key_id": key_id, "trusted_as": "alice"})
    );
}

#[test]
fn prereleases_and_build_metadata_resolve_as_in_cargo() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    for version in ["0.2.0", "0.3.0-rc.1", "0.3.0-rc.2", "1.0.0+build.5"] {
        let dir = write_package(work.path(), "lib", version, &[], &[]);
        alice.run(&["publish", dir.to_str().unwrap()]).ok();
    }
    // A requirement naming a pre-release picks the newest of its release.
    let user = Zoo::new(&registry.url, None);
    user.run(&["install", "lib@0.3.0-rc.1"]).ok();
    assert_eq!(user.installed(), [("lib".into(), "0.3.0-rc.2".into())]);
    // So does a project's requirement (not only `@=` on the command line).
    let proj = project(work.path(), &[("lib", "^0.3.0-rc.1")]);
    let in_project = Zoo::new(&registry.url, None);
    in_project.run_in(&proj, &["install"]).ok();
    assert_eq!(
        in_project.installed(),
        [("lib".into(), "0.3.0-rc.2".into())]
    );
    // A plain range skips pre-releases and says so when only they fit.
    let err = Zoo::new(&registry.url, None)
        .run(&["install", "lib@^0.3"])
        .fails();
    assert!(err.contains("pre-releases of 0.3.0"), "{err}");
    assert!(err.contains("zoo install lib@=0.3.0-rc.2"), "{err}");
    // Build metadata does not make another version.
    let build = Zoo::new(&registry.url, None);
    build.run(&["install", "lib@=1.0.0"]).ok();
    assert_eq!(build.installed(), [("lib".into(), "1.0.0+build.5".into())]);
    build.run(&["uninstall", "lib@1.0.0"]).ok();
    assert!(build.installed().is_empty());
    // `uninstall NAME@REQ` reads REQ as install does; a full version is
    // exact.
    build.run(&["install", "lib@0.2"]).ok();
    build.run(&["install", "lib@=1.0.0"]).ok();
    let err = build.run(&["uninstall", "lib@^5"]).fails();
    assert!(
        err.contains(
            "no installed version of `lib` matches `^5` (installed: 0.2.0, 1.0.0+build.5)"
        ),
        "{err}"
    );
    assert!(
        build
            .run(&["uninstall", "lib@0.2"])
            .ok()
            .contains("removed lib@0.2.0")
    );
    assert_eq!(build.installed(), [("lib".into(), "1.0.0+build.5".into())]);
    // A yank is said as the registry knows it: canonical name, no build
    // metadata.
    let out = alice.run(&["yank", "LIB@1.0.0+other"]).ok();
    assert!(out.contains("yanked lib@1.0.0"), "{out}");
}

#[test]
fn requests_the_client_can_refuse_before_asking_the_registry() {
    let registry = Registry::start();
    let user = Zoo::new(&registry.url, None);
    let err = user.run(&["install", "lib@0.1", "LIB@0.9"]).fails();
    assert!(err.contains("`lib` is asked for twice"), "{err}");
    let err = user.run(&["info", "lib@0.1.0"]).fails();
    assert!(err.contains("`zoo info lib`"), "{err}");
    let err = user.run(&["search", "lib", "--limit", "0"]).fails();
    assert!(err.contains("1..=100"), "{err}");
    // A project without dependencies installs, with nothing to do.
    let work = tempfile::tempdir().unwrap();
    let proj = project(work.path(), &[]);
    let out = user.run_in(&proj, &["install"]).succeeded();
    assert!(out.stderr.contains("nothing to install"), "{}", out.stderr);
}

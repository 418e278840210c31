//! `zoo` links no libtorch; it starts `zoo-torch` for doctor, run, export and
//! import. These tests pin that split: what each binary links, that
//! arguments, output and exit codes pass through, and the messages when the
//! libtorch half is missing or cannot load libtorch.

use std::process::Command;
use zoo_e2e::{Registry, Zoo, binary, run_command, write_package};

fn needed_libraries(path: &std::path::Path) -> String {
    let out = Command::new("ldd").arg(path).output().expect("running ldd");
    assert!(out.status.success(), "ldd {} failed", path.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn zoo_links_no_libtorch_and_zoo_torch_links_libtorch_cuda() {
    let zoo = needed_libraries(&binary("zoo"));
    assert!(!zoo.contains("libtorch"), "zoo links libtorch:\n{zoo}");
    let engine = needed_libraries(&binary("zoo-torch"));
    // --as-needed would drop it silently and CUDA would report unavailable.
    assert!(engine.contains("libtorch_cuda.so"), "{engine}");
    assert!(engine.contains("libtorch_cpu.so"), "{engine}");
}

#[test]
fn doctor_is_forwarded_with_its_flags() {
    let user = Zoo::new("http://127.0.0.1:9", None);
    let out = user.run(&["doctor", "--json"]).ok();
    let report: serde_json::Value = serde_json::from_str(&out).expect("doctor --json is JSON");
    assert!(
        report["libtorch_version"]
            .as_str()
            .is_some_and(|v| v.starts_with("2.11.0")),
        "{report}"
    );
    let engine = report["engine"].as_str().expect("engine path");
    assert!(engine.ends_with("zoo-torch"), "{engine}");
    assert_eq!(report["zoo_home"].as_str(), user.zoo_home().to_str());
    // Every per-user path, all under ZOO_HOME when it is set.
    let paths = report["paths"].as_array().expect("paths");
    for (what, file) in [
        ("config file", "config.toml"),
        ("trusted keys", "trusted-keys.toml"),
        ("signing key", "signing.key"),
        ("installed packages", "packages"),
    ] {
        let entry = paths
            .iter()
            .find(|p| p["what"] == what)
            .unwrap_or_else(|| panic!("{what} missing: {report}"));
        assert_eq!(
            entry["path"].as_str(),
            user.zoo_home().join(file).to_str(),
            "{what}"
        );
    }
    // Nothing listens on port 9: said, with where the URL came from and
    // what to do; the report itself still succeeds.
    let check = &report["registry_check"];
    assert_eq!(check["state"], "unreachable", "{report}");
    assert_eq!(check["url"], "http://127.0.0.1:9", "{report}");
    let error = check["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("could not be reached") && error.contains("zoo-registry serve"),
        "{error}"
    );
    let text = user.run(&["doctor"]).ok();
    let config = user.zoo_home().join("config.toml");
    assert!(text.contains(&config.display().to_string()), "{text}");
    assert!(text.contains("reachable  no: "), "{text}");
    // A --parity device that cannot be used fails before the report.
    let bad = user.run(&["doctor", "--parity", "gpu"]);
    assert!(!bad.success && bad.stdout.is_empty(), "{}", bad.stdout);
    assert!(
        bad.stderr.contains("invalid device \"gpu\""),
        "{}",
        bad.stderr
    );
}

#[test]
fn doctor_asks_the_registry_and_compares_its_key_with_the_pinned_one() {
    let registry = Registry::start();
    let user = Zoo::new(&registry.url, None);
    let report = |user: &Zoo| -> serde_json::Value {
        serde_json::from_str(&user.run(&["doctor", "--json"]).ok()).expect("doctor --json is JSON")
    };
    let first = report(&user);
    let check = &first["registry_check"];
    assert_eq!(check["state"], "reachable", "{first}");
    let key = check["key"].as_str().expect("the registry offers its key");
    assert!(key.starts_with("ed25519:"), "{first}");
    assert!(check["pinned_key"].is_null(), "{first}");
    // Asking pins nothing and caches nothing.
    assert!(!user.zoo_home().join("trusted-keys.toml").exists());
    let text = user.run(&["doctor"]).ok();
    assert!(text.contains("reachable  yes"), "{text}");
    assert!(text.contains("not pinned yet"), "{text}");

    user.run(&["trust", "registry", key]).ok();
    assert_eq!(report(&user)["registry_check"]["pinned_key"], key);
    assert!(
        user.run(&["doctor"])
            .ok()
            .contains(&format!("{key} pinned"))
    );

    let stranger = Zoo::new(&registry.url, None);
    let other_key = stranger.run(&["keygen"]).ok();
    let other_key = other_key.lines().last().unwrap_or_default().trim();
    stranger.run(&["trust", "registry", other_key]).ok();
    let text = stranger.run(&["doctor"]).ok();
    assert!(
        text.contains(&format!("DIFFERS from the pinned {other_key}")),
        "{text}"
    );

    let offline = Zoo::new(&registry.url, None);
    let cwd = std::env::current_dir().unwrap();
    let out = run_command(
        offline
            .command(&cwd, &["doctor", "--json"])
            .env("ZOO_OFFLINE", "1"),
    )
    .ok();
    let json: serde_json::Value = serde_json::from_str(&out).expect("doctor --json is JSON");
    assert_eq!(json["registry_check"]["state"], "offline", "{json}");
}

/// Publishes `tool@1.0.0` (a function package: not runnable, so `zoo run`
/// answers "not a model package" once it has chosen it) and installs it.
fn installed_tool() -> (Registry, Zoo) {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let dir = write_package(work.path(), "tool", "1.0.0", &[], &[("a.txt", b"a")]);
    alice.run(&["publish", dir.to_str().unwrap()]).ok();
    let user = Zoo::new(&registry.url, None);
    user.run(&["install", "tool"]).ok();
    (registry, user)
}

#[test]
fn run_refuses_a_package_verify_marked_broken() {
    let (_registry, user) = installed_tool();
    let installed = user.zoo_home().join("packages/tool/1.0.0");
    std::fs::write(installed.join("a.txt"), b"A").unwrap();
    let err = user.run(&["cache", "verify"]).fails();
    assert!(err.contains("marked broken"), "{err}");
    let err = user.run(&["run", "tool"]).fails();
    assert!(err.contains("tool@1.0.0 is broken"), "{err}");
    assert!(err.contains("`a.txt` hashes to"), "{err}");
    assert!(err.contains("zoo install tool@=1.0.0"), "{err}");
    assert!(!err.contains("not a model package"), "{err}");
    let out = user.zoo_home().join("tool.pt");
    let err = user
        .run(&["export", "torchscript", "tool", "-o", out.to_str().unwrap()])
        .fails();
    assert!(err.contains("tool@1.0.0 is broken"), "{err}");
    user.run(&["install", "tool@=1.0.0"]).ok();
    let err = user.run(&["run", "tool"]).fails();
    assert!(err.contains("not a model package"), "{err}");
}

#[test]
fn a_folder_named_like_an_installed_package_does_not_shadow_it() {
    let (_registry, user) = installed_tool();
    let cwd = tempfile::tempdir().unwrap();
    let folder = cwd.path().join("tool");
    std::fs::create_dir(&folder).unwrap();
    let installed = user.zoo_home().join("packages/tool/1.0.0");

    // A bare name is the installed package (the folder has no zoo.toml).
    let out = run_command(&mut user.command(cwd.path(), &["-v", "run", "tool"]));
    let err = out.fails();
    assert!(
        err.contains(&format!("using tool@1.0.0 at {}", installed.display())),
        "{err}"
    );
    assert!(err.contains("not a model package"), "{err}");
    assert!(!err.contains("has no zoo.toml"), "{err}");

    // A path is the folder.
    let err = run_command(&mut user.command(cwd.path(), &["run", "./tool"])).fails();
    assert!(err.contains("has no zoo.toml"), "{err}");
    let made = write_package(cwd.path(), "local", "0.1.0", &[], &[]);
    std::fs::rename(made, cwd.path().join("local")).unwrap();
    let err = run_command(&mut user.command(cwd.path(), &["-v", "run", "./local"])).fails();
    assert!(err.contains("using the folder ./local"), "{err}");
    assert!(err.contains("not a model package"), "{err}");

    // Not installed, but a package folder of that name is here: the hint.
    let err = run_command(&mut user.command(cwd.path(), &["run", "local"])).fails();
    assert!(err.contains("is not installed"), "{err}");
    assert!(err.contains("write `./local`"), "{err}");
}

#[test]
fn help_and_errors_come_from_the_engine() {
    let user = Zoo::new("http://127.0.0.1:9", None);
    let help = user.run(&["run", "--help"]).ok();
    assert!(help.contains("Usage: zoo run"), "{help}");
    assert!(help.contains("--device"), "{help}");
    let err = user.run(&["run", "no-such-model"]).fails();
    assert!(err.contains("no-such-model"), "{err}");
}

#[test]
fn a_missing_engine_is_named() {
    let user = Zoo::new("http://127.0.0.1:9", None);
    let mut cmd = user.command(user.zoo_home(), &["run", "vgg-mini"]);
    let out = cmd
        .env("ZOO_TORCH", user.zoo_home().join("no-zoo-torch"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("zoo-torch, which was not found"), "{err}");
    assert!(err.contains("no-zoo-torch"), "{err}");
}

#[cfg(unix)]
#[test]
fn libtorch_that_cannot_load_gets_a_zoo_message() {
    use std::os::unix::fs::PermissionsExt;
    let user = Zoo::new("http://127.0.0.1:9", None);
    // What the dynamic loader does when libtorch is gone: a message, exit 127.
    let fake = user.zoo_home().join("zoo-torch");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'zoo-torch: error while loading shared libraries: libtorch_cpu.so' >&2\nexit 127\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = user
        .command(user.zoo_home(), &["doctor"])
        .env("ZOO_TORCH", &fake)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("libtorch could not be loaded"), "{err}");
    assert!(err.contains("cargo xtask setup"), "{err}");
}

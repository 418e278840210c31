//! End to end: the client's own state (issue #15, "What a new user hits").
//! With `ZOO_HOME` set, config.toml, trusted-keys.toml and signing.key live
//! there and nothing is written under HOME; `zoo cache verify` marks the
//! packages a corrupt blob damaged, `zoo install` repairs them, and
//! `zoo install --force` reinstalls an intact one.

use std::path::Path;
use std::process::Command;
use zoo_e2e::{Registry, Zoo, noise, run_command, sha256, walk, write_package};

/// Large enough to be stored as an external blob.
const BIG: usize = 3 << 19;

/// `zoo ARGS` as `user` (its own ZOO_HOME) but with HOME set to `home` and
/// no XDG_CONFIG_HOME, so the default config dir would be `home/.config`.
fn with_home(user: &Zoo, home: &Path, args: &[&str]) -> Command {
    let mut cmd = user.command(home, args);
    cmd.env("HOME", home).env_remove("XDG_CONFIG_HOME");
    cmd
}

#[test]
fn two_zoo_homes_with_one_home_share_no_state() {
    let registry = Registry::start();
    let token = registry.add_user("alice");
    let home = tempfile::tempdir().unwrap();
    let a = Zoo::new(&registry.url, None);
    let b = Zoo::new(&registry.url, None);

    // Login, keygen and a signed publish in A's ZOO_HOME.
    let login = run_command(&mut with_home(
        &a,
        home.path(),
        &["login", "--registry", &registry.url, "--token", &token],
    ))
    .ok();
    let config = a.zoo_home().join("config.toml");
    assert!(
        login.contains(&config.display().to_string()),
        "login did not name {}: {login}",
        config.display()
    );
    assert!(std::fs::read_to_string(&config).unwrap().contains(&token));
    let public = run_command(&mut with_home(&a, home.path(), &["keygen"])).ok();
    let public = public.lines().last().unwrap().trim().to_string();
    assert!(a.zoo_home().join("signing.key").is_file());
    let trusted = std::fs::read_to_string(a.zoo_home().join("trusted-keys.toml")).unwrap();
    assert!(trusted.contains(&public), "{trusted}");
    assert!(
        trusted.contains(&registry.url),
        "the registry key is pinned: {trusted}"
    );
    let work = tempfile::tempdir().unwrap();
    let dir = write_package(work.path(), "timer", "1.0.0", &[], &[("a.txt", b"a")]);
    // The saved token and the signing key are found in ZOO_HOME.
    run_command(&mut with_home(
        &a,
        home.path(),
        &["publish", "--sign", dir.to_str().unwrap()],
    ))
    .ok();

    // B, same HOME, another ZOO_HOME: no token, no key, nothing trusted.
    let dir2 = write_package(work.path(), "timer", "1.1.0", &[], &[("a.txt", b"b")]);
    let err = run_command(&mut with_home(
        &b,
        home.path(),
        &["publish", dir2.to_str().unwrap()],
    ))
    .fails();
    assert!(err.contains("needs a token"), "{err}");
    let list = run_command(&mut with_home(&b, home.path(), &["trust", "list"])).ok();
    assert!(!list.contains(&public), "B trusts A's key: {list}");
    for file in ["config.toml", "signing.key"] {
        assert!(!b.zoo_home().join(file).exists(), "B has {file}");
    }

    // Nothing at all was written under HOME.
    let written = walk(home.path());
    assert!(written.is_empty(), "written under HOME: {written:?}");

    // `zoo config paths` names every place under this ZOO_HOME.
    let paths = run_command(&mut with_home(
        &b,
        home.path(),
        &["config", "paths", "--json"],
    ))
    .ok();
    let paths: serde_json::Value = serde_json::from_str(&paths).unwrap();
    let entries = paths.as_array().unwrap();
    for what in [
        "config file",
        "trusted keys",
        "signing key",
        "installed packages",
    ] {
        let entry = entries
            .iter()
            .find(|e| e["what"] == what)
            .unwrap_or_else(|| panic!("{what} missing from {paths}"));
        let path = Path::new(entry["path"].as_str().unwrap());
        assert!(path.starts_with(b.zoo_home()), "{what}: {}", path.display());
    }
}

#[test]
fn without_zoo_home_the_config_dir_and_home_zoo_are_used() {
    let user = Zoo::new("http://127.0.0.1:9", None);
    let home = tempfile::tempdir().unwrap();
    let mut cmd = with_home(&user, home.path(), &["config", "paths"]);
    let out = run_command(cmd.env_remove("ZOO_HOME")).ok();
    let config = home.path().join(".config/zoo/config.toml");
    let keys = home.path().join(".config/zoo/trusted-keys.toml");
    let store = home.path().join(".zoo");
    for path in [&config, &keys, &store] {
        assert!(out.contains(&path.display().to_string()), "{path:?}: {out}");
    }
}

/// Publishes `model@1.0.0` (a big external file and a small one) and
/// installs it for a fresh user; returns the user and the big file's bytes.
fn installed_model(registry: &Registry) -> (Zoo, Vec<u8>) {
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let weights = noise(BIG, 7);
    let dir = write_package(
        work.path(),
        "model",
        "1.0.0",
        &[],
        &[("weights.bin", &weights), ("notes.txt", b"notes")],
    );
    alice.run(&["publish", dir.to_str().unwrap()]).ok();
    let user = Zoo::new(&registry.url, None);
    user.run(&["install", "model"]).ok();
    (user, weights)
}

#[test]
fn verify_marks_a_package_broken_and_install_repairs_it() {
    let registry = Registry::start();
    let (user, weights) = installed_model(&registry);
    let package = user.zoo_home().join("packages/model/1.0.0");
    let marker = package.join(".zoo/broken");
    let sha = sha256(&weights);

    // The stored blob goes bad (the installed file is the same inode).
    let blob = user
        .zoo_home()
        .join("blobs/sha256")
        .join(&sha[..2])
        .join(&sha);
    let mut altered = weights.clone();
    altered[100] ^= 0xff;
    std::fs::write(&blob, &altered).unwrap();
    let err = user.run(&["cache", "verify"]).fails();
    assert!(err.contains(&format!("corrupt blob {sha}")), "{err}");
    assert!(err.contains("marked broken"), "{err}");
    assert!(err.contains("zoo install model@=1.0.0"), "{err}");
    assert!(marker.is_file(), "no broken marker");
    let list = user.run(&["list"]).ok();
    assert!(list.contains("broken"), "{list}");

    // `zoo install` repairs it rather than saying "already installed".
    let out = user.run(&["install", "model"]).ok();
    assert!(out.contains("repaired model@1.0.0"), "{out}");
    assert_eq!(std::fs::read(package.join("weights.bin")).unwrap(), weights);
    assert!(!marker.exists());
    let clean = user.run(&["cache", "verify"]).ok();
    assert!(clean.contains("0 corrupt"), "{clean}");
    assert!(clean.contains("1 installed packages: 0 broken"), "{clean}");
    let again = user.run(&["install", "model"]).ok();
    assert!(again.contains("already installed model@1.0.0"), "{again}");

    // A damaged small file (from the archive, no blob of its own) too.
    std::fs::write(package.join("notes.txt"), b"NOTES").unwrap();
    let err = user.run(&["cache", "verify"]).fails();
    assert!(err.contains("`notes.txt` hashes to"), "{err}");
    assert!(marker.is_file());
    // Under --json, stdout is one document that carries the problem.
    let json = user.run(&["cache", "verify", "--json"]);
    assert!(!json.success);
    let report: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert!(
        report["error"].as_str().unwrap().contains("marked broken"),
        "{report}"
    );
    let dir = std::path::PathBuf::from(report["broken"][0]["dir"].as_str().unwrap());
    assert_eq!(dir, package, "{report}");
    let out = user.run(&["install", "model@1.0.0"]).ok();
    assert!(out.contains("repaired model@1.0.0"), "{out}");
    assert_eq!(std::fs::read(package.join("notes.txt")).unwrap(), b"notes");
    user.run(&["cache", "verify"]).ok();
}

#[test]
fn install_force_reinstalls_an_intact_package() {
    let registry = Registry::start();
    let (user, weights) = installed_model(&registry);
    let package = user.zoo_home().join("packages/model/1.0.0");
    let stray = package.join("stray.txt");
    std::fs::write(&stray, b"left by hand").unwrap();

    let out = user.run(&["install", "model"]).ok();
    assert!(out.contains("already installed"), "{out}");
    assert!(stray.exists(), "a plain install touched an intact package");

    let out = user.run(&["install", "--force", "model", "--json"]).ok();
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report[0]["fresh"], true, "{report}");
    assert_eq!(report[0]["repaired"], false, "{report}");
    assert!(!stray.exists(), "--force did not replace the directory");
    assert_eq!(std::fs::read(package.join("weights.bin")).unwrap(), weights);
    user.run(&["cache", "verify"]).ok();
}

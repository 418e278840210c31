//! End to end: what a registry admin and a new user hit at the command line
//! (issue #15): closed pipes, error messages, mistyped data directories,
//! token revocation, the index-signing key across export/import, `--json`
//! output and errors, dry runs, completions, the man page, the favicon and
//! plain-text logs.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use zoo_e2e::{Registry, Zoo, binary, run_command, write_package};

/// Runs `cmd` with its stdout closed by the reader right away (what
/// `cmd | head` does once `head` has read enough).
fn with_stdout_closed(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting a binary");
    drop(child.stdout.take());
    child.wait_with_output().expect("waiting for a binary")
}

fn registry_admin(data: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(binary("zoo-registry"));
    cmd.args(args)
        .arg("--data")
        .arg(data)
        .env_remove("ZOO_REGISTRY_DATABASE")
        .env_remove("ZOO_REGISTRY_BLOBS")
        .env_remove("ZOO_REGISTRY_SIGNING_KEY");
    cmd
}

fn publish(user: &Zoo, name: &str, version: &str) {
    let work = tempfile::tempdir().unwrap();
    let dir = write_package(work.path(), name, version, &[], &[("README.md", b"hi")]);
    user.run(&["publish", dir.to_str().unwrap()]).ok();
}

#[test]
fn a_closed_stdout_ends_zoo_and_zoo_registry_quietly() {
    let registry = Registry::start_with(None, &[]);
    let alice = registry.user("alice");
    publish(&alice, "timer", "0.1.0");
    for user in ["bob", "carol", "dave"] {
        registry.add_user(user);
    }

    let mut info = alice.command(alice.user_home.path(), &["info", "timer", "--json"]);
    let mut tokens = registry_admin(registry.data.path(), &["token", "list"]);
    for (what, cmd) in [
        ("zoo info timer --json", &mut info),
        ("zoo-registry token list", &mut tokens),
    ] {
        let out = with_stdout_closed(cmd.env("RUST_BACKTRACE", "1"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what} | head: {:?}\n{stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    }
}

#[test]
fn expected_errors_are_one_message_without_a_backtrace() {
    let registry = Registry::start_with(None, &[]);
    registry.add_user("bob");
    let again = run_command(
        registry_admin(registry.data.path(), &["user", "add", "bob"]).env("RUST_BACKTRACE", "1"),
    );
    let err = again.fails();
    assert!(err.starts_with("error: "), "{err}");
    assert!(
        err.contains("bob") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");

    let zoo = Zoo::new(&registry.url, None);
    let err = run_command(
        zoo.command(zoo.user_home.path(), &["install", "nonexistent"])
            .env("RUST_BACKTRACE", "1"),
    )
    .fails();
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.to_lowercase().contains("backtrace"), "{err}");
}

#[test]
fn a_mistyped_data_dir_is_refused_and_only_init_creates_a_registry() {
    let registry = Registry::start_with(None, &[]);
    registry.add_user("alice");
    let typo = registry.data.path().with_extension("typo");
    for args in [
        &["user", "list"][..],
        &["user", "add", "bob"],
        &["token", "list"],
        &["token", "create", "alice"],
        &["serve", "--bind", "127.0.0.1:0"],
        &["export", "/nonexistent-export-target"],
    ] {
        let err = run_command(&mut registry_admin(&typo, args)).fails();
        assert!(
            err.contains("there is no registry at") && err.contains("--init"),
            "{args:?}: {err}"
        );
        assert!(!typo.exists(), "{args:?} created {}", typo.display());
    }
    let fresh = tempfile::tempdir().unwrap();
    let token = run_command(&mut registry_admin(
        fresh.path(),
        &["user", "add", "bob", "--init"],
    ))
    .ok();
    assert!(token.starts_with("zoo_"), "{token}");
    let users = run_command(&mut registry_admin(fresh.path(), &["user", "list"])).ok();
    assert_eq!(users.trim(), "bob");
}

#[test]
fn token_revoke_takes_the_id_or_the_token_and_never_prints_a_secret() {
    let registry = Registry::start_with(None, &[]);
    let token = registry.add_user("alice");
    let (id, secret) = token["zoo_".len()..].split_once('_').unwrap();
    let data = registry.data.path();

    // A mangled token (one digit short) is refused without being echoed.
    let mangled = &token[..token.len() - 1];
    let err = run_command(&mut registry_admin(data, &["token", "revoke", mangled])).fails();
    assert!(
        !err.contains(&secret[..20]),
        "the secret was printed: {err}"
    );
    assert!(err.contains("16 hex digits"), "{err}");

    let out = run_command(&mut registry_admin(data, &["token", "revoke", &token]));
    assert!(!out.stderr.contains(secret) && !out.stdout.contains(secret));
    out.ok();
    let list = run_command(&mut registry_admin(data, &["token", "list"])).ok();
    let line = list.lines().find(|l| l.starts_with(id)).unwrap();
    assert!(line.contains("revoked"), "{list}");
    run_command(&mut registry_admin(data, &["token", "revoke", id])).ok();
}

#[test]
fn an_export_carries_the_index_signing_key_so_pinned_clients_accept_the_restore() {
    let mut registry = Registry::start_with(None, &[]);
    let alice = registry.user("alice");
    publish(&alice, "first", "0.1.0");
    publish(&alice, "second", "0.1.0");
    // The client pins the registry's key on first use.
    let user = Zoo::new(&registry.url, None);
    user.run(&["install", "first"]).ok();
    let key = run_command(&mut registry_admin(registry.data.path(), &["key", "show"])).ok();

    let backups = tempfile::tempdir().unwrap();
    let dump = backups.path().join("dump");
    let report = run_command(&mut registry_admin(
        registry.data.path(),
        &["export", dump.to_str().unwrap(), "--json"],
    ))
    .ok();
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["signing_key"], key.trim());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dump.join("keys/index-signing.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // An export without the key is refused unless --new-key, before any
    // byte moves, saying what clients must do.
    let keyless = backups.path().join("keyless");
    std::fs::create_dir(&keyless).unwrap();
    std::fs::copy(dump.join("registry.json"), keyless.join("registry.json")).unwrap();
    let scratch = tempfile::tempdir().unwrap();
    let err = run_command(&mut registry_admin(
        scratch.path(),
        &["import", keyless.to_str().unwrap()],
    ))
    .fails();
    assert!(
        err.contains("--new-key") && err.contains("zoo trust registry"),
        "{err}"
    );
    assert!(
        !scratch.path().join("registry.sqlite3").exists(),
        "a refused import left a registry behind"
    );

    // Restored into a new data dir, served at the same URL: the client
    // that pinned the key fetches a document it never saw before.
    let restored = tempfile::tempdir().unwrap();
    let out = run_command(&mut registry_admin(
        restored.path(),
        &["import", dump.to_str().unwrap()],
    ))
    .ok();
    assert!(out.contains(key.trim()), "{out}");
    registry.data = restored;
    registry.restart();
    let out = user.run(&["install", "second"]).ok();
    assert!(out.contains("installed second@0.1.0"), "{out}");
}

#[test]
fn json_output_and_errors_dry_runs_several_uninstalls_completions_and_man() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let mut published = Vec::new();
    for name in ["first", "second"] {
        let dir = write_package(work.path(), name, "0.1.0", &[], &[("README.md", b"hi")]);
        let out = alice
            .run(&["publish", dir.to_str().unwrap(), "--json"])
            .ok();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["name"], name, "{out}");
        assert_eq!(value["version"], "0.1.0", "{out}");
        published.push(value["archive_sha256"].as_str().unwrap().to_string());
    }
    let yank: serde_json::Value =
        serde_json::from_str(&alice.run(&["yank", "first@0.1.0", "--json"]).ok()).unwrap();
    assert_eq!(yank["yanked"], true);
    alice.run(&["yank", "--undo", "first@0.1.0"]).ok();
    let owners: serde_json::Value =
        serde_json::from_str(&alice.run(&["owner", "list", "first", "--json"]).ok()).unwrap();
    assert_eq!(owners, serde_json::json!(["alice"]));

    // An error under --json is JSON on stdout too.
    let failed = alice.run(&["yank", "missing@1.0.0", "--json"]);
    assert!(!failed.success);
    let error: serde_json::Value = serde_json::from_str(&failed.stdout).unwrap();
    assert!(
        error["error"].as_str().unwrap().contains("missing"),
        "{error}"
    );
    assert!(failed.stderr.starts_with("error: "), "{}", failed.stderr);

    let user = Zoo::new(&registry.url, None);
    user.run(&["install", "first", "second"]).ok();
    user.run(&["uninstall", "first", "second@0.1.0"]).ok();
    assert!(user.installed().is_empty());
    let dry: serde_json::Value =
        serde_json::from_str(&user.run(&["cache", "gc", "--dry-run", "--json"]).ok()).unwrap();
    assert_eq!(dry["dry_run"], true);
    let mut would = dry["removed"].as_array().unwrap().clone();
    would.sort_by_key(|v| v.to_string());
    let mut expected: Vec<serde_json::Value> =
        published.iter().map(|s| s.as_str().into()).collect();
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(would, expected);
    let gc: serde_json::Value =
        serde_json::from_str(&user.run(&["cache", "gc", "--json"]).ok()).unwrap();
    assert_eq!(
        gc["removed"].as_array().unwrap().len(),
        2,
        "the dry run removed blobs"
    );
    let verify: serde_json::Value =
        serde_json::from_str(&user.run(&["cache", "verify", "--json"]).ok()).unwrap();
    assert_eq!(verify["checked"], 0);

    let bash = user.run(&["completions", "bash"]).ok();
    assert!(
        bash.contains("complete") && bash.contains("uninstall"),
        "{bash}"
    );
    let man = user.run(&["man"]).ok();
    assert!(man.contains(".TH zoo") && man.contains("install"), "{man}");
    assert!(
        man.contains(".SH ENVIRONMENT") && man.contains("ZOO_HOME"),
        "{man}"
    );
    // The pages the overview's SEE ALSO names exist.
    let install = user.run(&["man", "install"]).ok();
    assert!(install.contains(".TH zoo-install 1"), "{install}");
    assert!(install.contains("lockfile"), "{install}");
    let verify = user.run(&["man", "cache", "verify"]).ok();
    assert!(verify.contains(".TH zoo-cache-verify 1"), "{verify}");
    let err = user.run(&["man", "instal"]).fails();
    assert!(err.contains("`zoo instal` is not a command"), "{err}");
}

#[test]
fn the_registry_serves_a_favicon_and_logs_plain_text_to_a_file() {
    let registry = Registry::start_with(None, &[]);
    let icon = zoo_e2e::http("GET", &format!("{}/favicon.ico", registry.url), &[], b"");
    assert_eq!(icon.status, 200);
    assert_eq!(icon.header("content-type"), "image/svg+xml");
    let log = registry.log();
    assert!(log.contains("INFO"), "{log}");
    assert!(!log.contains('\u{1b}'), "ANSI codes in a log file: {log:?}");
}

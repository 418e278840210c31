//! The real `zoo-registry` binary: admin commands, start-up line, HTTP on a
//! socket, graceful shutdown on SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_zoo-registry");

fn run(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn http_get(addr: &str, path: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn admin_commands_manage_users_and_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    let (ok, token, _) = run(&[
        "user",
        "add",
        "alice",
        "--init",
        "--data",
        data,
        "--scopes",
        "publish-new,yank",
    ]);
    assert!(ok);
    let token = token.trim();
    assert!(
        token.starts_with("zoo_") && token.len() == 4 + 16 + 1 + 64,
        "{token}"
    );
    let id = &token[4..20];

    let (ok, _, err) = run(&["user", "add", "alice", "--data", data]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = run(&["user", "add", "bad name", "--data", data]);
    assert!(!ok && err.contains("not a valid login"), "{err}");
    let (ok, _, err) = run(&["user", "add", "bob", "--data", data, "--scopes", "admin"]);
    assert!(!ok && err.contains("unknown scope `admin`"), "{err}");

    let (ok, second, _) = run(&["token", "create", "alice", "--data", data]);
    assert!(ok && second.trim() != token);
    let (ok, _, err) = run(&["token", "create", "nobody", "--data", data]);
    assert!(!ok && err.contains("nobody"), "{err}");

    let (ok, list, _) = run(&["token", "list", "--data", data]);
    assert!(ok);
    let line = list.lines().find(|l| l.starts_with(id)).unwrap();
    assert!(
        line.contains("alice") && line.contains("active") && line.contains("publish-new,yank"),
        "{line}"
    );
    assert!(!list.contains(&token[21..]), "secrets must never be listed");

    assert!(run(&["token", "revoke", id, "--data", data]).0);
    let (_, list, _) = run(&["token", "list", "--data", data, "--user", "alice"]);
    assert!(
        list.lines()
            .find(|l| l.starts_with(id))
            .unwrap()
            .contains("revoked")
    );
    let (ok, _, err) = run(&["token", "revoke", "0000000000000000", "--data", data]);
    assert!(!ok && err.contains("no token"), "{err}");

    let (ok, users, _) = run(&["user", "list", "--data", data]);
    assert!(ok && users.trim() == "alice", "{users}");
}

#[test]
fn serve_prints_its_address_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let started = Instant::now();
    let mut server = zoo_e2e::serve(&data, &[]);
    let ready = started.elapsed();
    // The address is the first thing it prints.
    assert!(server.before.is_empty(), "{:?}", server.before);
    let (url, addr) = (server.url.clone(), server.addr.clone());
    let addr = addr.as_str();
    eprintln!("zoo-registry was listening after {ready:?}");

    let config = http_get(addr, "/index/config.json");
    assert!(config.starts_with("HTTP/1.1 200"), "{config}");
    assert!(
        config.contains(&format!("\"dl\":\"{url}/blobs/{{sha256}}\"")),
        "{config}"
    );
    let missing = http_get(addr, "/api/v1/packages/none");
    assert!(
        missing.starts_with("HTTP/1.1 404") && missing.contains("\"errors\""),
        "{missing}"
    );
    assert!(data.join("index/config.json").is_file());

    let killed = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "no exit 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

/// One server per data directory: a second `serve` (or an `import`) is
/// refused while the first runs, naming the directory; `gc`, built to run
/// next to a server, is not.
#[test]
fn a_second_server_on_one_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let _first = zoo_e2e::serve(&data, &[]);
    let data_arg = data.to_str().unwrap();
    let (ok, _, err) = run(&["serve", "--data", data_arg, "--bind", "127.0.0.1:0"]);
    assert!(!ok, "a second server started");
    assert!(
        err.contains("another zoo-registry process")
            && err.contains(data_arg)
            && err.contains("serve"),
        "{err}"
    );
    assert!(data.join("tmp").is_dir(), "the first server's tmp is kept");
    let export = dir.path().join("export");
    let (ok, _, err) = run(&["export", export.to_str().unwrap(), "--data", data_arg]);
    assert!(ok, "{err}");
    let (ok, _, err) = run(&["import", export.to_str().unwrap(), "--data", data_arg]);
    assert!(!ok && err.contains("another zoo-registry process"), "{err}");
    let (ok, _, err) = run(&["gc", "--data", data_arg, "--dry-run"]);
    assert!(ok, "{err}");
}

/// Flags whose values would overflow a clock, or make no sense, are
/// refused when parsed, naming the flag.
#[test]
fn out_of_range_flags_are_refused_at_parse_time() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let huge = u64::MAX.to_string();
    for flag in [
        "--index-ttl",
        "--header-timeout",
        "--body-idle-timeout",
        "--upload-grace",
        "--index-cache-ttl",
    ] {
        let (ok, _, err) = run(&["serve", "--init", "--data", data, flag, &huge]);
        assert!(!ok && err.contains(flag), "{flag}: {err}");
        assert!(!err.contains("panicked"), "{flag}: {err}");
    }
    for url in ["ftp://example.org", "not a url", "https://example.org/?q=1"] {
        let (ok, _, err) = run(&["serve", "--init", "--data", data, "--base-url", url]);
        assert!(!ok && err.contains("--base-url"), "{url}: {err}");
    }
    let (ok, _, err) = run(&["gc", "--data", data, "--grace-minutes", &huge]);
    assert!(!ok && err.contains("--grace-minutes"), "{err}");
    let (ok, _, err) = run(&["export", "x", "--data", data, "--new-key"]);
    assert!(!ok && err.contains("--new-key"), "{err}");
}

#[test]
fn a_file_is_not_a_data_directory_and_logins_differ_in_more_than_case() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("afile");
    std::fs::write(&file, b"").unwrap();
    let file = file.to_str().unwrap();
    let (ok, _, err) = run(&["serve", "--init", "--data", file]);
    assert!(!ok && err.contains("is a file, not a directory"), "{err}");
    let (ok, _, err) = run(&["user", "add", "alice", "--init", "--data", file]);
    assert!(!ok && err.contains("is a file, not a directory"), "{err}");

    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    assert!(run(&["user", "add", "alice", "--init", "--data", data]).0);
    let (ok, _, err) = run(&["user", "add", "ALICE", "--data", data]);
    assert!(
        !ok && err.contains("login `ALICE` is taken (case-insensitively) by `alice`"),
        "{err}"
    );
}

/// Imports into a fresh `target` an export of a registry holding `logins`,
/// its listing naming a blob it lacks and then edited by `edit`; checks
/// that the import fails and leaves no registry behind, and returns its
/// stderr.
fn failed_import_of_edited_export(
    logins: &[&str],
    edit: impl FnOnce(&mut serde_json::Value),
) -> String {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    let source = source.to_str().unwrap();
    for (i, login) in logins.iter().enumerate() {
        let mut args = vec!["user", "add", login, "--data", source];
        if i == 0 {
            args.push("--init");
        }
        assert!(run(&args).0, "{login}");
    }
    let export = dir.path().join("export");
    let (ok, _, err) = run(&["export", export.to_str().unwrap(), "--data", source]);
    assert!(ok, "{err}");
    let listing = export.join("registry.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&listing).unwrap()).unwrap();
    json["blobs"] = serde_json::json!([{"sha256": "a".repeat(64), "size": 3}]);
    edit(&mut json);
    std::fs::write(&listing, json.to_string()).unwrap();

    let target = dir.path().join("target");
    let target = target.to_str().unwrap();
    let export = export.to_str().unwrap();
    let (ok, _, err) = run(&["import", export, "--data", target, "--new-key"]);
    assert!(!ok, "the import succeeded: {err}");
    assert!(
        !dir.path().join("target/registry.sqlite3").exists(),
        "{err}"
    );
    let (ok, _, list_err) = run(&["user", "list", "--data", target]);
    assert!(
        !ok && list_err.contains("there is no registry"),
        "{list_err}"
    );
    err
}

/// An import that fails part way (a blob the export lists but lacks, found
/// after the database exists) leaves no database behind, so the target is
/// still "no registry" rather than an empty one a `serve` would start.
#[test]
fn a_failed_import_leaves_no_empty_registry() {
    let err = failed_import_of_edited_export(&["alice"], |_| {});
    assert!(err.contains("aaaaaaaa"), "{err}");
}

/// An export from before logins were unique without regard to case (schema
/// migration 6) is refused naming the pair, before any byte moves (the
/// missing blob is never looked for).
#[test]
fn an_import_with_logins_differing_only_in_case_is_refused_up_front() {
    let err = failed_import_of_edited_export(&["alice", "bob"], |json| {
        json["tables"]["users"][1]["login"] = "Alice".into();
    });
    assert!(
        err.contains("logins that differ only in case: `Alice` and `alice`"),
        "{err}"
    );
    assert!(!err.contains("aaaaaaaa"), "{err}");
}

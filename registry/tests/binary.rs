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

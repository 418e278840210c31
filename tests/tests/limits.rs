//! Issue #17 items 7 and 8 against the real server process: slow clients
//! cannot hold it. Half-sent headers and stalled bodies are cut off by
//! timeouts, connections beyond the cap are closed at once, and slow cargo
//! uploads are streamed to disk (server memory stays flat) with uploads
//! beyond the per-user and global caps refused (429 / 503).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use zoo_e2e::{Registry, wait_for};

fn addr(registry: &Registry) -> String {
    registry.url.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `limit` passes);
/// returns what it sent and how long that took.
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Duration) {
    let start = Instant::now();
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open for {limit:?}: {e}"),
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), start.elapsed())
}

/// Resident memory of a process in KiB (`VmRSS`).
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("a VmRSS line")
}

/// Whether `/healthz` answers 200. A connection closed while the server is
/// still at its cap (it has not yet seen the held ones go) is a "no", not a
/// test failure: callers poll.
fn healthy(registry: &Registry) -> bool {
    let mut stream = match TcpStream::connect(addr(registry)) {
        Ok(stream) => stream,
        Err(_) => return false,
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200")
}

#[test]
fn slow_headers_and_stalled_bodies_are_cut_off() {
    let registry =
        Registry::start_with_env(&[], &["--header-timeout", "1", "--body-idle-timeout", "1"]);
    let addr = addr(&registry);
    // Half a header block, then nothing.
    let mut slow_headers = TcpStream::connect(&addr).unwrap();
    slow_headers
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // An idle connection that never sends a byte.
    let mut idle = TcpStream::connect(&addr).unwrap();
    // A sign-in form whose body stops after 10 of 1000 bytes.
    let mut slow_body = TcpStream::connect(&addr).unwrap();
    slow_body
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
              Content-Length: 1000\r\n\r\nusername=a",
        )
        .unwrap();
    for (what, stream) in [
        ("half-sent headers", &mut slow_headers),
        ("an idle connection", &mut idle),
        ("a stalled POST /login body", &mut slow_body),
    ] {
        let (_, took) = read_until_closed(stream, Duration::from_secs(15));
        assert!(
            took < Duration::from_secs(10),
            "{what}: closed after {took:?}"
        );
    }
    assert!(healthy(&registry), "the server still answers");
}

#[test]
fn connections_beyond_the_cap_are_closed_at_once() {
    let registry = Registry::start_with_env(&[], &["--max-connections", "4"]);
    let addr = addr(&registry);
    let held: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&addr).unwrap()).collect();
    // Give the server time to accept all four.
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(&addr).unwrap();
    let _ = extra.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let (answer, took) = read_until_closed(&mut extra, Duration::from_secs(5));
    assert!(answer.is_empty(), "over the cap yet answered: {answer}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    drop(held);
    assert!(
        wait_for(Duration::from_secs(10), || healthy(&registry)),
        "closing the held connections frees their places"
    );
    assert!(
        registry.log().contains("--max-connections"),
        "{}",
        registry.log()
    );
}

/// Starts `PUT /cargo/api/v1/crates/new` declaring a `.crate` of
/// `crate_len` bytes and sends `sent` of them.
fn start_cargo_upload(addr: &str, token: &str, crate_len: u32, sent: usize) -> TcpStream {
    let json = br#"{"name":"slow","vers":"0.1.0"}"#;
    let total = 4 + json.len() + 4 + crate_len as usize;
    let mut stream = TcpStream::connect(addr).unwrap();
    let head = format!(
        "PUT /cargo/api/v1/crates/new HTTP/1.1\r\nHost: x\r\nAuthorization: {token}\r\n\
         Content-Length: {total}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    stream
        .write_all(&(json.len() as u32).to_le_bytes())
        .unwrap();
    stream.write_all(json).unwrap();
    stream.write_all(&crate_len.to_le_bytes()).unwrap();
    let chunk = vec![7u8; 1 << 20];
    let mut left = sent;
    while left > 0 {
        let n = left.min(chunk.len());
        // A refused upload's connection may close under the client.
        if stream.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n;
    }
    stream
}

fn status_of(stream: &mut TcpStream) -> String {
    let (answer, _) = read_until_closed(stream, Duration::from_secs(20));
    answer.lines().next().unwrap_or("").to_string()
}

#[test]
fn slow_cargo_uploads_are_capped_and_streamed_to_disk() {
    let registry = Registry::start_with_env(
        &[],
        &[
            "--max-uploads-per-user",
            "6",
            "--max-concurrent-uploads",
            "10",
            "--body-idle-timeout",
            "300",
        ],
    );
    let addr = addr(&registry);
    let alice = registry.add_user("alice");
    let bob = registry.add_user("bob");
    let before = rss_kib(registry.pid());
    // 10 uploads of a declared 60 MiB .crate, 16 MiB sent each and held open
    // (160 MiB in flight: buffering bodies in memory would show).
    let mut held = Vec::new();
    for token in std::iter::repeat_n(&alice, 6).chain(std::iter::repeat_n(&bob, 4)) {
        held.push(start_cargo_upload(&addr, token, 60 << 20, 16 << 20));
    }
    // One more each: alice is at her cap (429), the server at its cap (503).
    let mut seventh = start_cargo_upload(&addr, &alice, 60 << 20, 0);
    let refused = status_of(&mut seventh);
    assert!(refused.contains(" 429 "), "{refused}");
    let carol = registry.add_user("carol");
    let mut eleventh = start_cargo_upload(&addr, &carol, 60 << 20, 0);
    let refused = status_of(&mut eleventh);
    assert!(refused.contains(" 503 "), "{refused}");

    let staged = || {
        std::fs::read_dir(registry.data.path().join("tmp"))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    assert!(
        wait_for(Duration::from_secs(60), || staged() >= 150 << 20),
        "the bodies go to temp files: {} bytes staged",
        staged()
    );
    let grown_mib = rss_kib(registry.pid()).saturating_sub(before) / 1024;
    eprintln!("server RSS grew by {grown_mib} MiB with 160 MiB of bodies in flight");
    assert!(
        grown_mib < 80,
        "the server's memory grew by {grown_mib} MiB"
    );

    // Hanging up frees the places and removes the temp files.
    drop(held);
    assert!(
        wait_for(Duration::from_secs(30), || staged() == 0),
        "{} bytes left in tmp/",
        staged()
    );
    let mut again = start_cargo_upload(&addr, &alice, 10, 10);
    let answer = status_of(&mut again);
    assert!(
        answer.contains(" 400 "),
        "admitted again (a bad crate): {answer}"
    );
}

/// Issue #17 item 16 on the configured backends (`ZOO_TEST_BACKEND`): an
/// uploaded blob no version references counts against the quota, is served
/// as an inert attachment, and is deleted after the grace period.
#[test]
fn unreferenced_uploads_hit_the_quota_and_expire() {
    let shared = match zoo_e2e::Backend::from_env() {
        zoo_e2e::Backend::SqliteDisk => None,
        zoo_e2e::Backend::PostgresS3 => Some(zoo_e2e::Shared::start()),
    };
    let registry = Registry::start_with(shared, &["--upload-grace", "2", "--upload-quota", "1000"]);
    let token = format!("Bearer {}", registry.add_user("alice"));
    let put = |bytes: &[u8]| {
        let url = format!("{}/api/v1/blobs/{}", registry.url, zoo_e2e::sha256(bytes));
        zoo_e2e::http("PUT", &url, &[("Authorization", &token)], bytes)
    };
    let first = vec![1u8; 600];
    let second = vec![2u8; 600];
    assert_eq!(put(&first).status, 201);
    let refused = put(&second);
    assert_eq!(refused.status, 413, "{}", refused.text());
    assert!(
        refused.text().contains("--upload-quota"),
        "{}",
        refused.text()
    );

    let blob_url = format!("{}/blobs/{}", registry.url, zoo_e2e::sha256(&first));
    let served = zoo_e2e::http("GET", &blob_url, &[], b"");
    assert_eq!(served.status, 200);
    assert_eq!(served.header("content-disposition"), "attachment");
    assert_eq!(served.header("x-content-type-options"), "nosniff");

    assert!(
        wait_for(Duration::from_secs(30), || {
            zoo_e2e::http("GET", &blob_url, &[], b"").status == 404
        }),
        "the unreferenced upload was not deleted"
    );
    let accepted = put(&second);
    assert_eq!(
        accepted.status,
        201,
        "the quota is free again: {}",
        accepted.text()
    );
}

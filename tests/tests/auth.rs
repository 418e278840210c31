//! Authentication against the real server process: tokens never appear in
//! the server's or the client's logs even at trace level, and an address
//! that presents too many bad tokens is locked out (429 + Retry-After).

use zoo_e2e::{Registry, Zoo, write_package};

#[test]
fn tokens_are_never_logged_even_at_trace_level() {
    let registry = Registry::start_with_env(&[("RUST_LOG", "trace")], &[]);
    let token = registry.add_user("alice");
    let bob_token = registry.add_user("bob");
    let alice = Zoo::new(&registry.url, Some(&token));
    let work = tempfile::tempdir().unwrap();
    let dir = write_package(work.path(), "secretive", "1.0.0", &[], &[]);
    let mut client_output = String::new();
    for args in [
        vec!["-v", "publish", dir.to_str().unwrap()],
        vec!["-v", "yank", "secretive@1.0.0"],
        vec!["-v", "yank", "--undo", "secretive@1.0.0"],
        vec!["-v", "owner", "add", "secretive", "bob"],
        vec!["-v", "owner", "remove", "secretive", "bob"],
    ] {
        let out = alice.run(&args);
        assert!(out.success, "{args:?}: {}", out.stderr);
        client_output.push_str(&out.stdout);
        client_output.push_str(&out.stderr);
    }
    // Refusals log too: a wrong secret for a real id, and a revoked token.
    let forged = format!("{}0000", &token[..token.len() - 4]);
    let out = Zoo::new(&registry.url, Some(&forged)).run(&["-v", "yank", "secretive@1.0.0"]);
    client_output.push_str(&out.stderr);
    assert!(!out.success);
    let bob_id = bob_token.split('_').nth(1).unwrap();
    let revoke = std::process::Command::new(zoo_e2e::binary("zoo-registry"))
        .args(["token", "revoke", bob_id, "--data"])
        .arg(registry.data.path())
        .output()
        .unwrap();
    assert!(revoke.status.success());
    let out = Zoo::new(&registry.url, Some(&bob_token)).run(&["-v", "yank", "secretive@1.0.0"]);
    assert!(!out.success);
    client_output.push_str(&out.stderr);

    let log = registry.log();
    assert!(log.contains("published"), "the log is not verbose: {log}");
    assert!(log.contains("TRACE"), "RUST_LOG=trace had no effect");
    assert!(
        log.contains("refused an invalid or revoked API token"),
        "{log}"
    );
    for secret in [&token, &bob_token, &forged] {
        let secret_part = secret.rsplit('_').next().unwrap();
        assert!(
            !log.contains(secret_part),
            "a token secret is in the server log"
        );
        assert!(
            !client_output.contains(secret_part),
            "a token secret is in zoo's output"
        );
    }
}

#[test]
fn repeated_bad_tokens_from_one_address_get_429_with_retry_after() {
    let registry = Registry::start_with_env(&[], &["--auth-failures-per-minute", "5"]);
    let good = registry.add_user("alice");
    let client = reqwest::blocking::Client::new();
    let yank = |token: &str| {
        client
            .delete(format!("{}/api/v1/packages/none/1.0.0/yank", registry.url))
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    let bad = format!("zoo_{}_{}", "1".repeat(16), "2".repeat(64));
    for _ in 0..5 {
        assert_eq!(yank(&bad).status().as_u16(), 401);
    }
    let reply = yank(&bad);
    assert_eq!(reply.status().as_u16(), 429);
    let retry: u64 = reply.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(yank(&good).status().as_u16(), 429, "valid tokens wait too");
    let health = client
        .get(format!("{}/healthz", registry.url))
        .send()
        .unwrap();
    assert_eq!(
        health.status().as_u16(),
        200,
        "anonymous reads are not limited"
    );
}

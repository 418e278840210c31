//! The authorization matrix for every state-changing operation of both APIs
//! (zoo's `/api/v1/` and Cargo's `/cargo/api/v1/`): no token → 401, revoked
//! token → 401, a token of someone who does not own the package → 403, a
//! token without the operation's scope → 403, and the owner's full token →
//! success (so every refusal is shown to be about the credential). Then the
//! per-address lock-out after repeated bad tokens (429 + Retry-After).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::http::{Method, StatusCode};
use zoo_e2e::in_process::{Registry, Reply, crate_publish_body, link};
use zoo_format::archive::{PackOptions, pack};
use zoo_format::checksum::sha256_hex;
use zoo_registry::auth::Scope;
use zoo_registry::auth::limit::DEFAULT_MAX_FAILURES;
use zoo_registry::db::Namespace;

/// A fresh client address per request, so the matrix's many refusals never
/// add up to a lock-out.
fn next_client() -> SocketAddr {
    static N: AtomicU32 = AtomicU32::new(1);
    let n = N.fetch_add(1, Ordering::Relaxed);
    SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 40000))
}

/// One state-changing request.
struct Op {
    name: &'static str,
    method: Method,
    uri: String,
    body: Vec<u8>,
    /// The scope the operation needs (a token with every other scope is refused).
    scope: Scope,
    /// What the owner's full token gets.
    success: StatusCode,
}

fn owners_body(login: &str) -> Vec<u8> {
    serde_json::json!({ "users": [login] })
        .to_string()
        .into_bytes()
}

fn operations(next_archive: Vec<u8>) -> Vec<Op> {
    let op = |name, method, uri: &str, body, scope, success| Op {
        name,
        method,
        uri: uri.to_string(),
        body,
        scope,
        success,
    };
    let blob = b"a blob for the matrix".to_vec();
    let blob_uri = format!("/api/v1/blobs/{}", sha256_hex(&blob));
    vec![
        op(
            "zoo publish",
            Method::PUT,
            "/api/v1/packages/new",
            next_archive,
            Scope::PublishUpdate,
            StatusCode::CREATED,
        ),
        op(
            "zoo blob upload",
            Method::PUT,
            &blob_uri,
            blob,
            Scope::PublishUpdate,
            StatusCode::CREATED,
        ),
        op(
            "zoo yank",
            Method::DELETE,
            "/api/v1/packages/owned/1.0.0/yank",
            Vec::new(),
            Scope::Yank,
            StatusCode::OK,
        ),
        op(
            "zoo unyank",
            Method::PUT,
            "/api/v1/packages/owned/1.0.0/unyank",
            Vec::new(),
            Scope::Yank,
            StatusCode::OK,
        ),
        op(
            "zoo owner add",
            Method::PUT,
            "/api/v1/packages/owned/owners",
            owners_body("carol"),
            Scope::Owners,
            StatusCode::OK,
        ),
        op(
            "zoo owner remove",
            Method::DELETE,
            "/api/v1/packages/owned/owners",
            owners_body("carol"),
            Scope::Owners,
            StatusCode::OK,
        ),
        op(
            "cargo publish",
            Method::PUT,
            "/cargo/api/v1/crates/new",
            crate_publish_body("owned-crate", "0.1.1"),
            Scope::PublishUpdate,
            StatusCode::OK,
        ),
        op(
            "cargo yank",
            Method::DELETE,
            "/cargo/api/v1/crates/owned-crate/0.1.0/yank",
            Vec::new(),
            Scope::Yank,
            StatusCode::OK,
        ),
        op(
            "cargo unyank",
            Method::PUT,
            "/cargo/api/v1/crates/owned-crate/0.1.0/unyank",
            Vec::new(),
            Scope::Yank,
            StatusCode::OK,
        ),
        op(
            "cargo owner add",
            Method::PUT,
            "/cargo/api/v1/crates/owned-crate/owners",
            owners_body("carol"),
            Scope::Owners,
            StatusCode::OK,
        ),
        op(
            "cargo owner remove",
            Method::DELETE,
            "/cargo/api/v1/crates/owned-crate/owners",
            owners_body("carol"),
            Scope::Owners,
            StatusCode::OK,
        ),
    ]
}

async fn send(reg: &Registry, op: &Op, token: Option<&str>) -> Reply {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    reg.send_from(
        Some(next_client()),
        op.method.clone(),
        &op.uri,
        &headers,
        op.body.clone(),
    )
    .await
}

/// What the database shows of the package and the crate, to prove that a
/// refused request changed nothing.
fn snapshot(reg: &Registry) -> String {
    let store = &reg.state.store;
    let versions: Vec<String> = store
        .versions("owned")
        .unwrap()
        .iter()
        .map(|v| format!("{}:{}", v.entry.vers, v.entry.yanked))
        .collect();
    let owners: Vec<String> = store
        .owners(Namespace::Zoo, "owned")
        .unwrap()
        .into_iter()
        .map(|u| u.login)
        .collect();
    let crates: Vec<String> = store
        .cargo_versions("owned-crate")
        .unwrap()
        .iter()
        .map(|v| format!("{}:{}", v.vers, v.yanked))
        .collect();
    let crate_owners: Vec<String> = store
        .owners(Namespace::Cargo, "owned-crate")
        .unwrap()
        .into_iter()
        .map(|u| u.login)
        .collect();
    format!("{versions:?} {owners:?} {crates:?} {crate_owners:?}")
}

#[tokio::test]
async fn every_operation_refuses_each_wrong_credential() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let setup = reg.publish(&alice, &link("owned", "1.0.0", "d")).await;
    assert_eq!(setup.status, StatusCode::CREATED, "{}", setup.text());
    let setup = reg
        .send(
            Method::PUT,
            "/cargo/api/v1/crates/new",
            &[("authorization", &alice)],
            crate_publish_body("owned-crate", "0.1.0"),
        )
        .await;
    assert_eq!(setup.status, StatusCode::OK, "{}", setup.text());
    reg.token("carol", &[Scope::Yank]);
    let bob = reg.token("bob", &Scope::ALL);
    let revoked = reg.token("alice", &Scope::ALL);
    reg.state
        .store
        .revoke_token(revoked.split('_').nth(1).unwrap())
        .unwrap();

    let next = pack(
        link("owned", "1.0.1", "d").dir.path(),
        &PackOptions::default(),
    )
    .unwrap()
    .bytes;
    let ops = operations(next);
    let before = snapshot(&reg);
    let mut table = Vec::new();
    for op in &ops {
        // Blobs belong to no package: either publish scope may upload them.
        let excluded = if op.name.contains("blob") {
            vec![Scope::PublishNew, Scope::PublishUpdate]
        } else {
            vec![op.scope]
        };
        let others: Vec<Scope> = Scope::ALL
            .into_iter()
            .filter(|s| !excluded.contains(s))
            .collect();
        let lacking = reg.token("alice", &others);
        let not_owner = (!op.name.contains("blob")).then_some(("another user", &bob, 403));
        let rows = [
            Some(("no token", None, 401)),
            Some(("revoked token", Some(&revoked), 401)),
            not_owner.map(|(what, token, status)| (what, Some(token), status)),
            Some(("token without the scope", Some(&lacking), 403)),
        ];
        for (what, token, expected) in rows.into_iter().flatten() {
            let reply = send(&reg, op, token.map(String::as_str)).await;
            table.push(format!("{:<20} {what:<24} {}", op.name, reply.status));
            assert_eq!(
                reply.status.as_u16(),
                expected,
                "{}, {what}: {}",
                op.name,
                reply.text()
            );
            if expected == 401 {
                assert_eq!(reply.header("www-authenticate"), "Bearer", "{}", op.name);
            }
            assert!(
                reply.text().contains("\"detail\""),
                "{}, {what}: {}",
                op.name,
                reply.text()
            );
        }
        assert_eq!(
            snapshot(&reg),
            before,
            "{} changed state when refused",
            op.name
        );
    }
    // The owner's full token succeeds at every operation, in order.
    for op in &ops {
        let reply = send(&reg, op, Some(&alice)).await;
        assert_eq!(reply.status, op.success, "{}: {}", op.name, reply.text());
    }
    assert_ne!(snapshot(&reg), before);
    println!("{}", table.join("\n"));
}

#[tokio::test]
async fn repeated_bad_tokens_lock_the_address_out() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let guesser = SocketAddr::from(([192, 0, 2, 7], 5000));
    let other = SocketAddr::from(([192, 0, 2, 8], 5000));
    let yank = |token: String, client| {
        let reg = &reg;
        async move {
            let auth = format!("Bearer {token}");
            reg.send_from(
                Some(client),
                Method::DELETE,
                "/api/v1/packages/nothing/1.0.0/yank",
                &[("authorization", &auth)],
                Vec::new(),
            )
            .await
        }
    };
    let guess = |i: u32| format!("zoo_{:016x}_{}", i, "ab".repeat(32));
    for i in 0..DEFAULT_MAX_FAILURES {
        let reply = yank(guess(i), guesser).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    let reply = yank(guess(99), guesser).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text()
    );
    let retry: u64 = reply.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After: {retry}");
    // Locked out means locked out: a valid token from there is refused too
    // (else the answer would tell a guesser which guess was right) …
    let reply = yank(alice.clone(), guesser).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    // … and so is the web sign-in form.
    let reply = reg
        .send_from(
            Some(guesser),
            Method::POST,
            "/login",
            &[("content-type", "application/x-www-form-urlencoded")],
            b"username=alice&token=x&csrf=y".to_vec(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(!reply.header("retry-after").is_empty());
    // Other addresses are unaffected: the owner's token reaches the handler
    // (404: no such package).
    let reply = yank(alice.clone(), other).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.text());
    // Anonymous reads are never limited.
    let reply = reg
        .send_from(Some(guesser), Method::GET, "/healthz", &[], Vec::new())
        .await;
    assert_eq!(reply.status, StatusCode::OK);
}

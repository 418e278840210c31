//! A tester's findings, in process: private crates' blobs need a token,
//! parallel uploads stay within the quota, a wrong body for a stored blob
//! changes nothing, the framework's own errors are JSON, and versions may
//! only depend on packages the registry has.

use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;
use zoo_e2e::in_process::{Registry, crate_publish_body, model};
use zoo_format::checksum::sha256_hex;
use zoo_registry::auth::Scope;
use zoo_registry::http::uploads::UploadLimits;

/// The `.crate` bytes of a cargo publish body.
fn crate_bytes(body: &[u8]) -> &[u8] {
    let json = u32::from_le_bytes(body[..4].try_into().unwrap()) as usize;
    &body[4 + json + 4..]
}

#[tokio::test]
async fn a_private_crates_blob_needs_a_token_and_stays_out_of_shared_caches() {
    let reg = Registry::with_cargo_auth_required();
    let alice = reg.token("alice", &Scope::ALL);
    let body = crate_publish_body("secret-sauce", "0.1.0");
    let reply = reg
        .request(
            Method::PUT,
            "/cargo/api/v1/crates/new",
            Some(&alice),
            body.clone(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let blob = format!("/blobs/{}", sha256_hex(crate_bytes(&body)));

    for method in [Method::GET, Method::HEAD] {
        let anonymous = reg.send(method.clone(), &blob, &[], Vec::new()).await;
        assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method}");
    }
    let cached = reg
        .send(Method::GET, &blob, &[("if-none-match", "*")], Vec::new())
        .await;
    assert_eq!(
        cached.status,
        StatusCode::UNAUTHORIZED,
        "a 304 says it exists"
    );
    let bogus = reg
        .request(Method::GET, &blob, Some("zoo_0_0"), Vec::new(), &[])
        .await;
    assert_eq!(bogus.status, StatusCode::UNAUTHORIZED);

    let reply = reg
        .request(Method::GET, &blob, Some(&alice), Vec::new(), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.body, crate_bytes(&body));
    assert!(
        reply.header("cache-control").starts_with("private"),
        "{}",
        reply.header("cache-control")
    );

    // Zoo blobs (here one not referenced yet) stay public and cacheable.
    assert!(
        reg.put_blob(&alice, b"public weights")
            .await
            .status
            .is_success()
    );
    let public = reg
        .get(&format!("/blobs/{}", sha256_hex(b"public weights")))
        .await;
    assert_eq!(public.status, StatusCode::OK);
    assert!(public.header("cache-control").starts_with("public"));
}

#[tokio::test]
async fn crate_blobs_stay_public_when_the_cargo_registry_is() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let body = crate_publish_body("open-sauce", "0.1.0");
    let uri = "/cargo/api/v1/crates/new";
    let reply = reg
        .request(Method::PUT, uri, Some(&alice), body.clone(), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let blob = format!("/blobs/{}", sha256_hex(crate_bytes(&body)));
    let reply = reg.get(&blob).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.header("cache-control").starts_with("public"));
}

/// A blob upload of `bytes` declaring its length, whose body is sent only
/// when the returned sender is used.
fn held_upload(
    reg: &Registry,
    token: &str,
    bytes: &[u8],
) -> (
    tokio::task::JoinHandle<StatusCode>,
    tokio::sync::mpsc::Sender<axum::body::Bytes>,
) {
    let (send, rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let request = Request::builder()
        .method(Method::PUT)
        .uri(format!("/api/v1/blobs/{}", sha256_hex(bytes)))
        .header("authorization", format!("Bearer {token}"))
        .header("content-length", bytes.len())
        .body(Body::from_stream(stream))
        .unwrap();
    let app = reg.app.clone();
    let task = tokio::spawn(async move { app.oneshot(request).await.unwrap().status() });
    (task, send)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_uploads_cannot_exceed_the_quota_together() {
    let reg = Registry::new().with_upload_limits(UploadLimits {
        quota: 100,
        ..UploadLimits::default()
    });
    let alice = reg.token("alice", &Scope::ALL);
    let bodies: Vec<Vec<u8>> = (0..3u8).map(|i| vec![i; 60]).collect();
    let uploads: Vec<_> = bodies
        .iter()
        .map(|bytes| held_upload(&reg, &alice, bytes))
        .collect();
    // Every upload is past its quota check before any body arrives.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut statuses = Vec::new();
    for ((task, send), bytes) in uploads.into_iter().zip(&bodies) {
        // A refused upload has stopped reading: the send may fail.
        let _ = send.send(bytes.clone().into()).await;
        drop(send);
        statuses.push(task.await.unwrap());
    }
    statuses.sort();
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::PAYLOAD_TOO_LARGE,
            StatusCode::PAYLOAD_TOO_LARGE
        ]
    );
    let user = reg.state.store.find_user("alice").unwrap().unwrap();
    // Refused reservations are given back (in the background).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while reg.state.store.pending_upload_bytes(&user).unwrap() != 60 {
        assert!(std::time::Instant::now() < deadline, "reservations kept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The room left is usable again.
    let reply = reg.put_blob(&alice, &[9u8; 40]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
}

#[tokio::test]
async fn an_upload_without_a_length_holds_the_room_left_until_stored() {
    let reg = Registry::new().with_upload_limits(UploadLimits {
        quota: 100,
        ..UploadLimits::default()
    });
    let alice = reg.token("alice", &Scope::ALL);
    // Undeclared: found while streaming, and then given back.
    let big = vec![7u8; 150];
    let uri = format!("/api/v1/blobs/{}", sha256_hex(&big));
    let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(axum::body::Bytes::from(
        big.clone(),
    ))]);
    let request = Request::put(uri)
        .header("authorization", format!("Bearer {alice}"))
        .body(Body::from_stream(stream))
        .unwrap();
    let status = reg.app.clone().oneshot(request).await.unwrap().status();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let user = reg.state.store.find_user("alice").unwrap().unwrap();
    assert_eq!(reg.state.store.pending_upload_bytes(&user).unwrap(), 0);
    let reply = reg.put_blob(&alice, &[1u8; 100]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
}

fn mtime(path: &std::path::Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[tokio::test]
async fn a_wrong_body_for_a_stored_blob_is_refused_and_touches_nothing() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let good = b"the real weights".to_vec();
    let sha = sha256_hex(&good);
    assert_eq!(
        reg.put_blob(&alice, &good).await.status,
        StatusCode::CREATED
    );
    let path = reg.state.blobs.local_path(&sha).unwrap();
    let old = SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();

    let uri = format!("/api/v1/blobs/{sha}");
    let reply = reg
        .request(
            Method::PUT,
            &uri,
            Some(&alice),
            b"forged bytes".to_vec(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(reply.detail().contains("sha256"), "{}", reply.detail());
    assert_eq!(
        mtime(&path),
        old,
        "a wrong body must not keep the blob from gc"
    );
    assert_eq!(std::fs::read(&path).unwrap(), good);

    let reply = reg.put_blob(&alice, &good).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["size"], good.len());
    assert!(mtime(&path) > old + Duration::from_secs(3600));
}

#[tokio::test]
async fn the_frameworks_own_refusals_are_json_too() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let reply = reg.send(Method::DELETE, "/healthz", &[], Vec::new()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(reply.header("allow").contains("GET"), "{:?}", reply.headers);
    assert!(reply.header("content-type").starts_with("application/json"));
    assert!(reply.detail().contains("DELETE"), "{}", reply.detail());

    let huge = vec![b' '; 3 << 20];
    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/x/owners",
            Some(&alice),
            huge,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(reply.detail().contains("larger than"), "{}", reply.text());
}

#[tokio::test]
async fn versions_may_only_depend_on_packages_the_registry_has() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let package = model("needs-lstm", "1.0.0", "a model", "# card");
    let reply = reg.publish(&alice, &package).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.text());
    assert!(
        reply.detail().contains("no package named `peephole-lstm`"),
        "{}",
        reply.detail()
    );
    assert_eq!(
        reg.get("/api/v1/packages/needs-lstm").await.status,
        StatusCode::NOT_FOUND
    );
    reg.publish_model_dependencies(&alice).await;
    let reply = reg.publish(&alice, &package).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
}

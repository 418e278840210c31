//! Issue #17 item 16 (and the upload caps of item 7), in process: blob
//! downloads carry headers that keep browsers from rendering them, a user's
//! unreferenced uploads count against a quota, uploads no version
//! references are deleted after the grace period, and uploads beyond the
//! per-user and global caps are refused while others are in progress.

use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use tower::ServiceExt;
use zoo_e2e::in_process::{Registry, model};
use zoo_format::checksum::sha256_hex;
use zoo_registry::auth::Scope;
use zoo_registry::http::uploads::UploadLimits;

async fn put_blob(
    reg: &Registry,
    token: &str,
    bytes: &[u8],
    declare: bool,
) -> zoo_e2e::in_process::Reply {
    let auth = format!("Bearer {token}");
    let length = bytes.len().to_string();
    let mut headers = vec![("authorization", auth.as_str())];
    if declare {
        headers.push(("content-length", &length));
    }
    let uri = format!("/api/v1/blobs/{}", sha256_hex(bytes));
    reg.send(Method::PUT, &uri, &headers, bytes.to_vec()).await
}

fn tmp_is_empty(reg: &Registry) -> bool {
    std::fs::read_dir(reg.data.join("tmp")).unwrap().count() == 0
}

#[tokio::test]
async fn blob_downloads_are_attachments_a_browser_will_not_render() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let html = b"<html><script>alert(document.cookie)</script></html>";
    assert_eq!(
        put_blob(&reg, &alice, html, true).await.status,
        StatusCode::CREATED
    );
    let reply = reg.get(&format!("/blobs/{}", sha256_hex(html))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, html);
    assert_eq!(reply.header("x-content-type-options"), "nosniff");
    assert_eq!(reply.header("content-disposition"), "attachment");
    let csp = reply.header("content-security-policy");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("sandbox"),
        "{csp}"
    );
}

#[tokio::test]
async fn unreferenced_uploads_count_against_the_users_quota() {
    let reg = Registry::new().with_upload_limits(UploadLimits {
        quota: 100,
        ..UploadLimits::default()
    });
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    // Publishing releases the package's blob from the quota.
    let package = model("quota-model", "1.0.0", "a model", "# card");
    let reply = reg.publish(&alice, &package).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let user = reg.state.store.find_user("alice").unwrap().unwrap();
    assert_eq!(reg.state.store.pending_upload_bytes(&user).unwrap(), 0);

    let first = vec![1u8; 60];
    assert_eq!(
        put_blob(&reg, &alice, &first, true).await.status,
        StatusCode::CREATED
    );
    assert_eq!(reg.state.store.pending_upload_bytes(&user).unwrap(), 60);
    // Over the quota, declared up front or found while streaming.
    for declare in [true, false] {
        let second = vec![2u8; 60];
        let reply = put_blob(&reg, &alice, &second, declare).await;
        assert_eq!(
            reply.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            reply.text()
        );
        let text = reply.text();
        assert!(
            text.contains("upload quota exceeded") && text.contains("quota is 100 bytes"),
            "{text}"
        );
        assert!(
            !reg.state
                .blobs
                .local_path(&sha256_hex(&second))
                .unwrap()
                .exists()
        );
        assert!(tmp_is_empty(&reg));
    }
    // Another user has their own quota.
    let bob = reg.token("bob", &Scope::ALL);
    assert_eq!(
        put_blob(&reg, &bob, &[3u8; 60], true).await.status,
        StatusCode::CREATED
    );
}

#[tokio::test]
async fn uploads_no_version_references_expire_after_the_grace_period() {
    let reg = Registry::new().with_upload_limits(UploadLimits {
        grace: Duration::from_secs(60),
        ..UploadLimits::default()
    });
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    let orphan = b"uploaded, never published".to_vec();
    assert_eq!(
        put_blob(&reg, &alice, &orphan, true).await.status,
        StatusCode::CREATED
    );
    let package = model("kept-model", "1.0.0", "a model", "# card");
    let reply = reg.publish(&alice, &package).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let used = sha256_hex(&package.blobs[0]);
    // A record a crash left behind after the publish committed.
    let user = reg.state.store.find_user("alice").unwrap().unwrap();
    let now = zoo_registry::http::web::session::unix_now();
    reg.state
        .store
        .record_upload(&user, &used, 25, now)
        .unwrap();

    let expire = zoo_registry::http::uploads::expiry::expire_once;
    let early = expire(&reg.state, now + 30).await.unwrap();
    assert!(early.removed.is_empty() && early.released == 0, "{early:?}");
    assert!(
        reg.state
            .blobs
            .local_path(&sha256_hex(&orphan))
            .unwrap()
            .exists()
    );

    let late = expire(&reg.state, now + 120).await.unwrap();
    assert_eq!(late.removed, vec![sha256_hex(&orphan)]);
    assert_eq!(late.released, 1);
    assert!(
        !reg.state
            .blobs
            .local_path(&sha256_hex(&orphan))
            .unwrap()
            .exists()
    );
    assert!(
        reg.state.blobs.local_path(&used).unwrap().exists(),
        "a referenced blob is kept"
    );
    assert_eq!(reg.state.store.pending_upload_bytes(&user).unwrap(), 0);
    let download = reg.get(&format!("/blobs/{}", sha256_hex(&orphan))).await;
    assert_eq!(download.status, StatusCode::NOT_FOUND);
}

/// A blob upload whose body stays open until `finish` is dropped.
fn held_upload(
    reg: &Registry,
    token: &str,
) -> (
    tokio::task::JoinHandle<StatusCode>,
    tokio::sync::mpsc::Sender<axum::body::Bytes>,
) {
    let (finish, rx) = tokio::sync::mpsc::channel::<axum::body::Bytes>(1);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let request = Request::builder()
        .method(Method::PUT)
        .uri(format!("/api/v1/blobs/{}", "0".repeat(64)))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from_stream(stream))
        .unwrap();
    let app = reg.app.clone();
    let task = tokio::spawn(async move { app.oneshot(request).await.unwrap().status() });
    (task, finish)
}

#[tokio::test]
async fn uploads_beyond_the_per_user_and_global_caps_are_refused() {
    let reg = Registry::new().with_upload_limits(UploadLimits {
        max_per_user: 2,
        max_concurrent: 3,
        ..UploadLimits::default()
    });
    let alice = reg.token("alice", &Scope::ALL);
    let bob = reg.token("bob", &Scope::ALL);
    let carol = reg.token("carol", &Scope::ALL);
    let mut held = Vec::new();
    for token in [&alice, &alice, &bob] {
        let (task, finish) = held_upload(&reg, token);
        // Wait until the handler has admitted it (it then waits for the body).
        finish
            .send(axum::body::Bytes::from_static(b"x"))
            .await
            .unwrap();
        held.push((task, finish));
    }
    // Admitted uploads are staging their bodies.
    for _ in 0..500 {
        if std::fs::read_dir(reg.data.join("tmp")).unwrap().count() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(std::fs::read_dir(reg.data.join("tmp")).unwrap().count(), 3);
    let reply = put_blob(&reg, &alice, b"third of alice", true).await;
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        reply.text()
    );
    assert!(reply.header("retry-after").parse::<u64>().is_ok());
    let reply = put_blob(&reg, &carol, b"one too many", true).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.text()
    );
    // Ending the held bodies frees the places.
    for (task, finish) in held {
        drop(finish);
        assert_eq!(
            task.await.unwrap(),
            StatusCode::BAD_REQUEST,
            "sha256 mismatch"
        );
    }
    let reply = put_blob(&reg, &carol, b"now there is room", true).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    assert!(tmp_is_empty(&reg));
}

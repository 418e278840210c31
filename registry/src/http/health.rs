//! `GET /healthz`: 200 `{"status":"ok"}` when the database answers, the
//! data directory takes writes and the bucket (if blobs live in one) answers; 503 `{"status":"unavailable","reason":…}`
//! otherwise, so a load balancer stops sending traffic to a sick instance.

use std::io::Write;
use std::path::Path;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;

use crate::http::AppState;

/// Writes, syncs and removes a small file in `DATA/tmp`.
fn check_writable(data_dir: &Path) -> std::io::Result<()> {
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| std::io::Error::other(e.to_string()))?;
    let path = data_dir
        .join("tmp")
        .join(format!("healthz-{}.part", hex::encode(random)));
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        file.write_all(b"ok")?;
        file.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    result.and(removed)
}

pub async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let unavailable = |reason: String| {
        tracing::warn!("health check failed: {reason}");
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "unavailable", "reason": reason})),
        )
    };
    if let Err(e) = state.db(|s| s.ping()).await {
        return unavailable(format!("the database does not answer: {}", e.detail));
    }
    let data_dir = state.config.data_dir.clone();
    let writable = tokio::task::spawn_blocking(move || check_writable(&data_dir)).await;
    if let Err(reason) = state.blobs.check().await {
        return unavailable(reason);
    }
    match writable {
        Ok(Ok(())) => (StatusCode::OK, Json(serde_json::json!({"status": "ok"}))),
        Ok(Err(e)) => unavailable(format!(
            "the data directory {} is not writable: {e}",
            state.config.data_dir.display()
        )),
        Err(e) => unavailable(format!("the write check did not finish: {e}")),
    }
}

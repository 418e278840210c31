//! Deletes uploaded blobs that no published version referenced within the
//! grace period, on both blob backends, from a periodic task.
//!
//! The race with a publish is the one `ops::gc` describes, on upload
//! records instead of mtimes: a publish refreshes the records of the blobs
//! it is about to reference (`touch_uploads`) before checking they exist,
//! and a record is deleted (then its blob) only if it is still older than
//! the grace period at that moment. Only a publish slower than the grace
//! period between its check and its commit could lose a blob.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::http::{ApiError, AppState};

/// What one sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExpiryReport {
    /// Blobs deleted: uploaded, never referenced, past the grace period.
    pub removed: Vec<String>,
    /// Records dropped because a published version references the blob.
    pub released: usize,
}

/// One sweep at `now` (unix seconds).
pub async fn expire_once(state: &AppState, now: i64) -> Result<ExpiryReport, ApiError> {
    let grace = i64::try_from(state.upload_limits.grace.as_secs()).unwrap_or(i64::MAX);
    let before = now.saturating_sub(grace);
    let stale = state.db(move |s| s.stale_uploads(before)).await?;
    let mut report = ExpiryReport::default();
    if stale.is_empty() {
        return Ok(report);
    }
    let referenced: BTreeSet<String> = state
        .db(crate::ops::referenced_blobs)
        .await?
        .into_keys()
        .collect();
    for sha in stale {
        if referenced.contains(&sha) {
            let one = vec![sha];
            state.db(move |s| s.release_uploads(&one)).await?;
            report.released += 1;
            continue;
        }
        let key = sha.clone();
        if !state.db(move |s| s.expire_upload(&key, before)).await? {
            continue;
        }
        state
            .blobs
            .delete(&sha)
            .await
            .map_err(|e| ApiError::internal(format!("deleting expired upload {sha}: {e}")))?;
        tracing::info!(blob = %sha, "deleted an upload no published version referenced");
        report.removed.push(sha);
    }
    Ok(report)
}

/// How often the sweep runs: a quarter of the grace period, between 1 s and 10 min.
pub fn interval(grace: Duration) -> Duration {
    (grace / 4).clamp(Duration::from_secs(1), Duration::from_secs(600))
}

/// Sweeps forever (spawned by `zoo-registry serve`).
pub async fn run(state: AppState) {
    let every = interval(state.upload_limits.grace);
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = expire_once(&state, crate::http::web::session::unix_now()).await {
            tracing::error!("expiring unreferenced uploads: {}", e.detail);
        }
    }
}

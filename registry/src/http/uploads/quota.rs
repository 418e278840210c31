//! The per-user quota on uploaded blobs that no published version
//! references yet: their bytes are recorded at upload (`uploads` table) and
//! released when a publish references them or expiry deletes them.

use crate::db::User;
use crate::http::{ApiError, AppState};

fn over_quota(user: &User, pending: u64, adding: Option<u64>, quota: u64) -> ApiError {
    let adding = adding.map_or(String::new(), |n| format!(" and this upload adds {n}"));
    ApiError::new(
        axum::http::StatusCode::PAYLOAD_TOO_LARGE,
        format!(
            "upload quota exceeded: `{}` has {pending} bytes of uploaded blobs that no published \
             version references yet{adding}; the per-user quota is {quota} bytes (--upload-quota). \
             Publish the versions that use them, or wait for unreferenced uploads to expire",
            user.login
        ),
    )
}

/// The bytes `user` may still upload; 413 naming the quota when nothing is
/// left or when the declared body (`Content-Length`) would not fit.
pub async fn room(state: &AppState, user: &User, declared: Option<u64>) -> Result<u64, ApiError> {
    let quota = state.upload_limits.quota;
    let who = user.clone();
    let pending = state.db(move |s| s.pending_upload_bytes(&who)).await?;
    let left = quota.saturating_sub(pending);
    match declared {
        Some(size) if size > left => Err(over_quota(user, pending, Some(size), quota)),
        None if left == 0 => Err(over_quota(user, pending, None, quota)),
        _ => Ok(left),
    }
}

/// The 413 for a body that outgrew the room [`room`] gave it.
pub async fn exceeded(state: &AppState, user: &User) -> ApiError {
    let who = user.clone();
    let pending = state
        .db(move |s| s.pending_upload_bytes(&who))
        .await
        .unwrap_or_default();
    over_quota(user, pending, None, state.upload_limits.quota)
}

/// Records a newly stored blob against `user`'s quota.
pub async fn record(
    state: &AppState,
    user: &User,
    sha256: &str,
    size: u64,
) -> Result<(), ApiError> {
    let (who, sha) = (user.clone(), sha256.to_string());
    let now = crate::http::web::session::unix_now();
    state
        .db(move |s| s.record_upload(&who, &sha, size, now))
        .await
}

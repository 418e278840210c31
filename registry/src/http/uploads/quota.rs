//! The per-user quota on uploaded blobs that no published version
//! references yet: their bytes are reserved before the body is received
//! (`uploads` table), corrected to the stored size once the blob is in
//! place, and released when a publish references them or expiry deletes
//! them. Reserving up front is what keeps parallel uploads within the
//! quota: a check made before staging and a record made after storing
//! would let every upload in flight pass the same check.

use crate::db::{UploadReservation, User};
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

/// Quota held for one upload in progress. Dropped without
/// [`Reservation::settle`] or [`Reservation::cancel`] (a request the client
/// abandoned mid-body), it gives the bytes back in the background.
pub struct Reservation {
    state: AppState,
    user: User,
    sha256: String,
    /// Bytes held; the most the body may bring.
    pub bytes: u64,
    settled: bool,
}

impl Reservation {
    /// Nothing is left to give back: the record now holds the stored size,
    /// or it was already dropped.
    pub fn settle(mut self) {
        self.settled = true;
    }

    /// Gives the bytes back now (a failed upload, or a blob another upload
    /// stored first), so the uploader's next request sees them free.
    pub async fn cancel(self) {
        let (who, sha) = (self.user.clone(), self.sha256.clone());
        match self.state.db(move |s| s.cancel_upload(&who, &sha)).await {
            Ok(()) => self.settle(),
            // Left to the drop's retry in the background.
            Err(e) => tracing::warn!("an upload's quota reservation not released: {}", e.detail),
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (state, user, sha) = (self.state.clone(), self.user.clone(), self.sha256.clone());
        // Outside a runtime (never, in the server) the record expires with
        // the grace period instead.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = state.db(move |s| s.cancel_upload(&user, &sha)).await {
                    tracing::warn!("an upload's quota reservation not released: {}", e.detail);
                }
            });
        }
    }
}

/// Reserves the quota for `user`'s upload of the new blob `sha256`: its
/// declared size (`Content-Length`), or all the room left when undeclared;
/// 413 naming the quota when that does not fit.
pub async fn reserve(
    state: &AppState,
    user: &User,
    sha256: &str,
    declared: Option<u64>,
) -> Result<Reservation, ApiError> {
    let quota = state.upload_limits.quota;
    let (who, sha) = (user.clone(), sha256.to_string());
    let now = crate::http::web::session::unix_now();
    let reserved = state
        .db(move |s| s.reserve_upload(&who, &sha, declared, quota, now))
        .await?;
    match reserved {
        UploadReservation::Reserved(bytes) => Ok(Reservation {
            state: state.clone(),
            user: user.clone(),
            sha256: sha256.to_string(),
            bytes,
            settled: false,
        }),
        UploadReservation::Exceeded { pending } => Err(over_quota(user, pending, declared, quota)),
    }
}

/// The 413 for a body that outgrew the room [`reserve`] gave it; the
/// reservation is given back first, so the message counts only the user's
/// other uploads.
pub async fn exceeded(reservation: Reservation) -> ApiError {
    let (who, sha) = (reservation.user.clone(), reservation.sha256.clone());
    let pending = reservation
        .state
        .db(move |s| {
            s.cancel_upload(&who, &sha)?;
            s.pending_upload_bytes(&who)
        })
        .await
        .unwrap_or_default();
    let quota = reservation.state.upload_limits.quota;
    let user = reservation.user.clone();
    reservation.settle();
    over_quota(&user, pending, None, quota)
}

/// Records the stored size of a blob this reservation was for (it was
/// newly created), replacing the reserved figure.
pub async fn record(reservation: Reservation, size: u64) -> Result<(), ApiError> {
    let (who, sha) = (reservation.user.clone(), reservation.sha256.clone());
    let now = crate::http::web::session::unix_now();
    reservation
        .state
        .db(move |s| s.record_upload(&who, &sha, size, now))
        .await?;
    reservation.settle();
    Ok(())
}

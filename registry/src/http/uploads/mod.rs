//! Limits on uploads (zoo blobs and archives, cargo `.crate` files): how
//! many run at once, per user and in all ([`gate`]); how many bytes of
//! not-yet-referenced blobs a user may keep ([`quota`]); and the deletion
//! of blobs no publish referenced within the grace period ([`expiry`]).
//! Bodies are streamed to temp files (`crate::blob`), and a body that stops
//! arriving is cut off by the server's body-idle timeout (`crate::http::server`).

pub mod expiry;
pub mod gate;
pub mod quota;

use std::time::Duration;

pub use gate::{UploadGate, UploadPermit};

/// Default cap on uploads in progress at once, over all users.
pub const DEFAULT_MAX_CONCURRENT: usize = 64;
/// Default cap on one user's uploads in progress at once.
pub const DEFAULT_MAX_PER_USER: usize = 8;
/// Default per-user quota of uploaded blobs no published version references: 8 GiB.
pub const DEFAULT_QUOTA: u64 = 8 << 30;
/// Default time an uploaded blob may stay unreferenced before it is deleted.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

/// The upload limits of a running registry (`zoo-registry serve` flags).
#[derive(Debug, Clone, Copy)]
pub struct UploadLimits {
    /// Uploads in progress at once, over all users (503 beyond).
    pub max_concurrent: usize,
    /// One user's uploads in progress at once (429 beyond).
    pub max_per_user: usize,
    /// Bytes of a user's uploaded blobs that no version references yet (413 beyond).
    pub quota: u64,
    /// How long an uploaded blob may stay unreferenced.
    pub grace: Duration,
}

impl Default for UploadLimits {
    fn default() -> Self {
        UploadLimits {
            max_concurrent: DEFAULT_MAX_CONCURRENT,
            max_per_user: DEFAULT_MAX_PER_USER,
            quota: DEFAULT_QUOTA,
            grace: DEFAULT_GRACE,
        }
    }
}

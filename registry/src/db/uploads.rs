//! Blobs uploaded with `PUT /api/v1/blobs/{sha256}` that no published
//! version references yet: who uploaded them, how big, and when. They count
//! against the uploader's quota until a publish references them, and are
//! deleted when none does within the grace period (the http layer's upload expiry).

use super::{StoreResult, User};

/// The record-keeping of not-yet-referenced uploads (table `uploads`).
pub trait UploadStore {
    /// Records that `user` stored the new blob `sha256` at `at` (unix
    /// seconds); a repeated upload refreshes the time.
    fn record_upload(&self, user: &User, sha256: &str, size: u64, at: i64) -> StoreResult<()>;
    /// Bytes of `user`'s recorded (not yet referenced) uploads.
    fn pending_upload_bytes(&self, user: &User) -> StoreResult<u64>;
    /// Marks the recorded uploads of these blobs as used at `at`: a publish
    /// is about to reference them, so expiry must leave them alone.
    fn touch_uploads(&self, sha256s: &[String], at: i64) -> StoreResult<()>;
    /// Forgets the uploads of these blobs: a published version references
    /// them, so they no longer count against anyone's quota.
    fn release_uploads(&self, sha256s: &[String]) -> StoreResult<()>;
    /// Blobs whose every recorded upload is older than `before`.
    fn stale_uploads(&self, before: i64) -> StoreResult<Vec<String>>;
    /// Deletes the records of `sha256` if every one is still older than
    /// `before`; returns whether it did (then the blob may be deleted).
    fn expire_upload(&self, sha256: &str, before: i64) -> StoreResult<bool>;
}

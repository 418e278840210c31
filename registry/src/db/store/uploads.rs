//! The table `uploads` (schema migration 5): blobs uploaded with `PUT /api/v1/blobs/{sha256}` that no published
//! version references yet: who uploaded them, how big, and when. They count
//! against the uploader's quota until a publish references them, and are
//! deleted when none does within the grace period (the http layer's upload expiry).

use super::MetadataStore;
use crate::db::sql::{Backend, params};
use crate::db::{StoreResult, UploadReservation, User, sql};

/// The record-keeping of not-yet-referenced uploads (table `uploads`).
impl MetadataStore {
    /// Records that `user` stored the new blob `sha256` at `at` (unix
    /// seconds); a repeated upload refreshes the time.
    pub fn record_upload(&self, user: &User, sha256: &str, size: u64, at: i64) -> StoreResult<()> {
        let size = i64::try_from(size).map_err(sql::backend)?;
        self.engine.with_conn(|c| {
            c.execute(
                "INSERT INTO uploads (sha256, user_id, size, uploaded_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sha256, user_id) DO UPDATE \
                 SET size = excluded.size, uploaded_at = excluded.uploaded_at",
                params![sha256, user.id, size, at],
            )
            .map(drop)
        })
    }

    /// Holds quota for `user`'s upload of the new blob `sha256` before its
    /// body is received: `wanted` bytes (its `Content-Length`), or all the
    /// room left when the size is not declared. Checked and recorded in one
    /// transaction under a per-user lock, so parallel uploads (on any
    /// replica) cannot all pass a check made before any of them is stored.
    /// The record is the upload's own (`uploads` row), corrected by
    /// [`MetadataStore::record_upload`] once stored or dropped by
    /// [`MetadataStore::cancel_upload`] if it fails.
    pub fn reserve_upload(
        &self,
        user: &User,
        sha256: &str,
        wanted: Option<u64>,
        quota: u64,
        at: i64,
    ) -> StoreResult<UploadReservation> {
        self.engine.with_tx(|c| {
            // Package names never contain `:`, so this key is the user's own.
            c.lock_name(&format!("upload-quota:{}", user.id))?;
            let pending = c.query_i64(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM uploads \
                 WHERE user_id = $1 AND sha256 <> $2",
                params![user.id, sha256],
            )?;
            let pending = pending.max(0) as u64;
            let left = quota.saturating_sub(pending);
            let size = match wanted {
                Some(size) if size <= left => size,
                None if left > 0 => left,
                _ => return Ok(UploadReservation::Exceeded { pending }),
            };
            let stored = i64::try_from(size).map_err(sql::backend)?;
            c.execute(
                "INSERT INTO uploads (sha256, user_id, size, uploaded_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sha256, user_id) DO UPDATE \
                 SET size = excluded.size, uploaded_at = excluded.uploaded_at",
                params![sha256, user.id, stored, at],
            )?;
            Ok(UploadReservation::Reserved(size))
        })
    }

    /// Drops `user`'s reservation for `sha256` (an upload that failed, or
    /// whose blob another upload stored first).
    pub fn cancel_upload(&self, user: &User, sha256: &str) -> StoreResult<()> {
        self.engine.with_conn(|c| {
            c.execute(
                "DELETE FROM uploads WHERE sha256 = $1 AND user_id = $2",
                params![sha256, user.id],
            )
            .map(drop)
        })
    }

    /// Bytes of `user`'s recorded (not yet referenced) uploads.
    pub fn pending_upload_bytes(&self, user: &User) -> StoreResult<u64> {
        // PostgreSQL sums BIGINTs as NUMERIC; the cast keeps an integer.
        let total = self.engine.with_conn(|c| {
            c.query_i64(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM uploads WHERE user_id = $1",
                params![user.id],
            )
        })?;
        Ok(total.max(0) as u64)
    }

    /// Marks the recorded uploads of these blobs as used at `at`: a publish
    /// is about to reference them, so expiry must leave them alone.
    pub fn touch_uploads(&self, sha256s: &[String], at: i64) -> StoreResult<()> {
        // CASE, not GREATEST (SQLite lacks it) nor MAX (PostgreSQL's is
        // only an aggregate).
        self.engine.with_conn(|c| {
            for sha in sha256s {
                c.execute(
                    "UPDATE uploads SET uploaded_at = \
                     CASE WHEN uploaded_at < $2 THEN $2 ELSE uploaded_at END WHERE sha256 = $1",
                    params![sha, at],
                )?;
            }
            Ok(())
        })
    }

    /// Forgets the uploads of these blobs: a published version references
    /// them, so they no longer count against anyone's quota.
    pub fn release_uploads(&self, sha256s: &[String]) -> StoreResult<()> {
        self.engine.with_conn(|c| {
            for sha in sha256s {
                c.execute("DELETE FROM uploads WHERE sha256 = $1", params![sha])?;
            }
            Ok(())
        })
    }

    /// Blobs whose every recorded upload is older than `before`.
    pub fn stale_uploads(&self, before: i64) -> StoreResult<Vec<String>> {
        self.engine.with_conn(|c| {
            c.query_texts(
                "SELECT sha256 FROM uploads GROUP BY sha256 HAVING MAX(uploaded_at) < $1 \
                 ORDER BY sha256",
                params![before],
            )
        })
    }

    /// Deletes the records of `sha256` if every one is still older than
    /// `before`; returns whether it did (then the blob may be deleted).
    pub fn expire_upload(&self, sha256: &str, before: i64) -> StoreResult<bool> {
        let deleted = self.engine.with_conn(|c| {
            c.execute(
                "DELETE FROM uploads WHERE sha256 = $1 AND NOT EXISTS \
                 (SELECT 1 FROM uploads WHERE sha256 = $1 AND uploaded_at >= $2)",
                params![sha256, before],
            )
        })?;
        Ok(deleted > 0)
    }
}

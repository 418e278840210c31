//! [`UploadStore`] on PostgreSQL (table `uploads`, migration
//! `0005_uploads.sql`), the same answers as the SQLite implementation.

use super::postgres::{PgStore, backend};
use super::uploads::UploadStore;
use super::{StoreResult, User};

impl UploadStore for PgStore {
    fn record_upload(&self, user: &User, sha256: &str, size: u64, at: i64) -> StoreResult<()> {
        let size = i64::try_from(size).map_err(backend)?;
        self.with_conn(async |c| {
            sqlx::query(
                "INSERT INTO uploads (sha256, user_id, size, uploaded_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (sha256, user_id) DO UPDATE SET size = excluded.size, uploaded_at = excluded.uploaded_at",
            )
            .bind(sha256)
            .bind(user.id)
            .bind(size)
            .bind(at)
            .execute(c)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn pending_upload_bytes(&self, user: &User) -> StoreResult<u64> {
        self.with_conn(async |c| {
            let total: i64 = sqlx::query_scalar(
                "SELECT COALESCE(SUM(size), 0)::BIGINT FROM uploads WHERE user_id = $1",
            )
            .bind(user.id)
            .fetch_one(c)
            .await
            .map_err(backend)?;
            Ok(total.max(0) as u64)
        })
    }

    fn touch_uploads(&self, sha256s: &[String], at: i64) -> StoreResult<()> {
        self.with_conn(async |c| {
            sqlx::query(
                "UPDATE uploads SET uploaded_at = GREATEST(uploaded_at, $2) WHERE sha256 = ANY($1)",
            )
            .bind(sha256s)
            .bind(at)
            .execute(c)
            .await
            .map_err(backend)?;
            Ok(())
        })
    }

    fn release_uploads(&self, sha256s: &[String]) -> StoreResult<()> {
        self.with_conn(async |c| {
            sqlx::query("DELETE FROM uploads WHERE sha256 = ANY($1)")
                .bind(sha256s)
                .execute(c)
                .await
                .map_err(backend)?;
            Ok(())
        })
    }

    fn stale_uploads(&self, before: i64) -> StoreResult<Vec<String>> {
        self.with_conn(async |c| {
            sqlx::query_scalar(
                "SELECT sha256 FROM uploads GROUP BY sha256 HAVING MAX(uploaded_at) < $1 ORDER BY sha256",
            )
            .bind(before)
            .fetch_all(c)
            .await
            .map_err(backend)
        })
    }

    fn expire_upload(&self, sha256: &str, before: i64) -> StoreResult<bool> {
        self.with_conn(async |c| {
            let done = sqlx::query(
                "DELETE FROM uploads WHERE sha256 = $1 AND NOT EXISTS \
                 (SELECT 1 FROM uploads WHERE sha256 = $1 AND uploaded_at >= $2)",
            )
            .bind(sha256)
            .bind(before)
            .execute(c)
            .await
            .map_err(backend)?;
            Ok(done.rows_affected() > 0)
        })
    }
}

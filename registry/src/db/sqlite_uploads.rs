//! [`UploadStore`] on the SQLite database of [`SqliteStore`] (table
//! `uploads`, schema migration 5).

use rusqlite::params;

use super::sqlite::{SqliteStore, backend};
use super::uploads::UploadStore;
use super::{StoreResult, User};

impl UploadStore for SqliteStore {
    fn record_upload(&self, user: &User, sha256: &str, size: u64, at: i64) -> StoreResult<()> {
        let size = i64::try_from(size).map_err(backend)?;
        self.lock()?
            .execute(
                "INSERT INTO uploads (sha256, user_id, size, uploaded_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (sha256, user_id) DO UPDATE SET size = excluded.size, uploaded_at = excluded.uploaded_at",
                params![sha256, user.id, size, at],
            )
            .map_err(backend)?;
        Ok(())
    }

    fn pending_upload_bytes(&self, user: &User) -> StoreResult<u64> {
        let total: i64 = self
            .lock()?
            .query_row(
                "SELECT COALESCE(SUM(size), 0) FROM uploads WHERE user_id = ?1",
                [user.id],
                |r| r.get(0),
            )
            .map_err(backend)?;
        Ok(total.max(0) as u64)
    }

    fn touch_uploads(&self, sha256s: &[String], at: i64) -> StoreResult<()> {
        let conn = self.lock()?;
        for sha in sha256s {
            conn.execute(
                "UPDATE uploads SET uploaded_at = MAX(uploaded_at, ?2) WHERE sha256 = ?1",
                params![sha, at],
            )
            .map_err(backend)?;
        }
        Ok(())
    }

    fn release_uploads(&self, sha256s: &[String]) -> StoreResult<()> {
        let conn = self.lock()?;
        for sha in sha256s {
            conn.execute("DELETE FROM uploads WHERE sha256 = ?1", [sha])
                .map_err(backend)?;
        }
        Ok(())
    }

    fn stale_uploads(&self, before: i64) -> StoreResult<Vec<String>> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare(
                "SELECT sha256 FROM uploads GROUP BY sha256 HAVING MAX(uploaded_at) < ?1 ORDER BY sha256",
            )
            .map_err(backend)?;
        let rows = stmt.query_map([before], |r| r.get(0)).map_err(backend)?;
        rows.map(|r| r.map_err(backend)).collect()
    }

    fn expire_upload(&self, sha256: &str, before: i64) -> StoreResult<bool> {
        let deleted = self
            .lock()?
            .execute(
                "DELETE FROM uploads WHERE sha256 = ?1 AND NOT EXISTS \
                 (SELECT 1 FROM uploads WHERE sha256 = ?1 AND uploaded_at >= ?2)",
                params![sha256, before],
            )
            .map_err(backend)?;
        Ok(deleted > 0)
    }
}

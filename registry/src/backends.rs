//! Which metadata and blob backends a registry process uses, from
//! `--database` / `--blobs` (or `ZOO_REGISTRY_DATABASE` /
//! `ZOO_REGISTRY_BLOBS`). The defaults keep everything in the data
//! directory: `DATA/registry.sqlite3` and `DATA/blobs/`.
//!
//! Scaled out, every replica gets the same `postgres://…` and `s3://…` and
//! its own small data directory (uploads are staged in `DATA/tmp`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::blob::s3::Bucket;
use crate::db::MetadataStore;

/// The backend settings as given (absent: the defaults).
#[derive(Debug, Clone, Default)]
pub struct Backends {
    /// `sqlite://PATH` or `postgres://user:password@host:port/database`.
    pub database: Option<String>,
    /// `s3://bucket[/prefix]` (credentials and endpoint from `AWS_*`).
    pub blobs: Option<String>,
}

/// Why the backend settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error(
        "--database `{0}`: expected sqlite://PATH or postgres://user:password@host:port/database"
    )]
    Database(String),
    #[error("--blobs `{0}`: expected s3://bucket[/prefix] (or nothing, for DATA/blobs)")]
    Blobs(String),
    #[error("--blobs: {0}")]
    Bucket(String),
    #[error("--data is needed (the data directory for the database, blobs and uploads)")]
    NoDataDir,
    #[error(
        "there is no registry at {}: check --data (or --database); `zoo-registry serve --init` or `zoo-registry user add --init` creates a new one",
        .0.display()
    )]
    NoRegistry(PathBuf),
}

/// Where metadata lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl Backends {
    pub fn database(&self, data_dir: &Path) -> Result<Database, BackendError> {
        let Some(url) = self.database.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(Database::Sqlite(data_dir.join("registry.sqlite3")));
        };
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Database::Postgres(url.to_string()));
        }
        match url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Some(path) if !path.is_empty() => Ok(Database::Sqlite(PathBuf::from(path))),
            _ => Err(BackendError::Database(redact(url))),
        }
    }

    /// Refuses a registry that does not exist yet, so that a mistyped
    /// `--data` never quietly becomes a new, empty registry (only `--init`
    /// skips this). Only SQLite is checked: a PostgreSQL database is created
    /// by its administrator, and connecting to a mistyped one fails anyway.
    pub fn require_existing(&self, data_dir: &Path) -> Result<(), BackendError> {
        match self.database(data_dir)? {
            Database::Sqlite(path) if !path.is_file() => Err(BackendError::NoRegistry(path)),
            _ => Ok(()),
        }
    }

    /// The bucket, when blobs are not in `DATA/blobs`.
    pub fn bucket(&self) -> Result<Option<Bucket>, BackendError> {
        match self.blobs.as_deref().filter(|u| !u.is_empty()) {
            None => Ok(None),
            Some(url) if url.starts_with("s3://") => {
                Bucket::open(url).map(Some).map_err(BackendError::Bucket)
            }
            Some(url) => Err(BackendError::Blobs(url.to_string())),
        }
    }

    /// Opens (creating and migrating if needed) the metadata store.
    /// Blocking: with PostgreSQL it connects and migrates.
    pub fn open_metadata(&self, data_dir: &Path) -> Result<Arc<MetadataStore>, crate::OpenError> {
        Ok(match self.database(data_dir)? {
            Database::Sqlite(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    std::fs::create_dir_all(parent).map_err(|source| crate::OpenError::Io {
                        path: parent.to_path_buf(),
                        source,
                    })?;
                }
                Arc::new(crate::db::MetadataStore::open_sqlite(&path)?)
            }
            Database::Postgres(url) => Arc::new(crate::db::MetadataStore::connect_postgres(&url)?),
        })
    }

    /// One line for the start-up log (no password).
    pub fn describe(&self, data_dir: &Path) -> String {
        let database = match self.database(data_dir) {
            Ok(Database::Sqlite(path)) => format!("SQLite {}", path.display()),
            Ok(Database::Postgres(url)) => format!("PostgreSQL {}", redact(&url)),
            Err(e) => e.to_string(),
        };
        let blobs = match self.blobs.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => url.to_string(),
            None => data_dir.join("blobs").display().to_string(),
        };
        format!("metadata: {database}; blobs: {blobs}")
    }
}

/// The URL without its password.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.split_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(database: Option<&str>, blobs: Option<&str>) -> Backends {
        Backends {
            database: database.map(str::to_owned),
            blobs: blobs.map(str::to_owned),
        }
    }

    #[test]
    fn database_urls() {
        let data = Path::new("/data");
        assert_eq!(
            with(None, None).database(data).unwrap(),
            Database::Sqlite(data.join("registry.sqlite3"))
        );
        assert_eq!(
            with(Some("sqlite:///x/db.sqlite3"), None)
                .database(data)
                .unwrap(),
            Database::Sqlite("/x/db.sqlite3".into())
        );
        assert!(matches!(
            with(Some("postgresql://u:p@h/db"), None).database(data),
            Ok(Database::Postgres(_))
        ));
        let e = with(Some("mysql://u:secret@h/db"), None)
            .database(data)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("mysql://u:***@h/db") && !e.contains("secret"),
            "{e}"
        );
    }

    #[test]
    fn only_an_existing_sqlite_database_is_a_registry() {
        let data = tempfile::tempdir().unwrap();
        let e = with(None, None)
            .require_existing(data.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("registry.sqlite3") && e.contains("--init"),
            "{e}"
        );
        std::fs::write(data.path().join("registry.sqlite3"), b"").unwrap();
        assert!(with(None, None).require_existing(data.path()).is_ok());
        let elsewhere = format!("sqlite://{}", data.path().join("other.db").display());
        assert!(
            with(Some(&elsewhere), None)
                .require_existing(data.path())
                .is_err()
        );
        assert!(
            with(Some("postgres://u:p@h/db"), None)
                .require_existing(data.path())
                .is_ok()
        );
    }

    #[test]
    fn blob_urls() {
        assert!(with(None, None).bucket().unwrap().is_none());
        let e = with(None, Some("gs://b")).bucket().unwrap_err().to_string();
        assert!(e.contains("expected s3://"), "{e}");
        assert!(with(None, Some("s3://")).bucket().is_err());
    }

    #[test]
    fn descriptions_hide_passwords() {
        let line = with(Some("postgres://zoo:hunter2@db:5432/zoo"), Some("s3://b/p"))
            .describe(Path::new("/d"));
        assert_eq!(
            line,
            "metadata: PostgreSQL postgres://zoo:***@db:5432/zoo; blobs: s3://b/p"
        );
    }
}

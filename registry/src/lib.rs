//! `zoo-registry`: the registry server (docs/api.md).
//!
//! Metadata lives behind [`db::MetadataStore`] (SQLite today), blobs are
//! content-addressed files ([`blobs::BlobStore`]), and the index is rendered
//! from the database and mirrored as static files ([`index::IndexFiles`]).
//! [`cargo`] serves Cargo's registry protocol for Rust crates next to it.

pub mod api;
pub mod auth;
pub mod auth_limit;
pub mod blobs;
pub mod cargo;
pub mod config;
pub mod db;
pub mod health;
pub mod index;
pub mod metrics;
pub mod ops;
pub mod server;
pub mod web;

use std::path::PathBuf;
use std::sync::Arc;

pub use api::{AppState, router};
pub use config::Config;

/// Why the registry could not open its data directory.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] db::StoreError),
    #[error(transparent)]
    Ops(#[from] ops::OpsError),
}

/// Opens (creating if needed) the data directory and its database.
pub fn open_store(config: &Config) -> Result<Arc<db::sqlite::SqliteStore>, OpenError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| OpenError::Io {
        path: config.data_dir.clone(),
        source,
    })?;
    Ok(Arc::new(db::sqlite::SqliteStore::open(
        &config.database_path(),
    )?))
}

/// Everything the HTTP layer needs. Also rewrites every index file and
/// `index/config.json` from the database, so the static mirror is complete
/// even after a crash between a commit and its index write.
pub fn open_state(config: Config) -> Result<AppState, OpenError> {
    let store = open_store(&config)?;
    let io = |path: PathBuf| move |source| OpenError::Io { path, source };
    let blobs =
        blobs::BlobStore::open(&config.data_dir).map_err(io(config.data_dir.join("blobs")))?;
    let index_files =
        index::IndexFiles::open(&config.data_dir).map_err(io(config.data_dir.join("index")))?;
    // Temp files of index rewrites a crash interrupted (`DATA/tmp/` was
    // emptied by `BlobStore::open`); the documents are rewritten below.
    let removed = ops::remove_interrupted_writes(&config.data_dir)?;
    if removed > 0 {
        tracing::info!("removed {removed} temp file(s) left by an interrupted run");
    }
    index_files
        .write_config(&config.base_url)
        .map_err(io(config.data_dir.join("index/config.json")))?;
    use db::{CargoStore, MetadataStore};
    for name in store.package_names()? {
        let document = index::render(&store.versions(&name)?);
        index_files
            .write_document(&name, &document)
            .map_err(io(index_files.path(&name)))?;
    }
    let cargo_index = cargo::index::CargoIndexFiles::open(&config.data_dir)
        .map_err(io(config.data_dir.join("cargo-index")))?;
    cargo_index
        .write_config(&config)
        .map_err(io(config.data_dir.join("cargo-index/config.json")))?;
    for name in store.cargo_crate_names()? {
        let versions = store.cargo_versions(&zoo_format::normalize_name(&name))?;
        let document = cargo::index::render(&versions).map_err(|e| {
            OpenError::Store(db::StoreError::Backend(format!(
                "a stored index line of crate `{name}`: {e}"
            )))
        })?;
        cargo_index
            .write_document(&name, &document)
            .map_err(io(cargo_index.path(&name)))?;
    }
    Ok(AppState {
        store,
        blobs,
        index: index_files,
        cargo_index,
        config: Arc::new(config),
        index_lock: Default::default(),
        metrics: Default::default(),
        auth_limiter: Default::default(),
    })
}

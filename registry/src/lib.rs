//! `zoo-registry`: the registry server (docs/api.md).
//!
//! Metadata lives behind [`db::MetadataStore`] (SQLite today), blobs are
//! content-addressed files ([`blobs::BlobStore`]), and the index is rendered
//! from the database and mirrored as static files ([`index::IndexFiles`]).
//! [`cargo`] serves Cargo's registry protocol for Rust crates next to it.

pub mod api;
pub mod auth;
pub mod blobs;
pub mod cargo;
pub mod config;
pub mod db;
pub mod health;
pub mod index;
pub mod index_cache;
pub mod metrics;
pub mod ops;
pub mod server;
pub mod signing;
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

/// Index documents kept in memory at most (each is one JSON line per version).
pub const INDEX_CACHE_CAPACITY: usize = 16_384;

/// Everything the HTTP layer needs, signing index documents for
/// [`signing::DEFAULT_INDEX_TTL`]; see [`open_state_with`].
pub fn open_state(config: Config) -> Result<AppState, OpenError> {
    open_state_with(config, signing::DEFAULT_INDEX_TTL)
}

/// Everything the HTTP layer needs; signed index documents expire after
/// `index_ttl`. Creates the registry's signing key on first start, and
/// rewrites (re-signing where needed) every index file and
/// `index/config.json` from the database, so the static mirror is complete
/// even after a crash between a commit and its index write.
pub fn open_state_with(
    config: Config,
    index_ttl: std::time::Duration,
) -> Result<AppState, OpenError> {
    let store = open_store(&config)?;
    let key = signing::load_or_create_key(&config.data_dir).map_err(|source| OpenError::Io {
        path: signing::key_path(&config.data_dir),
        source,
    })?;
    let signer = Arc::new(signing::IndexSigner::new(key, index_ttl));
    let io = |path: PathBuf| move |source| OpenError::Io { path, source };
    let blobs =
        blobs::BlobStore::open(&config.data_dir).map_err(io(config.data_dir.join("blobs")))?;
    let index_files =
        index::IndexFiles::open(&config.data_dir).map_err(io(config.data_dir.join("index")))?;
    index_files
        .write_config(&config.base_url, &signer.public_key())
        .map_err(io(config.data_dir.join("index/config.json")))?;
    use db::{CargoStore, MetadataStore};
    for name in store.package_names()? {
        let content = index::render(&store.versions(&name)?);
        index_files
            .write_signed(&signer, &name, &content)
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
        index_cache: Arc::new(index_cache::IndexCache::new(
            Some(signer.ttl() / 4),
            INDEX_CACHE_CAPACITY,
        )),
        metrics: Default::default(),
        signer,
    })
}

//! `zoo-registry`: the registry server (docs/api.md).
//!
//! Metadata lives behind [`db::MetadataStore`] (SQLite by default,
//! PostgreSQL for replicas), blobs are content-addressed files or bucket
//! objects (one [`blob::BlobBackend`] each), chosen by [`backends`]; the
//! index is rendered from the database and mirrored as static documents
//! ([`index::IndexFiles`]).
//! [`cargo`] serves Cargo's registry protocol for Rust crates next to it.

pub mod auth;
pub mod backends;
pub mod blob;
pub mod config;
pub mod db;
pub mod domain;
pub mod http;
pub mod index;
pub mod lock;
pub mod ops;

use std::path::PathBuf;
use std::sync::Arc;

pub use config::Config;
pub use http::{AppState, router};

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
    Backend(#[from] backends::BackendError),
    #[error(transparent)]
    Ops(#[from] ops::OpsError),
}

/// Opens (creating if needed) the data directory and its database.
pub fn open_store(config: &Config) -> Result<Arc<db::MetadataStore>, OpenError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| OpenError::Io {
        path: config.data_dir.clone(),
        source,
    })?;
    Ok(Arc::new(db::MetadataStore::open_sqlite(
        &config.database_path(),
    )?))
}

/// Index documents kept in memory at most (each is one JSON line per version).
pub const INDEX_CACHE_CAPACITY: usize = 16_384;

/// The stores a registry process works on, opened but not yet written to.
pub struct Parts {
    pub store: Arc<db::MetadataStore>,
    pub blobs: blob::BlobStore,
    pub index: index::IndexFiles,
    pub cargo_index: index::cargo::CargoIndexFiles,
}

fn io_error(path: PathBuf) -> impl FnOnce(std::io::Error) -> OpenError {
    move |source| OpenError::Io { path, source }
}

/// Opens the configured backends (blocking: PostgreSQL connects and
/// migrates here). With a bucket, the index mirrors go to the bucket too.
pub fn open_parts(config: &Config, backends: &backends::Backends) -> Result<Parts, OpenError> {
    let data = &config.data_dir;
    // Both settings are checked before anything is created.
    backends.database(data)?;
    let bucket = backends.bucket()?;
    std::fs::create_dir_all(data).map_err(io_error(data.clone()))?;
    let store = backends.open_metadata(data)?;
    let blobs = match &bucket {
        Some(bucket) => blob::BlobStore::open_remote(data, bucket.clone()),
        None => blob::BlobStore::open(data),
    }
    .map_err(io_error(data.join("blobs")))?;
    let index =
        index::IndexFiles::open_in(data, bucket.clone()).map_err(io_error(data.join("index")))?;
    let cargo_index = index::cargo::CargoIndexFiles::open_in(data, bucket)
        .map_err(io_error(data.join("cargo-index")))?;
    Ok(Parts {
        store,
        blobs,
        index,
        cargo_index,
    })
}

/// Rewrites every index document of both mirrors from the database, signed
/// by `signer` (the server's; without one, as after `import`, the documents
/// get their signatures when the server next starts).
pub fn rewrite_index_documents(
    parts: &Parts,
    signer: Option<&index::signing::IndexSigner>,
) -> Result<(), OpenError> {
    use db::MetadataStore;
    let store: &MetadataStore = &parts.store;
    for name in store.package_names()? {
        let content = index::render(&store.versions(&name)?);
        match signer {
            Some(signer) => parts.index.write_signed(signer, &name, &content).map(drop),
            None => parts.index.write_document(&name, &content),
        }
        .map_err(io_error(parts.index.path(&name)))?;
    }
    for name in store.cargo_crate_names()? {
        let versions = store.cargo_versions(&zoo_format::normalize_name(&name))?;
        let document = index::cargo::render(&versions).map_err(|e| {
            OpenError::Store(db::StoreError::Backend(format!(
                "a stored index line of crate `{name}`: {e}"
            )))
        })?;
        parts
            .cargo_index
            .write_document(&name, &document)
            .map_err(io_error(parts.cargo_index.path(&name)))?;
    }
    Ok(())
}

/// Everything the HTTP layer needs, on the default backends (SQLite and
/// blob files in the data directory), signing index documents for
/// [`index::signing::DEFAULT_INDEX_TTL`]. See [`open_state_with`].
pub fn open_state(config: Config) -> Result<AppState, OpenError> {
    open_state_with(
        config,
        &backends::Backends::default(),
        index::signing::DEFAULT_INDEX_TTL,
    )
}

/// Everything the HTTP layer needs; signed index documents expire after
/// `index_ttl`. Creates the registry's signing key on first start, and
/// rewrites (re-signing where needed) every index document and both
/// `config.json` files from the database, so the static mirror is complete
/// even after a crash between a commit and its index write. Blocking; with a
/// bucket it must run inside a Tokio runtime (off its async workers).
pub fn open_state_with(
    config: Config,
    backends: &backends::Backends,
    index_ttl: std::time::Duration,
) -> Result<AppState, OpenError> {
    let parts = open_parts(&config, backends)?;
    let key_path = index::signing::key_path(&config.data_dir);
    let key = index::signing::load_or_create_key(&config.data_dir).map_err(io_error(key_path))?;
    let signer = Arc::new(index::signing::IndexSigner::new(key, index_ttl));
    parts
        .blobs
        .remove_leftovers()
        .map_err(io_error(config.data_dir.join("tmp")))?;
    // Temp files of index rewrites a crash interrupted; the documents are
    // rewritten below.
    let removed = ops::remove_interrupted_writes(&config.data_dir)?;
    if removed > 0 {
        tracing::info!("removed {removed} temp file(s) left by an interrupted run");
    }
    parts
        .index
        .write_config(&config.base_url, &signer)
        .map_err(io_error(config.data_dir.join("index/config.json")))?;
    parts
        .cargo_index
        .write_config(&config)
        .map_err(io_error(config.data_dir.join("cargo-index/config.json")))?;
    rewrite_index_documents(&parts, Some(&signer))?;
    Ok(AppState::new(http::SharedState {
        store: parts.store,
        blobs: parts.blobs,
        index: parts.index,
        cargo_index: parts.cargo_index,
        config: Arc::new(config),
        index_lock: Default::default(),
        index_cache: Arc::new(index::cache::IndexCache::new(
            Some(signer.ttl() / 4),
            INDEX_CACHE_CAPACITY,
        )),
        metrics: Default::default(),
        signer,
        auth_limiter: Default::default(),
        upload_limits: Default::default(),
        uploads: Default::default(),
    }))
}

//! The HTTP API of docs/api.md.

mod blobs;
pub mod caller;
mod error;
mod index;
mod owners;
pub(crate) mod packages;
mod publish;
pub(crate) mod search;
pub mod serve_blob;
mod yank;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};

pub use error::ApiError;
pub use publish::check_content_length;

use crate::blob::BlobStore;
use crate::config::Config;
use crate::db::{MetadataStore, StoreResult};
use crate::index::IndexFiles;

/// How often a mirror document is rewritten while the database keeps
/// changing under it (see [`AppState::refresh_index_file`]).
pub(crate) const MIRROR_WRITE_ATTEMPTS: usize = 5;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn MetadataStore>,
    pub blobs: BlobStore,
    pub index: IndexFiles,
    /// The Cargo registry's index mirror (`DATA/cargo-index/`).
    pub cargo_index: crate::cargo::index::CargoIndexFiles,
    pub config: Arc<Config>,
    /// Serializes index-file rewrites: each renders the database state after
    /// taking the lock, so a slower writer can never put back an older document.
    pub index_lock: Arc<tokio::sync::Mutex<()>>,
    /// Rendered index documents (see `index_cache` for freshness).
    pub index_cache: Arc<crate::index_cache::IndexCache>,
    /// Request counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Signs index documents with the registry's key (`crate::signing`).
    pub signer: Arc<crate::signing::IndexSigner>,
    /// Locks out addresses that present too many bad tokens.
    pub auth_limiter: Arc<crate::auth::limit::AuthLimiter>,
    /// Per-user quota and grace period of unreferenced uploads.
    pub upload_limits: crate::uploads::UploadLimits,
    /// Uploads in progress, capped per user and in all.
    pub uploads: Arc<crate::uploads::UploadGate>,
}

impl AppState {
    /// Replaces the index cache. Entries never outlive a quarter of the
    /// signed documents' lifetime: the signer reuses a signature until half
    /// of it is left, so a cached answer always has a quarter left when sent.
    /// Within that, `ttl: None` keeps documents until this process changes
    /// the package (right when it alone writes the database); replicas
    /// sharing a database set how stale another's change may be seen.
    pub fn with_index_cache_ttl(mut self, ttl: Option<std::time::Duration>) -> AppState {
        let bound = self.signer.ttl() / 4;
        self.index_cache = Arc::new(crate::index_cache::IndexCache::new(
            Some(ttl.map_or(bound, |ttl| ttl.min(bound))),
            crate::INDEX_CACHE_CAPACITY,
        ));
        self
    }

    /// Sets the upload limits (the gate's caps included).
    pub fn with_upload_limits(mut self, limits: crate::uploads::UploadLimits) -> AppState {
        self.uploads = Arc::new(crate::uploads::UploadGate::new(
            limits.max_concurrent,
            limits.max_per_user,
        ));
        self.upload_limits = limits;
        self
    }

    /// Runs a blocking metadata call off the async workers.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn MetadataStore) -> StoreResult<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&*store))
            .await
            .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
            .map_err(ApiError::from)
    }

    /// Re-renders and rewrites the index file of `name_norm` after a change.
    /// The database is the source of truth (HTTP index answers are rendered
    /// from it and every file is rewritten at start-up), so a failure here is
    /// logged rather than turned into an error for a change already committed.
    pub async fn refresh_index_file(&self, name_norm: &str) {
        self.index_cache.invalidate(name_norm);
        if let Err(e) = self.sign_and_mirror(name_norm).await {
            tracing::error!(package = %name_norm, "index file not updated: {}", e.detail);
        }
    }

    /// The signed index document of `name_norm`, whose entry lines were just
    /// rendered as `content`: the one already signed when it still signs them
    /// (so ETags stay stable and 304s keep working), else a new signature.
    pub async fn signed_index_document(
        &self,
        name_norm: &str,
        content: &str,
    ) -> Result<String, ApiError> {
        match self.signer.cached(name_norm, content) {
            Some(document) => Ok(document),
            None => self.sign_and_mirror(name_norm).await,
        }
    }

    /// Renders the document from the database after taking the index lock (a
    /// slower writer can never put back older entries under a newer
    /// signature), signs it unless the file's signature is still good, and
    /// rewrites the mirror file if that changed anything. Replicas sharing a
    /// database write the same mirror, so a slower one may put back an older
    /// rendering after ours: each writer re-reads the database after writing
    /// and writes again until its rendering is current.
    async fn sign_and_mirror(&self, name_norm: &str) -> Result<String, ApiError> {
        let _guard = self.index_lock.lock().await;
        let render = async || {
            let name = name_norm.to_string();
            let versions = self.db(move |s| s.versions(&name)).await?;
            Ok::<_, ApiError>(crate::index::render(&versions))
        };
        let mut content = render().await?;
        let mut document = String::new();
        for _ in 0..MIRROR_WRITE_ATTEMPTS {
            let index = self.index.clone();
            let signer = self.signer.clone();
            let name = name_norm.to_string();
            let signed = content.clone();
            document =
                tokio::task::spawn_blocking(move || index.write_signed(&signer, &name, &signed))
                    .await
                    .map_err(|e| ApiError::internal(e.to_string()))?
                    .map_err(|e| {
                        ApiError::internal(format!("writing the index file of `{name_norm}`: {e}"))
                    })?;
            let now = render().await?;
            if now == content {
                break;
            }
            content = now;
        }
        Ok(document)
    }
}

/// All routes. Upload routes lift axum's default body limit: they stream and
/// enforce `Config::max_package_size` themselves.
pub fn router(state: AppState) -> Router {
    let uploads = Router::new()
        .route("/api/v1/blobs/{sha256}", put(blobs::upload))
        .route("/api/v1/packages/new", put(publish::publish))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/index/config.json", get(index::config))
        .route("/index/{*path}", get(index::document))
        .route("/blobs/{sha256}", get(blobs::download))
        .route("/api/v1/search", get(search::search))
        .route("/api/v1/packages/{name}", get(packages::info))
        .route(
            "/api/v1/packages/{name}/owners",
            get(owners::list).put(owners::add).delete(owners::remove),
        )
        .route(
            "/api/v1/packages/{name}/{version}/yank",
            axum::routing::delete(yank::yank),
        )
        .route(
            "/api/v1/packages/{name}/{version}/unyank",
            put(yank::unyank),
        )
        .route("/healthz", get(crate::health::healthz))
        .route("/metrics", get(crate::metrics::handler))
        .merge(uploads)
        .merge(crate::cargo::router(&state))
        .merge(crate::web::router())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

//! The HTTP API of docs/api.md.

mod blobs;
mod error;
mod index;
mod owners;
mod packages;
mod publish;
pub(crate) mod search;
mod yank;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, put};

pub use error::ApiError;

use crate::blobs::BlobStore;
use crate::config::Config;
use crate::db::{MetadataStore, StoreResult};
use crate::index::IndexFiles;

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
    /// Request counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Locks out addresses that present too many bad tokens.
    pub auth_limiter: Arc<crate::auth_limit::AuthLimiter>,
}

impl AppState {
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
        if let Err(e) = self.try_refresh_index_file(name_norm).await {
            tracing::error!(package = %name_norm, "index file not updated: {}", e.detail);
        }
    }

    async fn try_refresh_index_file(&self, name_norm: &str) -> Result<(), ApiError> {
        let _guard = self.index_lock.lock().await;
        let name = name_norm.to_string();
        let versions = self.db(move |s| s.versions(&name)).await?;
        let document = crate::index::render(&versions);
        let index = self.index.clone();
        let name = name_norm.to_string();
        tokio::task::spawn_blocking(move || index.write_document(&name, &document))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| {
                ApiError::internal(format!("writing the index file of `{name_norm}`: {e}"))
            })
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

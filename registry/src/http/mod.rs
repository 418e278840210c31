//! The HTTP layer: [`AppState`], the top [`router`], extractors
//! ([`extract`]), errors as answers ([`error`]), and thin adapters over the
//! layers below: the zoo API of docs/api.md ([`api`]), the Cargo registry
//! ([`cargo`]), HTML pages ([`web`]), `/healthz`, `/metrics` and the server
//! loop. Nothing below this module imports it.

pub mod api;
pub mod cargo;
mod error;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod owners;
pub mod serve_blob;
pub mod server;
pub mod uploads;
pub mod web;
pub mod yank;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::routing::{get, put};
use std::time::Duration;

pub use api::publish::check_content_length;
pub use error::ApiError;

use crate::blob::BlobStore;
use crate::config::Config;
use crate::db::{MetadataStore, StoreResult};
use crate::domain::{DomainError, Namespace};
use crate::index::IndexFiles;

/// Sets headers whose values are fixed text (security and caching
/// policies).
pub(crate) fn insert_static_headers(
    headers: &mut HeaderMap,
    values: impl IntoIterator<Item = (HeaderName, &'static str)>,
) {
    for (name, value) in values {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

/// How often a mirror document is rewritten while the database keeps
/// changing under it (see [`AppState::refresh_index_file`]).
pub(crate) const MIRROR_WRITE_ATTEMPTS: usize = 5;

/// Shared by every handler: one `Arc`, so that the clone axum makes for
/// each extractor and middleware is one atomic increment (a clone of the
/// fields themselves was about a tenth of an index request's time).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// What [`AppState`] shares.
#[derive(Clone)]
pub struct SharedState {
    pub store: Arc<MetadataStore>,
    pub blobs: BlobStore,
    pub index: IndexFiles,
    /// The Cargo registry's index mirror (`DATA/cargo-index/`).
    pub cargo_index: crate::index::cargo::CargoIndexFiles,
    pub config: Arc<Config>,
    /// Serializes index-file rewrites: each renders the database state after
    /// taking the lock, so a slower writer can never put back an older document.
    pub index_lock: Arc<tokio::sync::Mutex<()>>,
    /// Rendered index documents (see `index_cache` for freshness).
    pub index_cache: Arc<crate::index::cache::IndexCache>,
    /// Request counters for `/metrics`.
    pub metrics: Arc<crate::http::metrics::Metrics>,
    /// Signs index documents with the registry's key (`crate::index::signing`).
    pub signer: Arc<crate::index::signing::IndexSigner>,
    /// Locks out addresses that present too many bad tokens.
    pub auth_limiter: Arc<crate::auth::limit::AuthLimiter>,
    /// Per-user quota and grace period of unreferenced uploads.
    pub upload_limits: crate::http::uploads::UploadLimits,
    /// Uploads in progress, capped per user and in all.
    pub uploads: Arc<crate::http::uploads::UploadGate>,
}

impl AppState {
    pub fn new(shared: SharedState) -> AppState {
        AppState(Arc::new(shared))
    }

    /// Replaces the index cache. Entries never outlive a quarter of the
    /// signed documents' lifetime: the signer reuses a signature until half
    /// of it is left, so a cached answer always has a quarter left when sent.
    /// Within that, `ttl: None` keeps documents until this process changes
    /// the package (right when it alone writes the database); replicas
    /// sharing a database set how stale another's change may be seen.
    pub fn with_index_cache_ttl(mut self, ttl: Option<std::time::Duration>) -> AppState {
        let bound = self.signer.ttl() / 4;
        Arc::make_mut(&mut self.0).index_cache = Arc::new(crate::index::cache::IndexCache::new(
            Some(ttl.map_or(bound, |ttl| ttl.min(bound))),
            crate::INDEX_CACHE_CAPACITY,
        ));
        self
    }

    /// Replaces the limiter of bad-token attempts.
    pub fn with_auth_limiter(mut self, limiter: crate::auth::limit::AuthLimiter) -> AppState {
        Arc::make_mut(&mut self.0).auth_limiter = Arc::new(limiter);
        self
    }

    /// Sets the upload limits (the gate's caps included).
    pub fn with_upload_limits(mut self, limits: crate::http::uploads::UploadLimits) -> AppState {
        let shared = Arc::make_mut(&mut self.0);
        shared.uploads = Arc::new(crate::http::uploads::UploadGate::new(
            limits.max_concurrent,
            limits.max_per_user,
        ));
        shared.upload_limits = limits;
        self
    }

    /// Runs a blocking metadata call off the async workers.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&MetadataStore) -> StoreResult<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
            .map_err(ApiError::from)
    }

    /// Runs a blocking rule of [`crate::domain`] off the async workers.
    pub async fn domain<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&MetadataStore) -> Result<T, DomainError> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store))
            .await
            .map_err(|e| ApiError::internal(format!("database task failed: {e}")))?
            .map_err(ApiError::from)
    }

    /// Rewrites the index document of `name_norm` in `ns` after a change
    /// (see [`AppState::refresh_index_file`], [`cargo::refresh_index_file`]).
    pub async fn refresh_index(&self, ns: Namespace, name_norm: &str) {
        match ns {
            Namespace::Zoo => self.refresh_index_file(name_norm).await,
            Namespace::Cargo => cargo::refresh_index_file(self, name_norm).await,
        }
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

/// A namespace as a route serves it: the generic adapters ([`owners`],
/// [`yank`]) are mounted once per namespace.
pub trait Served: Send + Sync + 'static {
    const NS: Namespace;
}

/// The zoo API's routes.
pub struct Zoo;

impl Served for Zoo {
    const NS: Namespace = Namespace::Zoo;
}

/// The Cargo registry's routes.
pub struct Cargo;

impl Served for Cargo {
    const NS: Namespace = Namespace::Cargo;
}

/// All routes. Upload routes lift axum's default body limit: they stream and
/// enforce `Config::max_package_size` themselves.
pub fn router(state: AppState) -> Router {
    let uploads = Router::new()
        .route("/api/v1/blobs/{sha256}", put(api::blobs::upload))
        .route("/api/v1/packages/new", put(api::publish::publish))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/index/config.json", get(api::index::config))
        .route("/index/{*path}", get(api::index::document))
        .route("/blobs/{sha256}", get(api::blobs::download))
        .route("/api/v1/search", get(api::search::search))
        .route("/api/v1/me", get(api::me::me))
        .route("/api/v1/packages/{name}", get(api::packages::info))
        .route(
            "/api/v1/packages/{name}/owners",
            get(owners::list::<Zoo>)
                .put(owners::add::<Zoo>)
                .delete(owners::remove::<Zoo>),
        )
        .route(
            "/api/v1/packages/{name}/{version}/yank",
            axum::routing::delete(yank::yank::<Zoo>),
        )
        .route(
            "/api/v1/packages/{name}/{version}/unyank",
            put(yank::unyank::<Zoo>),
        )
        .route("/healthz", get(crate::http::health::healthz))
        .route("/metrics", get(crate::http::metrics::handler))
        .merge(uploads)
        .merge(crate::http::cargo::router(&state))
        .merge(crate::http::web::router())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::metrics::track,
        ))
        .with_state(state)
}

/// Re-signs every index document whose signature is past half its lifetime,
/// every quarter lifetime (at most hourly), for as long as the server runs.
pub async fn keep_index_fresh(state: AppState) {
    let period = (state.signer.ttl() / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let names = match state.db(|s| s.package_names()).await {
            Ok(names) => names,
            Err(e) => {
                tracing::error!("listing packages to re-sign the index: {}", e.detail);
                continue;
            }
        };
        for name in names {
            state.refresh_index_file(&name).await;
        }
    }
}

//! zoo's registry is also a Cargo registry (for Rust Link and Function
//! crates), under `/cargo/`: the sparse index at `/cargo/index/` and the web
//! API at `/cargo/api/v1/` (docs/api.md, "Cargo registry"). Crates share the
//! users, tokens, scopes, database and blob store with zoo packages and
//! have their own index; a crate and a zoo package of one name have one set
//! of owners.

pub mod download;
pub mod index;
pub mod publish;
pub mod receive;
pub mod search;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};

use crate::auth::Caller;
use crate::http::{ApiError, AppState};
use crate::http::{Cargo, owners};

/// The `/cargo/…` routes. With `--cargo-auth-required` every one of them,
/// `config.json` included, answers 401 without a valid token: cargo then
/// retries with the token (the Cargo book, "Registry Authentication").
pub fn router(state: &AppState) -> Router<AppState> {
    let upload = Router::new()
        .route("/cargo/api/v1/crates/new", put(publish::publish))
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .route("/cargo/index/config.json", get(index::config))
        .route("/cargo/index/{*path}", get(index::document))
        .route("/cargo/api/v1/crates", get(search::search))
        .route(
            "/cargo/api/v1/crates/{name}/{version}/download",
            get(download::download),
        )
        .route(
            "/cargo/api/v1/crates/{name}/{version}/yank",
            delete(crate::http::yank::yank::<crate::http::Cargo>),
        )
        .route(
            "/cargo/api/v1/crates/{name}/{version}/unyank",
            put(crate::http::yank::unyank::<crate::http::Cargo>),
        )
        .route(
            "/cargo/api/v1/crates/{name}/owners",
            get(owners::list::<Cargo>)
                .put(owners::add::<Cargo>)
                .delete(owners::remove::<Cargo>),
        )
        .merge(upload)
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            token_when_private,
        ))
}

async fn token_when_private(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if !state.config.cargo_auth_required {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    if let Err(refused) = Caller::from_request_parts(&mut parts, &state).await {
        return refused.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Re-renders and rewrites the index file of crate `name_norm` after a
/// change. The database is the source of truth (HTTP answers are rendered
/// from it; every file is rewritten at start-up), so a failure is logged.
pub async fn refresh_index_file(state: &AppState, name_norm: &str) {
    if let Err(e) = try_refresh_index_file(state, name_norm).await {
        tracing::error!(krate = %name_norm, "cargo index file not updated: {}", e.detail);
    }
}

async fn try_refresh_index_file(state: &AppState, name_norm: &str) -> Result<(), ApiError> {
    let _guard = state.index_lock.lock().await;
    // As for zoo packages: rewrite until the rendering is current, in case
    // another replica wrote an older one after ours.
    let render = async || {
        let name = name_norm.to_string();
        let (krate, versions) = state
            .db(move |s| Ok((s.cargo_crate(&name)?, s.cargo_versions(&name)?)))
            .await?;
        let document = crate::index::cargo::render(&versions)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok::<_, ApiError>(krate.map(|k| (k.name, document)))
    };
    let Some(mut current) = render().await? else {
        return Ok(());
    };
    for _ in 0..crate::http::MIRROR_WRITE_ATTEMPTS {
        let files = state.cargo_index.clone();
        let (name, document) = current.clone();
        tokio::task::spawn_blocking(move || files.write_document(&name, &document))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?
            .map_err(|e| {
                ApiError::internal(format!("writing the index file of `{name_norm}`: {e}"))
            })?;
        match render().await? {
            Some(now) if now != current => current = now,
            _ => return Ok(()),
        }
    }
    Ok(())
}

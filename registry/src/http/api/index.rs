//! `GET /index/config.json` and `GET /index/{prefix}/{name}` (signed by the
//! registry: `crate::index::signing`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

use crate::http::{ApiError, AppState};
use crate::index::cache::CachedDocument;
use crate::index::{config_json, etag, if_none_match, render};

pub async fn config(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        config_json(&state.config.base_url, &state.signer),
    )
        .into_response()
}

pub async fn document(
    State(state): State<AppState>,
    Path(path): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = path.rsplit('/').next().unwrap_or_default();
    let not_found = || ApiError::not_found(format!("no index document at `{path}`"));
    // Only the canonical path of a canonical name is served, as a file server would.
    if zoo_format::validate_name(name).is_err()
        || zoo_format::normalize_name(name) != name
        || zoo_format::index::index_path(name) != path
    {
        return Err(not_found());
    }
    let document = match state.index_cache.get(name) {
        Some(document) => document,
        None => match load(&state, name).await? {
            Some(document) => document,
            None => return Err(not_found()),
        },
    };
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let matched = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Some(if_none_match(v, document.etag.to_str().ok()?)))
        .unwrap_or(false);
    if matched {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [(header::ETAG, document.etag.clone()), cache],
        )
            .into_response());
    }
    Ok((
        [
            (header::ETAG, document.etag.clone()),
            cache,
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
        ],
        document.body.clone(),
    )
        .into_response())
}

/// Renders and signs the document of `name` from the database and caches it;
/// `None` when the package has no versions.
async fn load(state: &AppState, name: &str) -> Result<Option<Arc<CachedDocument>>, ApiError> {
    let ticket = state.index_cache.ticket();
    let owned = name.to_string();
    let versions = state.db(move |s| s.versions(&owned)).await?;
    if versions.is_empty() {
        return Ok(None);
    }
    let body = state
        .signed_index_document(name, &render(&versions))
        .await?;
    let tag = HeaderValue::from_str(&etag(body.as_bytes()))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(Some(state.index_cache.insert(
        ticket,
        name,
        body.into(),
        tag,
    )))
}

//! `GET /index/config.json` and `GET /index/{prefix}/{name}` (signed by the
//! registry: `crate::signing`).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};
use crate::index::{config_json, etag, if_none_match, render};

pub async fn config(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        config_json(&state.config.base_url, &state.signer.public_key()),
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
    let name = name.to_string();
    let lookup = name.clone();
    let versions = state.db(move |s| s.versions(&lookup)).await?;
    if versions.is_empty() {
        return Err(not_found());
    }
    let document = state
        .signed_index_document(&name, &render(&versions))
        .await?;
    let tag = etag(document.as_bytes());
    let tag_value = HeaderValue::from_str(&tag).map_err(|e| ApiError::internal(e.to_string()))?;
    let cache = (header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let matched = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match(v, &tag));
    if matched {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, tag_value), cache]).into_response());
    }
    Ok((
        [
            (header::ETAG, tag_value),
            cache,
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            ),
        ],
        document,
    )
        .into_response())
}

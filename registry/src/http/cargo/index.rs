//! `GET /cargo/index/config.json` and `GET /cargo/index/{prefix}/{name}`:
//! Cargo's sparse index, rendered from the database ([`crate::index::cargo`]).

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::{ApiError, AppState};
use crate::index::cargo::{config_json, index_path, render};
use crate::index::{etag, if_none_match};

pub async fn config(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        config_json(&state.config),
    )
        .into_response()
}

pub async fn document(
    State(state): State<AppState>,
    UrlPath(path): UrlPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = path.rsplit('/').next().unwrap_or_default().to_string();
    let not_found = || ApiError::not_found(format!("no crate index file at `{path}`"));
    // Only the canonical (lowercase) path answers, as from a file server.
    if zoo_format::validate_name(&name).is_err()
        || name.to_ascii_lowercase() != name
        || index_path(&name) != path
    {
        return Err(not_found());
    }
    let name_norm = zoo_format::normalize_name(&name);
    let (krate, versions) = state
        .db(move |s| Ok((s.cargo_crate(&name_norm)?, s.cargo_versions(&name_norm)?)))
        .await?;
    match krate {
        Some(krate) if krate.name.to_ascii_lowercase() == name && !versions.is_empty() => {}
        _ => return Err(not_found()),
    }
    let document = render(&versions)
        .map_err(|e| ApiError::internal(format!("a stored index line of `{name}`: {e}")))?;
    let tag = etag(document.as_bytes());
    let tag_value = HeaderValue::from_str(&tag).map_err(|e| ApiError::internal(e.to_string()))?;
    let cache = (
        header::CACHE_CONTROL,
        HeaderValue::from_static(if state.config.cargo_auth_required {
            "private, no-cache"
        } else {
            "no-cache"
        }),
    );
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

//! `GET`/`HEAD /blobs/{sha256}` and `PUT /api/v1/blobs/{sha256}`.

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use zoo_format::checksum::is_sha256_hex;

use crate::auth::{Caller, Scope};
use crate::http::{ApiError, AppState};
use crate::index::if_none_match;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

fn check_hash(sha256: &str) -> Result<(), ApiError> {
    if is_sha256_hex(sha256) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`{sha256}` is not a sha256 (64 lowercase hex digits)"
        )))
    }
}

/// Streams a blob; `Range` → 206 and `HEAD` come from [`crate::http::serve_blob::serve`].
pub async fn download(
    State(state): State<AppState>,
    Path(sha256): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    check_hash(&sha256)?;
    if state
        .blobs
        .size(&sha256)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .is_none()
    {
        return Err(ApiError::not_found(format!("no blob {sha256}")));
    }
    let etag = HeaderValue::from_str(&format!("\"{sha256}\""))
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let matched = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match(v, etag.to_str().unwrap_or_default()));
    if matched {
        return Ok((
            StatusCode::NOT_MODIFIED,
            [
                (header::ETAG, etag),
                (header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE)),
            ],
        )
            .into_response());
    }
    let mut response = crate::http::serve_blob::serve(&*state.blobs, &sha256, request)
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ApiError::not_found(format!("no blob {sha256}"))
            } else {
                ApiError::internal(format!("reading blob {sha256}: {e}"))
            }
        })?;
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag);
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    crate::http::serve_blob::inert_download_headers(headers);
    Ok(response)
}

/// Uploads a blob: hashed while streamed to disk, refused on mismatch.
/// 201 when stored, 200 when it was already there. A new blob counts
/// against the uploader's quota until a published version references it
/// (`crate::http::uploads`).
pub async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Path(sha256): Path<String>,
    request: Request,
) -> Result<Response, ApiError> {
    if !caller.has(Scope::PublishNew) && !caller.has(Scope::PublishUpdate) {
        return Err(ApiError::forbidden(
            "uploading blobs needs a token with the `publish-new` or `publish-update` scope",
        ));
    }
    check_hash(&sha256)?;
    let size = |size: u64| serde_json::json!({"sha256": sha256, "size": size});
    let limit = state.config.max_package_size;
    crate::http::api::publish::check_content_length(&request, limit)?;
    let receiving = state.uploads.admit(&caller.user)?;
    let existing = state
        .blobs
        .touch(&sha256)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    if let Some(existing) = existing {
        // Read (and drop) the body anyway so the client sees a clean answer
        // instead of a connection closed mid-upload.
        let mut body = request.into_body().into_data_stream();
        let mut received = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| ApiError::bad_request(format!("reading the body: {e}")))?;
            received += chunk.len() as u64;
            if received > limit {
                break;
            }
        }
        return Ok((StatusCode::OK, axum::Json(size(existing))).into_response());
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let room = crate::http::uploads::quota::room(&state, &caller.user, declared).await?;
    let staged = state
        .blobs
        .stage(
            request.into_body().into_data_stream(),
            limit.min(room),
            Some(&sha256),
        )
        .await;
    let staged = match staged {
        Err(crate::blob::BlobError::TooLarge { .. }) if room < limit => {
            return Err(crate::http::uploads::quota::exceeded(&state, &caller.user).await);
        }
        staged => staged?,
    };
    // The caps are on bodies being received, not on storing them.
    drop(receiving);
    let stored = staged.size;
    let created = state
        .blobs
        .persist(staged)
        .await
        .map_err(|e| ApiError::internal(format!("storing blob {sha256}: {e}")))?;
    if created {
        crate::http::uploads::quota::record(&state, &caller.user, &sha256, stored).await?;
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(size(stored))).into_response())
}

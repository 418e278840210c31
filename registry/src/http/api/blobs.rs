//! `GET`/`HEAD /blobs/{sha256}` and `PUT /api/v1/blobs/{sha256}`.

use axum::extract::FromRequestParts;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use zoo_format::checksum::is_sha256_hex;

use crate::auth::{Caller, Scope};
use crate::http::{ApiError, AppState};
use crate::index::if_none_match;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A private crate's `.crate` file: only the token holder's cache keeps it.
const PRIVATE_IMMUTABLE: &str = "private, max-age=31536000, immutable";

fn check_hash(sha256: &str) -> Result<(), ApiError> {
    if is_sha256_hex(sha256) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`{sha256}` is not a sha256 (64 lowercase hex digits)"
        )))
    }
}

/// Who may download a blob, and so how caches may keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Visibility {
    /// Anyone; shared caches may keep it forever.
    Public,
    /// Only callers with a valid token (a private registry's `.crate`).
    Private,
}

impl Visibility {
    fn cache_control(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Visibility::Public => IMMUTABLE,
            Visibility::Private => PRIVATE_IMMUTABLE,
        })
    }
}

/// With `--cargo-auth-required`, a blob that only crates reference is a
/// private crate's `.crate` file: `/cargo/` needs a token for it, and so
/// does this route (its checksum is no secret: it is in every Cargo.lock).
/// Blobs of zoo packages, and uploads no version references yet (a
/// publisher's `HEAD` before its `PUT`), stay public.
async fn visibility(
    state: &AppState,
    sha256: &str,
    request: Request,
) -> Result<(Visibility, Request), ApiError> {
    if !state.config.cargo_auth_required {
        return Ok((Visibility::Public, request));
    }
    let sha = sha256.to_string();
    let users = state.db(move |s| s.blob_users(&sha)).await?;
    if !users.cargo || users.zoo {
        return Ok((Visibility::Public, request));
    }
    let (mut parts, body) = request.into_parts();
    Caller::from_request_parts(&mut parts, state).await?;
    Ok((Visibility::Private, Request::from_parts(parts, body)))
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
    let (visibility, request) = visibility(&state, &sha256, request).await?;
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
                (header::CACHE_CONTROL, visibility.cache_control()),
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
    headers.insert(header::CACHE_CONTROL, visibility.cache_control());
    crate::http::serve_blob::inert_download_headers(headers);
    Ok(response)
}

/// Uploads a blob: hashed while streamed to disk, refused on mismatch.
/// 201 when stored, 200 when it was already there (after the body proved
/// to be that blob). A new blob counts against the uploader's quota from
/// before its body is read until a published version references it
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
    let limit = state.config.max_package_size;
    crate::http::api::publish::check_content_length(&request, limit)?;
    let receiving = state.uploads.admit(&caller.user)?;
    let stored = state
        .blobs
        .size(&sha256)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let (status, size) = match stored {
        Some(_) => (
            StatusCode::OK,
            upload_existing(&state, &sha256, request).await?,
        ),
        None => store_new(&state, &caller, &sha256, request, receiving).await?,
    };
    Ok((
        status,
        axum::Json(serde_json::json!({"sha256": sha256, "size": size})),
    )
        .into_response())
}

/// The upload of a blob that is already stored: the body is hashed (not
/// kept) and must be that blob (400 otherwise, and nothing changes); only
/// then is the stored blob touched, so that gc keeps it for the publish
/// that is about to reference it. Returns the blob's size.
async fn upload_existing(
    state: &AppState,
    sha256: &str,
    request: Request,
) -> Result<u64, ApiError> {
    let limit = state.config.max_package_size;
    let body = request.into_body().into_data_stream();
    crate::blob::verify_body(body, limit, sha256).await?;
    state
        .blobs
        .touch(sha256)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        // Deleted meanwhile (gc, expiry): the client uploads it again.
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "blob {sha256} was deleted meanwhile; upload it again"
            ))
        })
}

/// Stages, verifies and stores a new blob within the uploader's quota,
/// reserved before the body is read. Returns 201 (or 200 when a parallel
/// upload stored it first) and the size.
async fn store_new(
    state: &AppState,
    caller: &Caller,
    sha256: &str,
    request: Request,
    receiving: crate::http::uploads::UploadPermit,
) -> Result<(StatusCode, u64), ApiError> {
    use crate::http::uploads::quota;
    let limit = state.config.max_package_size;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let reservation = quota::reserve(state, &caller.user, sha256, declared).await?;
    let room = reservation.bytes;
    let staged = state
        .blobs
        .stage(
            request.into_body().into_data_stream(),
            limit.min(room),
            Some(sha256),
        )
        .await;
    let staged = match staged {
        Ok(staged) => staged,
        Err(crate::blob::BlobError::TooLarge { .. }) if room < limit => {
            return Err(quota::exceeded(reservation).await);
        }
        Err(e) => {
            reservation.cancel().await;
            return Err(e.into());
        }
    };
    // The caps are on bodies being received, not on storing them.
    drop(receiving);
    let size = staged.size;
    let created = match state.blobs.persist(staged).await {
        Ok(created) => created,
        Err(e) => {
            reservation.cancel().await;
            return Err(ApiError::internal(format!("storing blob {sha256}: {e}")));
        }
    };
    if !created {
        // Another upload stored it first and holds its record.
        reservation.cancel().await;
        return Ok((StatusCode::OK, size));
    }
    quota::record(reservation, size).await?;
    Ok((StatusCode::CREATED, size))
}

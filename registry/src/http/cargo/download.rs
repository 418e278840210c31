//! `GET /cargo/api/v1/crates/{name}/{version}/download`: the `.crate` file,
//! served from the content-addressed blob store by its recorded `cksum`.
//! Yanked versions stay downloadable (lockfiles may pin them).

use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use semver::Version;

use crate::http::{ApiError, AppState};

pub async fn download(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::not_found(format!("crate `{name}` has no version `{version}`"));
    let Ok(wanted) = Version::parse(&version) else {
        return Err(not_found());
    };
    let name_norm = zoo_format::normalize_name(&name);
    let versions = state.db(move |s| s.cargo_versions(&name_norm)).await?;
    let found = versions
        .iter()
        .find(|v| v.vers == wanted)
        .or_else(|| {
            versions
                .iter()
                .find(|v| v.vers.cmp_precedence(&wanted).is_eq())
        })
        .ok_or_else(not_found)?;
    let cksum = found.cksum.clone();
    let mut response = crate::http::serve_blob::serve(&*state.blobs, &cksum, request)
        .await
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ApiError::not_found(format!("the .crate file of `{name}@{version}` is missing"))
            } else {
                ApiError::internal(format!("reading blob {cksum}: {e}"))
            }
        })?;
    let headers = response.headers_mut();
    crate::http::serve_blob::inert_download_headers(headers);
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{cksum}\"")) {
        headers.insert(header::ETAG, etag);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/gzip"),
    );
    headers.insert(
        header::CACHE_CONTROL,
        // A private registry's crates must not land in shared caches.
        HeaderValue::from_static(if state.config.cargo_auth_required {
            "private, max-age=31536000, immutable"
        } else {
            "public, max-age=31536000, immutable"
        }),
    );
    Ok(response)
}

//! `PUT /api/v1/packages/new`: the body is the `.zoo` archive.
//!
//! Order: authenticate → stream the archive to a staged temp file (hashed,
//! size-capped) → validate it with `zoo_format::archive::read_listing` (400
//! naming the entry or manifest field) → check external blobs exist with the
//! listed sizes → ownership / existing version (403 / 409) → every
//! dependency is a package of this registry (400) → the publisher's
//! signature, if sent (`zoo-signing-key` + `zoo-signature` headers: 400 unless
//! it covers name, version and the archive's sha256) → store the archive
//! blob (fsync) → record the version in one transaction → rewrite the index
//! file. A refused publish records nothing and leaves no staged file.

use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use zoo_format::archive::{Limits, Listing, read_listing};
use zoo_format::index::{ArchiveRef, IndexEntry};
use zoo_format::signing::PackageSignature;

use crate::auth::Caller;
use crate::db::NewVersion;
use crate::domain::Namespace;
use crate::domain::publish as publish_rules;
use crate::http::{ApiError, AppState};

/// 413 up front when the declared body is over the limit.
pub fn check_content_length(request: &Request, limit: u64) -> Result<(), ApiError> {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(size) if size > limit => Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is {size} bytes; the limit is {limit} bytes"),
        )),
        _ => Ok(()),
    }
}

pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let rights = publish_rules::rights(&caller)?;
    let limit = state.config.max_package_size;
    check_content_length(&request, limit)?;
    let receiving = state.uploads.admit(&caller.user)?;
    let offered = offered_signature(request.headers())?;
    let staged = state
        .blobs
        .stage(request.into_body().into_data_stream(), limit, None)
        .await?;
    // The caps are on bodies being received, not on the checks after.
    drop(receiving);

    let path = staged.path().to_path_buf();
    let listing = tokio::task::spawn_blocking(move || {
        let file = std::fs::File::open(&path)?;
        Ok::<_, std::io::Error>(read_listing(
            std::io::BufReader::new(file),
            &Limits::default(),
        ))
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError::internal(format!("reading the staged archive: {e}")))?
    .map_err(|e| ApiError::bad_request(format!("invalid package archive: {e}")))?;

    check_external_blobs(&state, &listing).await?;

    let manifest = &listing.manifest;
    let name_norm = manifest.normalized_name();
    let version = manifest.package.version.clone();
    let (who, name, v) = (caller.clone(), name_norm.clone(), version.clone());
    state
        .domain(move |s| publish_rules::preflight(s, Namespace::Zoo, &who, rights, &name, &v))
        .await?;
    let dependencies: Vec<String> = manifest.dependencies.keys().cloned().collect();
    let kind = manifest.package.kind.as_str().to_string();
    let name = name_norm.clone();
    state
        .domain(move |s| {
            publish_rules::check_kind(s, &name, &kind)?;
            publish_rules::check_dependencies(s, dependencies.iter().map(String::as_str))
        })
        .await?;

    let archive = ArchiveRef {
        sha256: staged.sha256.clone(),
        size: staged.size,
    };
    let mut entry = IndexEntry::from_manifest(manifest, archive.clone(), listing.files.clone());
    if let Some(signature) = offered {
        check_signature(&signature, &entry)?;
        entry.signature = Some(signature);
    }
    let new = NewVersion {
        entry,
        description: manifest.package.description.clone(),
        keywords: manifest.package.keywords.clone(),
        readme: listing.readme.clone(),
        metrics: serde_json::to_value(
            manifest
                .model
                .as_ref()
                .map(|m| &m.metrics[..])
                .unwrap_or(&[]),
        )
        .map_err(|e| ApiError::internal(e.to_string()))?,
        manifest_text: listing.manifest_text.clone(),
    };

    state
        .blobs
        .persist(staged)
        .await
        .map_err(|e| ApiError::internal(format!("storing the archive: {e}")))?;
    let user = caller.user.clone();
    state.db(move |s| s.publish(&user, rights, &new)).await?;
    // Referenced now: they no longer count against the uploader's quota.
    let used: Vec<String> = listing.external_files().map(|f| f.sha256.clone()).collect();
    if let Err(e) = state.db(move |s| s.release_uploads(&used)).await {
        tracing::warn!(package = %name_norm, "upload records not released: {}", e.detail);
    }
    state.refresh_index_file(&name_norm).await;
    tracing::info!(package = %name_norm, %version, user = %caller.user.login, "published");

    Ok((
        StatusCode::CREATED,
        Json(serde_json::json!({
            "name": manifest.package.name,
            "version": version.to_string(),
            "archive_sha256": archive.sha256,
        })),
    ))
}

/// Header with the publisher's public key (`ed25519:…`).
pub const SIGNING_KEY_HEADER: &str = "zoo-signing-key";
/// Header with the publisher's signature of name, version and archive sha256.
pub const SIGNATURE_HEADER: &str = "zoo-signature";

/// The signature sent with the archive, if any; both headers or neither.
fn offered_signature(headers: &HeaderMap) -> Result<Option<PackageSignature>, ApiError> {
    let get = |name: &str| {
        headers
            .get(name)
            .map(|v| {
                v.to_str()
                    .map(str::to_owned)
                    .map_err(|_| ApiError::bad_request(format!("the `{name}` header is not ASCII")))
            })
            .transpose()
    };
    match (get(SIGNING_KEY_HEADER)?, get(SIGNATURE_HEADER)?) {
        (None, None) => Ok(None),
        (Some(key), Some(sig)) => Ok(Some(PackageSignature { key, sig })),
        _ => Err(ApiError::bad_request(format!(
            "a signed publish sends both `{SIGNING_KEY_HEADER}` and `{SIGNATURE_HEADER}`"
        ))),
    }
}

/// Refuses a signature that covers neither this whole entry (v2) nor its
/// name, version and archive (v1, from older clients): recording it would
/// only make every install of the version fail.
fn check_signature(signature: &PackageSignature, entry: &IndexEntry) -> Result<(), ApiError> {
    signature.verify_entry(entry).map(|_| ()).map_err(|e| {
        ApiError::bad_request(format!(
            "the package signature of {}@{} (archive sha256 {}) is invalid: {e}",
            zoo_format::normalize_name(&entry.name),
            entry.vers,
            entry.archive.sha256
        ))
    })
}

/// Every external file must already be stored as a blob of the listed size.
/// Each is touched (see [`crate::blob::BlobStore::touch`]) so gc keeps it,
/// and so are its upload records, so upload expiry keeps it too.
async fn check_external_blobs(state: &AppState, listing: &Listing) -> Result<(), ApiError> {
    let used: Vec<String> = listing.external_files().map(|f| f.sha256.clone()).collect();
    let now = crate::http::web::session::unix_now();
    state.db(move |s| s.touch_uploads(&used, now)).await?;
    for file in listing.external_files() {
        let stored = state
            .blobs
            .touch(&file.sha256)
            .await
            .map_err(|e| ApiError::internal(e.to_string()))?;
        match stored {
            Some(size) if size == file.size => {}
            Some(size) => {
                return Err(ApiError::bad_request(format!(
                    "external file `{}`: blob {} is {size} bytes but the archive lists {} bytes",
                    file.path, file.sha256, file.size
                )));
            }
            None => {
                return Err(ApiError::bad_request(format!(
                    "external file `{}` ({} bytes, sha256 {}) has not been uploaded; \
                     PUT it to /api/v1/blobs/{} first",
                    file.path, file.size, file.sha256, file.sha256
                )));
            }
        }
    }
    Ok(())
}

//! `GET /packages/{name}/{version}/files/{*path}`: one file of a published
//! version, so that a model card's relative links and images
//! ([`super::card_links`]) open. The path must be one the version's index
//! entry lists (that listing was checked at publish, so nothing else,
//! `..` included, is ever looked up); yanked versions still serve, as their
//! archives do. Zoo packages are public, like their pages and blobs (only
//! the Cargo side has a token-only mode), so no token is asked for.
//!
//! A file inside the `.zoo` archive is read from the archive blob with
//! zoo-format's safe reader (every entry checked against the listing, the
//! file capped at [`MAX_FROM_ARCHIVE`]); an external file streams from its
//! own blob like `/blobs/{sha256}` (with `Range`).
//!
//! These are a publisher's bytes on the registry's origin, so the answer
//! can never be an active document there: `nosniff`, a content type from a
//! small allowlist (text as `text/plain`, HTML included; PNG, JPEG, GIF,
//! WebP, SVG; anything else `application/octet-stream` as an attachment)
//! and [`FILE_POLICY`].

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use semver::Version;
use zoo_format::archive::{FileEntry, Limits, read_member};
use zoo_format::index::IndexEntry;

use super::PageError;
use super::layout::url_encode;
use super::package::find_version;
use crate::http::AppState;
use crate::index::if_none_match;

/// The largest in-archive file served (read into memory whole to be checked
/// against the listing). The packer keeps files under 1 MiB in the archive;
/// a publisher may have chosen a higher threshold, but not this high.
pub const MAX_FROM_ARCHIVE: u64 = 16 << 20;

/// A version's files never change (versions are immutable; yanking keeps
/// them), so caches may keep them.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// No script, no loads, a unique origin (`sandbox`): even an SVG or text
/// opened as a document cannot act as this registry. SVG is served as
/// `image/svg+xml` under it (as GitHub's raw file host does), because
/// model cards draw diagrams in SVG; in an `<img>` an SVG never runs
/// script, and opened directly the sandbox forbids it. Inline styles only
/// style the drawing: with no loads allowed they cannot send anything.
pub const FILE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

const TEXT: &str = "text/plain; charset=utf-8";

/// Extensions served as text (lowercase): shown, never run, HTML included.
const TEXT_EXTENSIONS: &[&str] = &[
    "txt", "md", "markdown", "rst", "toml", "json", "jsonl", "csv", "tsv", "yaml", "yml", "ini",
    "cfg", "log", "prototxt", "pbtxt", "py", "rs", "sh", "c", "h", "cpp", "hpp", "js", "css",
    "xml", "html", "htm",
];

/// Names without an extension that are text by convention.
const TEXT_NAMES: &[&str] = &[
    "LICENSE",
    "COPYING",
    "NOTICE",
    "AUTHORS",
    "README",
    "CHANGELOG",
];

/// The content type `path` is served with, and whether a browser should
/// show it (else it downloads).
pub fn content_type(path: &str) -> (&'static str, bool) {
    let name = path.rsplit('/').next().unwrap_or(path);
    let extension = name
        .rsplit_once('.')
        .filter(|(stem, _)| !stem.is_empty())
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let shown = match extension.as_deref() {
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        Some(ext) if TEXT_EXTENSIONS.contains(&ext) => TEXT,
        None if TEXT_NAMES.contains(&name) => TEXT,
        _ => return ("application/octet-stream", false),
    };
    (shown, true)
}

pub async fn file(
    State(state): State<AppState>,
    Path((name, version, path)): Path<(String, String, String)>,
    request: Request,
) -> Result<Response, PageError> {
    let (entry, file) = find_file(&state, &name, &version, &path).await?;
    let etag = HeaderValue::from_str(&format!("\"{}\"", file.sha256))
        .map_err(|e| PageError::from(crate::http::ApiError::internal(e.to_string())))?;
    let matched = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match(v, etag.to_str().unwrap_or_default()));
    let mut response = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else if file.external {
        external(&state, &entry, &file, request).await?
    } else {
        in_archive(&state, &entry, &file).await?
    };
    file_headers(response.headers_mut(), &file.path, etag);
    Ok(response)
}

/// `…/files` and `…/files/` name no file: the version's page, whose table
/// lists them (`#files`).
pub async fn listing(Path((name, version)): Path<(String, String)>) -> Redirect {
    Redirect::to(&format!(
        "/packages/{}/{}#files",
        url_encode(&name),
        url_encode(&version)
    ))
}

/// The listed file `path` of `name`@`version`, with the version's entry;
/// a 404 naming what is missing otherwise.
async fn find_file(
    state: &AppState,
    name: &str,
    version: &str,
    path: &str,
) -> Result<(IndexEntry, FileEntry), PageError> {
    let wanted = Version::parse(version)
        .map_err(|_| PageError::not_found(format!("`{version}` is not a version of `{name}`")))?;
    let lookup = zoo_format::normalize_name(name);
    let versions = state
        .db(move |s| match s.package(&lookup)? {
            Some(_) => s.versions(&lookup).map(Some),
            None => Ok(None),
        })
        .await?
        .ok_or_else(|| PageError::not_found(format!("there is no package named `{name}`")))?;
    let entry = find_version(&versions, &wanted)
        .ok_or_else(|| PageError::not_found(format!("`{name}` has no version {wanted}")))?
        .entry
        .clone();
    let file = entry
        .files
        .iter()
        .find(|f| f.path == path)
        .cloned()
        .ok_or_else(|| {
            PageError::not_found(format!(
                "`{name}` {} has no file `{path}` (its files are listed on /packages/{}/{})",
                entry.vers,
                zoo_format::normalize_name(name),
                entry.vers
            ))
        })?;
    Ok((entry, file))
}

/// An external file: its blob, streamed with `Range` support.
async fn external(
    state: &AppState,
    entry: &IndexEntry,
    file: &FileEntry,
    request: Request,
) -> Result<Response, PageError> {
    crate::http::serve_blob::serve(&*state.blobs, &file.sha256, request)
        .await
        .map_err(|e| {
            PageError::from(crate::http::ApiError::internal(format!(
                "reading the blob {} of `{}` in {} {}: {e}",
                file.sha256, file.path, entry.name, entry.vers
            )))
        })
}

/// An in-archive file: read out of the version's archive blob and checked
/// against the index entry's sha256 before it is sent.
async fn in_archive(
    state: &AppState,
    entry: &IndexEntry,
    file: &FileEntry,
) -> Result<Response, PageError> {
    let failed = |why: String| {
        PageError::from(crate::http::ApiError::internal(format!(
            "reading `{}` from the archive of {} {}: {why}",
            file.path, entry.name, entry.vers
        )))
    };
    if file.size > MAX_FROM_ARCHIVE {
        // No answer of this route holds it; the archive download does.
        return Err(PageError::not_found(format!(
            "`{}` is {} bytes inside the archive of {} {}; files over {MAX_FROM_ARCHIVE} \
             bytes are not shown one by one: download the archive",
            file.path, file.size, entry.name, entry.vers
        )));
    }
    let wanted = file.path.clone();
    let bytes = crate::blob::sync_read::read_blob(&*state.blobs, &entry.archive.sha256, move |r| {
        read_member(r, &wanted, MAX_FROM_ARCHIVE, &Limits::default())
    })
    .await
    .map_err(|e| failed(e.to_string()))?
    .map_err(|e| failed(e.to_string()))?
    .ok_or_else(|| failed("the archive does not hold it".to_string()))?;
    if zoo_format::checksum::sha256_hex(&bytes) != file.sha256 {
        return Err(failed(format!(
            "its content is not the listed sha256 {}",
            file.sha256
        )));
    }
    Ok((StatusCode::OK, Body::from(bytes)).into_response())
}

/// What every answer of this route carries (304s included): the type from
/// the allowlist, the inert policy, caching by the file's sha256.
fn file_headers(headers: &mut HeaderMap, path: &str, etag: HeaderValue) {
    let (content_type, shown) = content_type(path);
    crate::http::insert_static_headers(
        headers,
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, FILE_POLICY),
            (
                header::CONTENT_DISPOSITION,
                if shown { "inline" } else { "attachment" },
            ),
            (header::CACHE_CONTROL, IMMUTABLE),
        ],
    );
    headers.insert(header::ETAG, etag);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_inert_types_are_named() {
        for (path, expected) in [
            ("labels.txt", TEXT),
            ("docs/Card.MD", TEXT),
            ("zoo.toml", TEXT),
            ("meta/config.json", TEXT),
            ("data.csv", TEXT),
            ("LICENSE", TEXT),
            ("page.html", TEXT),
            ("x.HTM", TEXT),
            ("docs/arch.png", "image/png"),
            ("a.JPG", "image/jpeg"),
            ("a.jpeg", "image/jpeg"),
            ("a.gif", "image/gif"),
            ("a.webp", "image/webp"),
            ("diagram.svg", "image/svg+xml"),
        ] {
            assert_eq!(content_type(path), (expected, true), "{path}");
        }
        for path in [
            "weights.safetensors",
            "model.pt",
            "x.xhtml",
            "x.html.bin",
            ".html",
            "Makefile",
            "noext",
        ] {
            assert_eq!(
                content_type(path),
                ("application/octet-stream", false),
                "{path}"
            );
        }
    }
}

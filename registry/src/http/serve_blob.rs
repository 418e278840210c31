//! Blob downloads as HTTP answers, for any [`BlobBackend`]: files through
//! tower-http's file server, other backends streamed with one `Range`.

use std::io;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use crate::blob::BlobBackend;

/// Bytes per read of a stored blob. tower-http's 64 KiB default makes a
/// 553 MB blob cost about 8,400 blocking-pool round trips; 1 MiB reads
/// halve the server's CPU time per download.
const READ_CHUNK: usize = 1 << 20;

/// Blobs are whatever bytes a publisher uploaded: a browser must neither
/// sniff them into HTML nor run them as this registry's origin.
pub fn inert_download_headers(headers: &mut HeaderMap) {
    super::insert_static_headers(
        headers,
        [
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; sandbox",
            ),
            (header::CONTENT_DISPOSITION, "attachment"),
        ],
    );
}

/// Answers `GET`/`HEAD` for a stored blob (with `Range`); `NotFound` when
/// it is not stored.
pub async fn serve(
    blobs: &dyn BlobBackend,
    sha256: &str,
    request: Request,
) -> io::Result<Response> {
    let Some(path) = blobs.local_path(sha256) else {
        return serve_stream(
            blobs,
            sha256,
            request.method(),
            request.headers().get(header::RANGE),
        )
        .await;
    };
    let served = ServeFile::new(path)
        .with_buf_chunk_size(READ_CHUNK)
        .oneshot(request)
        .await
        .map_err(io::Error::other)?;
    if served.status() == StatusCode::NOT_FOUND {
        return Err(io::Error::new(io::ErrorKind::NotFound, sha256.to_string()));
    }
    Ok(served.map(Body::new))
}

/// One range at most (others get the whole blob, as RFC 9110 allows).
async fn serve_stream(
    blobs: &dyn BlobBackend,
    sha256: &str,
    method: &Method,
    range: Option<&HeaderValue>,
) -> io::Result<Response> {
    let size = blobs
        .size(sha256)
        .await?
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, sha256.to_string()))?;
    let wanted = match range.and_then(|r| r.to_str().ok()) {
        Some(spec) => match parse_range(spec, size) {
            Ok(wanted) => wanted,
            Err(()) => {
                return Response::builder()
                    .status(StatusCode::RANGE_NOT_SATISFIABLE)
                    .header(header::CONTENT_RANGE, format!("bytes */{size}"))
                    .body(Body::empty())
                    .map_err(io::Error::other);
            }
        },
        None => None,
    };
    let span = wanted.clone().unwrap_or(0..size);
    let mut builder = Response::builder()
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, span.end - span.start);
    if wanted.is_some() {
        builder = builder.status(StatusCode::PARTIAL_CONTENT).header(
            header::CONTENT_RANGE,
            format!("bytes {}-{}/{size}", span.start, span.end.saturating_sub(1)),
        );
    }
    let body = if method == Method::HEAD || span.is_empty() {
        Body::empty()
    } else {
        Body::from_stream(blobs.get(sha256, wanted).await?)
    };
    builder.body(body).map_err(io::Error::other)
}
/// `bytes=a-b`, `bytes=a-`, `bytes=-n` against an object of `size` bytes:
/// `Ok(None)` for the whole object (absent, multiple or unparsable ranges),
/// `Err` when unsatisfiable.
fn parse_range(spec: &str, size: u64) -> Result<Option<std::ops::Range<u64>>, ()> {
    let Some(spec) = spec.trim().strip_prefix("bytes=") else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((start, end)) = spec.split_once('-') else {
        return Ok(None);
    };
    let (start, end) = (start.trim(), end.trim());
    let range = if start.is_empty() {
        let Ok(n) = end.parse::<u64>() else {
            return Ok(None);
        };
        if n == 0 {
            return Err(());
        }
        size.saturating_sub(n)..size
    } else {
        let Ok(start) = start.parse::<u64>() else {
            return Ok(None);
        };
        let end = if end.is_empty() {
            size
        } else {
            match end.parse::<u64>() {
                Ok(end) if end >= start => (end + 1).min(size),
                _ => return Ok(None),
            }
        };
        if start >= size {
            return Err(());
        }
        start..end
    };
    Ok(Some(range))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Ok(Some(0..10)));
        assert_eq!(parse_range("bytes=90-", 100), Ok(Some(90..100)));
        assert_eq!(parse_range("bytes=-5", 100), Ok(Some(95..100)));
        assert_eq!(parse_range("bytes=50-500", 100), Ok(Some(50..100)));
        assert_eq!(parse_range("bytes=100-", 100), Err(()));
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ok(None));
        assert_eq!(parse_range("items=0-1", 100), Ok(None));
    }
}

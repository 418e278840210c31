//! Receiving cargo's publish body (u32 LE length + JSON metadata + u32 LE
//! length + `.crate` bytes) without holding it in memory: the metadata is
//! read into memory (capped at [`MAX_METADATA`]), and the `.crate` bytes are
//! streamed into a staged blob, hashed on the way, so its sha256 is the
//! `cksum` and memory stays flat however many uploads are in flight.

use axum::body::{Body, Bytes};
use axum::http::StatusCode;
use futures_util::{Stream, StreamExt};

use crate::blob::{BlobError, BlobStore, StagedBlob};
use crate::http::ApiError;

/// Largest accepted JSON metadata (cargo sends a few KiB).
pub const MAX_METADATA: u64 = 4 << 20;

/// A received publish request.
#[derive(Debug)]
pub struct Received {
    /// The JSON metadata, unparsed.
    pub metadata: Vec<u8>,
    /// The `.crate` file, staged; its `sha256` is the cksum.
    pub krate: StagedBlob,
}

fn malformed(detail: String) -> ApiError {
    ApiError::bad_request(format!("malformed publish request: {detail}"))
}

fn too_large(total: u64, limit: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("the publish request declares {total} bytes; the limit is {limit} bytes"),
    )
}

/// Reads from `body` until `buffer` holds `want` bytes; `false` at its end.
async fn fill<S>(body: &mut S, buffer: &mut Vec<u8>, want: usize) -> Result<bool, ApiError>
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    while buffer.len() < want {
        match body.next().await {
            Some(chunk) => {
                let chunk = chunk
                    .map_err(|e| ApiError::bad_request(format!("reading the request body: {e}")))?;
                buffer.extend_from_slice(&chunk);
            }
            None => return Ok(false),
        }
    }
    Ok(true)
}

/// Reads a little-endian u32 length at `at`, reading the body as needed.
async fn length<S>(
    body: &mut S,
    buffer: &mut Vec<u8>,
    at: usize,
    what: &str,
) -> Result<u64, ApiError>
where
    S: Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    if !fill(body, buffer, at + 4).await? {
        return Err(malformed(format!(
            "the body ends before the length of the {what}"
        )));
    }
    let mut bytes = [0u8; 4];
    bytes.copy_from_slice(&buffer[at..at + 4]);
    Ok(u64::from(u32::from_le_bytes(bytes)))
}

/// Receives the body of `PUT /cargo/api/v1/crates/new`, refusing more than
/// `limit` bytes in all (413) and any layout error (400, "malformed publish
/// request"). A refused body leaves no staged file.
pub async fn receive(blobs: &BlobStore, body: Body, limit: u64) -> Result<Received, ApiError> {
    let mut body = body.into_data_stream();
    let mut buffer = Vec::new();
    let json_len = length(&mut body, &mut buffer, 0, "JSON metadata").await?;
    if json_len > MAX_METADATA.min(limit) {
        return Err(too_large(json_len + 4, limit));
    }
    let json_end = 4 + json_len as usize;
    if !fill(&mut body, &mut buffer, json_end).await? {
        return Err(malformed(format!(
            "the JSON metadata is declared as {json_len} bytes but only {} follow",
            buffer.len() - 4
        )));
    }
    let krate_len = length(&mut body, &mut buffer, json_end, ".crate file").await?;
    let total = json_end as u64 + 4 + krate_len;
    if total > limit {
        return Err(too_large(total, limit));
    }
    let metadata = buffer[4..json_end].to_vec();
    let already = Bytes::from(buffer.split_off(json_end + 4));
    let rest = futures_util::stream::iter([Ok::<_, axum::Error>(already)]).chain(body);
    // One byte over the declared length is enough to know there is extra.
    let staged = blobs.stage(rest, krate_len, None).await;
    let krate = match staged {
        Err(BlobError::TooLarge { .. }) => {
            return Err(malformed(format!(
                "unexpected bytes after the .crate file (declared as {krate_len} bytes)"
            )));
        }
        Err(BlobError::Body(e)) => {
            return Err(ApiError::bad_request(format!(
                "reading the request body: {e}"
            )));
        }
        staged => staged?,
    };
    if krate.size < krate_len {
        return Err(malformed(format!(
            "the .crate file is declared as {krate_len} bytes but only {} follow",
            krate.size
        )));
    }
    Ok(Received { metadata, krate })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &[u8], krate: &[u8], extra: &[u8]) -> Body {
        let mut out = (json.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(json);
        out.extend_from_slice(&(krate.len() as u32).to_le_bytes());
        out.extend_from_slice(krate);
        out.extend_from_slice(extra);
        // Delivered a few bytes at a time, as a slow client would.
        let chunks: Vec<Result<Bytes, std::io::Error>> = out
            .chunks(3)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        Body::from_stream(futures_util::stream::iter(chunks))
    }

    #[tokio::test]
    async fn streams_the_crate_into_a_staged_blob_and_checks_the_layout() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = BlobStore::open(dir.path()).unwrap();
        let got = receive(&blobs, body(b"{\"a\":1}", b"crate bytes", b""), 1000)
            .await
            .unwrap();
        assert_eq!(got.metadata, b"{\"a\":1}");
        assert_eq!(got.krate.size, 11);
        assert_eq!(
            got.krate.sha256,
            zoo_format::checksum::sha256_hex(b"crate bytes")
        );
        assert_eq!(std::fs::read(got.krate.path()).unwrap(), b"crate bytes");
        drop(got);

        let e = receive(&blobs, body(b"{}", b"crate", b"!"), 1000)
            .await
            .unwrap_err();
        assert!(e.detail.contains("unexpected bytes after"), "{}", e.detail);
        let mut short = (2u32).to_le_bytes().to_vec();
        short.extend_from_slice(b"{}");
        short.extend_from_slice(&(9u32).to_le_bytes());
        short.extend_from_slice(b"abc");
        let e = receive(&blobs, Body::from(short), 1000).await.unwrap_err();
        assert!(
            e.detail.contains("declared as 9 bytes but only 3"),
            "{}",
            e.detail
        );
        let e = receive(&blobs, Body::from(vec![1u8, 0]), 1000)
            .await
            .unwrap_err();
        assert!(
            e.detail.contains("malformed publish request"),
            "{}",
            e.detail
        );
        let e = receive(&blobs, body(b"{}", &[0u8; 100], b""), 50)
            .await
            .unwrap_err();
        assert_eq!(e.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", e.detail);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0,
            "a refused body leaves no staged file"
        );
    }
}

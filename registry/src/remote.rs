//! S3-compatible object storage (`--blobs s3://bucket/prefix`) through the
//! `object_store` crate: blobs under `blobs/sha256/ab/<hex>`, and the index
//! mirrors under `index/` and `cargo-index/` so a CDN or static server can
//! serve them straight from the bucket.
//!
//! Keys are content addresses, so two writers of one key write the same
//! bytes and no conditional put is needed (some servers, Garage among them,
//! ignore `If-None-Match`); what a published version refers to is decided
//! by the database alone.

use std::io;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use futures_util::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload, WriteMultipart,
};
use tokio::io::AsyncReadExt;

/// Files up to this size go up in one `PUT`; larger ones as multipart
/// uploads of parts this big.
const PART: usize = 16 << 20;

/// An open bucket (already narrowed to the URL's prefix).
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket/prefix` as given, for messages.
    pub url: String,
}

pub fn to_io(e: object_store::Error) -> io::Error {
    match e {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, e),
        e => io::Error::other(e),
    }
}

impl Bucket {
    /// Opens `s3://bucket[/prefix]`. Credentials, region and endpoint come
    /// from the usual `AWS_*` variables (`AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, `AWS_ENDPOINT`,
    /// `AWS_ALLOW_HTTP=true` for a plain-http server on a private network).
    pub fn open(url: &str) -> Result<Bucket, String> {
        let rest = url
            .strip_prefix("s3://")
            .ok_or_else(|| format!("`{url}` is not an s3:// URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("`{url}` names no bucket"));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if std::env::var("AWS_ENDPOINT").is_ok_and(|e| e.starts_with("http://")) {
            // A path-style plain-http endpoint (a local S3-compatible server).
            builder = builder.with_allow_http(true);
        }
        let store = builder
            .build()
            .map_err(|e| format!("opening `{url}`: {e}"))?;
        let prefix = prefix.trim_matches('/');
        let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
            Arc::new(store)
        } else {
            Arc::new(PrefixStore::new(store, prefix))
        };
        Ok(Bucket {
            store,
            url: url.to_string(),
        })
    }

    pub fn blob_key(sha256: &str) -> Key {
        Key::from(format!("blobs/sha256/{}/{sha256}", &sha256[..2]))
    }

    /// The object's size, `None` if it does not exist.
    pub async fn size(&self, key: &Key) -> io::Result<Option<u64>> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(to_io(e)),
        }
    }

    /// Uploads a local file to `key` (multipart above [`PART`] bytes).
    pub async fn upload_file(&self, key: &Key, file: &std::path::Path) -> io::Result<()> {
        let mut source = tokio::fs::File::open(file).await?;
        let len = source.metadata().await?.len();
        if len <= PART as u64 {
            let bytes = tokio::fs::read(file).await?;
            self.store
                .put(key, PutPayload::from(bytes))
                .await
                .map_err(to_io)?;
            return Ok(());
        }
        let upload = self.store.put_multipart(key).await.map_err(to_io)?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
        let mut buf = vec![0u8; 1 << 20];
        let copied: io::Result<()> = async {
            loop {
                let n = source.read(&mut buf).await?;
                if n == 0 {
                    return Ok(());
                }
                writer.wait_for_capacity(4).await.map_err(to_io)?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match copied {
            Ok(()) => writer.finish().await.map(|_| ()).map_err(to_io),
            Err(e) => {
                let _ = writer.abort().await;
                Err(e)
            }
        }
    }

    /// Writes a small document with the given content type and
    /// `Cache-Control` (what a CDN serving the bucket passes on).
    pub async fn put_document(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &'static str,
        cache_control: &'static str,
    ) -> io::Result<()> {
        let attributes = Attributes::from_iter([
            (Attribute::ContentType, content_type),
            (Attribute::CacheControl, cache_control),
        ]);
        let options = PutOptions {
            attributes,
            ..Default::default()
        };
        self.store
            .put_opts(&Key::from(key), PutPayload::from(bytes), options)
            .await
            .map(|_| ())
            .map_err(to_io)
    }

    /// A small document's bytes, or `None` when there is no such object.
    pub async fn get_document(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match self.store.get(&Key::from(key)).await {
            Ok(result) => Ok(Some(result.bytes().await.map_err(to_io)?.to_vec())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(to_io(e)),
        }
    }

    /// The object's bytes as a stream (for export and fsck).
    pub async fn read(
        &self,
        key: &Key,
    ) -> io::Result<impl futures_util::Stream<Item = io::Result<axum::body::Bytes>> + use<>> {
        let result = self.store.get(key).await.map_err(to_io)?;
        Ok(result.into_stream().map_err(to_io))
    }

    /// Every key under `prefix` with its size.
    pub async fn list(&self, prefix: &str) -> io::Result<Vec<(String, u64)>> {
        let prefix = Key::from(prefix);
        self.store
            .list(Some(&prefix))
            .map_ok(|meta| (meta.location.to_string(), meta.size))
            .try_collect()
            .await
            .map_err(to_io)
    }

    pub async fn delete(&self, key: &Key) -> io::Result<()> {
        self.store.delete(key).await.map_err(to_io)
    }

    /// Answers a `GET`/`HEAD` for the object with `Range` support (one
    /// range; others get the whole object, as RFC 9110 allows).
    pub async fn serve(
        &self,
        key: &Key,
        method: &Method,
        range: Option<&HeaderValue>,
    ) -> io::Result<Response> {
        let size = self
            .size(key)
            .await?
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, key.to_string()))?;
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
            let options = GetOptions {
                range: wanted.map(GetRange::Bounded),
                ..Default::default()
            };
            let result = self.store.get_opts(key, options).await.map_err(to_io)?;
            Body::from_stream(result.into_stream())
        };
        builder.body(body).map_err(io::Error::other)
    }
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

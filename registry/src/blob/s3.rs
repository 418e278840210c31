//! Blobs in S3-compatible object storage (`--blobs s3://bucket/prefix`) through the
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

use std::ops::Range;

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::prefix::PrefixStore;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutOptions,
    PutPayload, WriteMultipart,
};
use zoo_format::checksum::is_sha256_hex;

use super::{BlobBackend, ByteStream, IoFuture, ListedBlob, StagedBlob, claimed_hash};
use tokio::io::AsyncReadExt;

/// Files up to this size go up in one `PUT`; larger ones as multipart
/// uploads of parts this big.
const PART: usize = 16 << 20;

/// An open bucket (already narrowed to the URL's prefix).
#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    /// `s3://bucket/prefix` as given, for messages.
    pub url: Arc<str>,
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
            url: url.into(),
        })
    }

    pub fn blob_key(sha256: &str) -> Key {
        let prefix = sha256.get(..2).unwrap_or_default();
        Key::from(format!("blobs/sha256/{prefix}/{sha256}"))
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
    ) -> io::Result<impl futures_util::Stream<Item = io::Result<bytes::Bytes>> + use<>> {
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
}

/// The blob backend on a bucket. Objects cannot be touched: `touch` only
/// reports the size, and `gc` (which works on local data directories)
/// does not run on a bucket.
#[derive(Debug, Clone)]
pub struct S3Blobs {
    bucket: Bucket,
}

impl S3Blobs {
    pub fn new(bucket: Bucket) -> S3Blobs {
        S3Blobs { bucket }
    }
}

/// The hash a blob key claims: `blobs/sha256/{2 hex}/{64 hex}`.
pub fn claimed_key(key: &str) -> Option<&str> {
    let parts: Vec<&str> = key.strip_prefix("blobs/")?.split('/').collect();
    claimed_hash(&parts)
}

impl BlobBackend for S3Blobs {
    fn put(&self, mut staged: StagedBlob) -> IoFuture<'_, bool> {
        Box::pin(async move {
            let Some(temp) = staged.take_file() else {
                return Ok(false);
            };
            let key = Bucket::blob_key(&staged.sha256);
            let result = match self.bucket.size(&key).await {
                Ok(Some(_)) => Ok(false),
                Ok(None) => self.bucket.upload_file(&key, &temp).await.map(|()| true),
                Err(e) => Err(e),
            };
            let _ = tokio::fs::remove_file(&temp).await;
            result
        })
    }

    fn size<'a>(&'a self, sha256: &'a str) -> IoFuture<'a, Option<u64>> {
        Box::pin(async move {
            if !is_sha256_hex(sha256) {
                return Ok(None);
            }
            self.bucket.size(&Bucket::blob_key(sha256)).await
        })
    }

    fn touch<'a>(&'a self, sha256: &'a str) -> IoFuture<'a, Option<u64>> {
        self.size(sha256)
    }

    fn get<'a>(&'a self, sha256: &'a str, range: Option<Range<u64>>) -> IoFuture<'a, ByteStream> {
        Box::pin(async move {
            let options = GetOptions {
                range: range.map(GetRange::Bounded),
                ..Default::default()
            };
            let result = self
                .bucket
                .store
                .get_opts(&Bucket::blob_key(sha256), options)
                .await
                .map_err(to_io)?;
            Ok(result.into_stream().map_err(to_io).boxed())
        })
    }

    fn delete<'a>(&'a self, sha256: &'a str) -> IoFuture<'a, ()> {
        Box::pin(async move {
            if !is_sha256_hex(sha256) {
                return Ok(());
            }
            match self.bucket.delete(&Bucket::blob_key(sha256)).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn list(&self) -> IoFuture<'_, Vec<ListedBlob>> {
        Box::pin(async move {
            Ok(self
                .bucket
                .list("blobs/")
                .await?
                .into_iter()
                .map(|(key, size)| ListedBlob {
                    sha256: claimed_key(&key).map(str::to_string),
                    key,
                    size,
                })
                .collect())
        })
    }

    fn local_path(&self, _sha256: &str) -> Option<std::path::PathBuf> {
        None
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            self.bucket
                .size(&Key::from("healthz"))
                .await
                .map(drop)
                .map_err(|e| format!("the bucket {} does not answer: {e}", self.bucket.url))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::claimed_key;

    #[test]
    fn blob_keys() {
        let sha = "ab".to_string() + &"0".repeat(62);
        assert_eq!(
            claimed_key(&format!("blobs/sha256/ab/{sha}")),
            Some(sha.as_str())
        );
        assert_eq!(claimed_key(&format!("blobs/sha256/cd/{sha}")), None);
        assert_eq!(claimed_key("blobs/other"), None);
    }
}

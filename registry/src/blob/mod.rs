//! Content-addressed blobs: files `DATA/blobs/sha256/ab/<hex>` ([`fs`],
//! the default) or objects `blobs/sha256/ab/<hex>` in an S3-compatible
//! bucket ([`s3`]), both behind [`BlobBackend`] so that no caller branches
//! on where blobs live. No HTTP here: the http layer turns reads into
//! responses.
//!
//! A blob is streamed into a temporary file under `DATA/tmp` while it is
//! hashed and fsynced ([`BlobStore::stage`]), then handed to the backend,
//! which stores it without ever overwriting a stored blob: readers never see
//! a partial one, and since the key is the content's hash a racing upload of
//! the same key writes the same bytes.

pub mod fs;
pub mod s3;
pub mod sync_read;

use std::io;
use std::ops::{Deref, Range};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use zoo_format::checksum::to_hex;

/// Bytes buffered before each write to the staging file.
pub(crate) const WRITE_BUFFER: usize = 1 << 20;

/// A blob's bytes, chunk by chunk.
pub type ByteStream = BoxStream<'static, io::Result<Bytes>>;

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the body is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the body's sha256 is {actual}, not {expected}")]
    Mismatch { expected: String, actual: String },
    #[error("reading the request body: {0}")]
    Body(String),
    #[error("blob storage: {0}")]
    Io(#[from] io::Error),
}

/// A stored blob as a listing sees it (fsck checks every one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    /// Where the backend keeps it (file path or object key), for messages.
    pub key: String,
    /// The hash its location claims; `None` when it is not at
    /// `sha256/{first 2 hex}/{64 hex}`.
    pub sha256: Option<String>,
    pub size: u64,
}

/// What a backend's operations return: boxed, so that the trait can be
/// used as `dyn BlobBackend`.
pub type IoFuture<'a, T> = BoxFuture<'a, io::Result<T>>;

/// Where blobs are kept. Callers pass canonical sha256 hex (checked with
/// [`zoo_format::checksum::is_sha256_hex`]); a new backend implements this
/// and is chosen in [`crate::backends`].
pub trait BlobBackend: Send + Sync + std::fmt::Debug {
    /// Stores a staged (hashed, synced) blob under its hash. Returns whether
    /// it was newly created (`false`: an identical blob was kept).
    fn put(&self, staged: StagedBlob) -> IoFuture<'_, bool>;

    /// The blob's size if it is stored.
    fn size<'a>(&'a self, sha256: &'a str) -> IoFuture<'a, Option<u64>>;

    /// Like [`BlobBackend::size`], and marks the blob as just used where the
    /// backend can: publishing touches every blob it is about to reference,
    /// so `gc` (which deletes only unreferenced blobs untouched for its
    /// grace period) cannot delete them before the database commit.
    fn touch<'a>(&'a self, sha256: &'a str) -> IoFuture<'a, Option<u64>>;

    /// The blob's bytes (those in `range` when given, which must lie within
    /// the blob); `NotFound` when it is not stored.
    fn get<'a>(&'a self, sha256: &'a str, range: Option<Range<u64>>) -> IoFuture<'a, ByteStream>;

    /// Deletes a stored blob; nothing to do when it is absent.
    fn delete<'a>(&'a self, sha256: &'a str) -> IoFuture<'a, ()>;

    /// Every stored blob (for fsck).
    fn list(&self) -> IoFuture<'_, Vec<ListedBlob>>;

    /// A plain file holding the blob, when the backend keeps blobs as files
    /// (the http layer then serves it with its file server's range and
    /// conditional-request support).
    fn local_path(&self, sha256: &str) -> Option<PathBuf>;

    /// `Err(reason)` when the backend does not answer (health checks).
    fn check(&self) -> BoxFuture<'_, Result<(), String>>;
}

/// The hash a blob's relative location claims: `sha256/{2 hex}/{64 hex}`
/// with a matching prefix (the same layout on disk and in a bucket).
pub fn claimed_hash<'a>(parts: &[&'a str]) -> Option<&'a str> {
    match parts {
        ["sha256", prefix, name]
            if zoo_format::checksum::is_sha256_hex(name)
                && prefix.len() == 2
                && name.starts_with(prefix) =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// The blob backend with its staging directory for uploads in progress.
/// Dereferences to the backend, so callers write `blobs.size(…)`.
#[derive(Debug, Clone)]
pub struct BlobStore {
    /// Shared, so that cloning the store (once per request, with the
    /// app state) allocates nothing.
    tmp: Arc<Path>,
    backend: Arc<dyn BlobBackend>,
}

impl Deref for BlobStore {
    type Target = dyn BlobBackend;

    fn deref(&self) -> &Self::Target {
        &*self.backend
    }
}

/// A fully received, hashed and synced upload that is not yet in place.
/// Dropping it deletes the temporary file.
#[derive(Debug)]
pub struct StagedBlob {
    path: Option<PathBuf>,
    pub sha256: String,
    pub size: u64,
}

impl StagedBlob {
    /// The temporary file (for validation before it is stored).
    pub fn path(&self) -> &Path {
        self.path.as_deref().unwrap_or(Path::new(""))
    }

    /// Takes the temporary file over (the caller deletes it); `None` when
    /// it was already taken.
    pub(crate) fn take_file(&mut self) -> Option<PathBuf> {
        self.path.take()
    }
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl BlobStore {
    /// Blobs in `DATA/blobs`, uploads staged in `DATA/tmp`.
    pub fn open(data_dir: &Path) -> io::Result<BlobStore> {
        let backend = fs::FsBlobs::open(data_dir)?;
        BlobStore::with_backend(data_dir, Arc::new(backend))
    }

    /// Blobs in `bucket`; uploads are still staged in `DATA/tmp`.
    pub fn open_remote(data_dir: &Path, bucket: s3::Bucket) -> io::Result<BlobStore> {
        BlobStore::with_backend(data_dir, Arc::new(s3::S3Blobs::new(bucket)))
    }

    /// Any backend, with uploads staged in `DATA/tmp`.
    pub fn with_backend(data_dir: &Path, backend: Arc<dyn BlobBackend>) -> io::Result<BlobStore> {
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        Ok(BlobStore {
            tmp: tmp.into(),
            backend,
        })
    }

    /// Deletes leftovers of uploads interrupted by a crash (`DATA/tmp/*`).
    /// Only a starting server may do this: admin commands leave the
    /// uploads of a running one alone.
    pub fn remove_leftovers(&self) -> io::Result<()> {
        for entry in std::fs::read_dir(&self.tmp)? {
            let _ = std::fs::remove_file(entry?.path());
        }
        Ok(())
    }

    /// Moves a staged blob into place (see [`BlobBackend::put`]).
    pub async fn persist(&self, staged: StagedBlob) -> io::Result<bool> {
        self.backend.put(staged).await
    }

    /// Streams `body` into a temporary file, hashing it and refusing more
    /// than `limit` bytes; with `expected`, refuses a different hash.
    pub async fn stage<S, E>(
        &self,
        mut body: S,
        limit: u64,
        expected: Option<&str>,
    ) -> Result<StagedBlob, BlobError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
        let path = self.tmp.join(format!("{}.part", hex::encode(random)));
        let mut staged = StagedBlob {
            path: Some(path.clone()),
            sha256: String::new(),
            size: 0,
        };
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await?;
        // Batches the many small body chunks into few blocking writes.
        let mut file = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, file);
        let mut hasher = Sha256::new();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
            staged.size += chunk.len() as u64;
            if staged.size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            hasher.update(&chunk);
            file.write_all(&chunk).await?;
        }
        file.flush().await?;
        file.get_ref().sync_all().await?;
        staged.sha256 = to_hex(&hasher.finalize().into());
        if let Some(expected) = expected
            && expected != staged.sha256
        {
            return Err(BlobError::Mismatch {
                expected: expected.to_string(),
                actual: staged.sha256.clone(),
            });
        }
        Ok(staged)
    }
}

/// Hashes `body` without keeping it, refusing more than `limit` bytes or a
/// hash other than `expected`; returns its size. For an upload of a blob
/// that is already stored: the body must prove it is that blob before the
/// stored one is touched (see `crate::ops::gc`).
pub async fn verify_body<S, E>(mut body: S, limit: u64, expected: &str) -> Result<u64, BlobError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| BlobError::Body(e.to_string()))?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(BlobError::TooLarge { limit });
        }
        hasher.update(&chunk);
    }
    let actual = to_hex(&hasher.finalize().into());
    if actual != expected {
        return Err(BlobError::Mismatch {
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn body(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<Bytes, String>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn refuses_mismatch_and_oversize_leaving_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let wrong = "0".repeat(64);
        let e = store
            .stage(body(&[b"hello"]), 100, Some(&wrong))
            .await
            .unwrap_err();
        assert!(matches!(e, BlobError::Mismatch { .. }), "{e}");
        let e = store.stage(body(&[b"hello"]), 4, None).await.unwrap_err();
        assert!(matches!(e, BlobError::TooLarge { limit: 4 }), "{e}");
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[test]
    fn claimed_hashes() {
        let sha = "ab".to_string() + &"0".repeat(62);
        assert_eq!(claimed_hash(&["sha256", "ab", &sha]), Some(sha.as_str()));
        assert_eq!(claimed_hash(&["sha256", "cd", &sha]), None);
        assert_eq!(claimed_hash(&["sha256", &sha]), None);
        assert_eq!(claimed_hash(&["other", "ab", &sha]), None);
    }
}

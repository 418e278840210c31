//! Content-addressed blobs: files `DATA/blobs/sha256/ab/<hex>` (default) or
//! objects `blobs/sha256/ab/<hex>` in an S3-compatible bucket
//! ([`crate::remote`]).
//!
//! A blob is streamed into a temporary file under `DATA/tmp` while it is
//! hashed and fsynced. On disk it is then linked into place with create-only
//! semantics (`hard_link` fails if the target exists), so a stored blob is
//! never overwritten and readers never see a partial one; in a bucket it is
//! uploaded only when its key is absent, and since the key is the content's
//! hash a racing upload of the same key writes the same bytes.

use std::io;
use std::path::{Path, PathBuf};

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tower::ServiceExt;
use tower_http::services::ServeFile;
use zoo_format::checksum::{is_sha256_hex, to_hex};

use crate::remote::Bucket;

/// Bytes buffered before each write to the staging file.
const WRITE_BUFFER: usize = 1 << 20;

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

/// Blobs are whatever bytes a publisher uploaded: a browser must neither
/// sniff them into HTML nor run them as this registry's origin.
pub fn inert_download_headers(headers: &mut axum::http::HeaderMap) {
    headers.insert(
        axum::http::header::X_CONTENT_TYPE_OPTIONS,
        axum::http::HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        axum::http::header::CONTENT_SECURITY_POLICY,
        axum::http::HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    headers.insert(
        axum::http::header::CONTENT_DISPOSITION,
        axum::http::HeaderValue::from_static("attachment"),
    );
}

/// The blob directory tree.
#[derive(Debug, Clone)]
pub struct BlobStore {
    root: PathBuf,
    tmp: PathBuf,
    /// Set when blobs live in a bucket instead of under `root`.
    remote: Option<Bucket>,
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
}

impl Drop for StagedBlob {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl BlobStore {
    /// Uses `DATA/blobs` for blobs and `DATA/tmp` for uploads in progress.
    pub fn open(data_dir: &Path) -> io::Result<BlobStore> {
        let root = data_dir.join("blobs").join("sha256");
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&root)?;
        std::fs::create_dir_all(&tmp)?;
        Ok(BlobStore {
            root,
            tmp,
            remote: None,
        })
    }

    /// Blobs in `bucket`; uploads are still staged in `DATA/tmp`.
    pub fn open_remote(data_dir: &Path, bucket: Bucket) -> io::Result<BlobStore> {
        let tmp = data_dir.join("tmp");
        std::fs::create_dir_all(&tmp)?;
        Ok(BlobStore {
            root: data_dir.join("blobs").join("sha256"),
            tmp,
            remote: Some(bucket),
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

    /// The bucket, when blobs are not on the local disk.
    pub fn bucket(&self) -> Option<&Bucket> {
        self.remote.as_ref()
    }

    /// Answers `GET`/`HEAD` for a stored blob (with `Range`); `NotFound`
    /// when it is not stored.
    pub async fn serve(&self, sha256: &str, request: Request) -> io::Result<Response> {
        if let Some(bucket) = &self.remote {
            return bucket
                .serve(
                    &Bucket::blob_key(sha256),
                    request.method(),
                    request.headers().get(axum::http::header::RANGE),
                )
                .await;
        }
        let served = ServeFile::new(self.path(sha256))
            .oneshot(request)
            .await
            .map_err(io::Error::other)?;
        if served.status() == axum::http::StatusCode::NOT_FOUND {
            return Err(io::Error::new(io::ErrorKind::NotFound, sha256.to_string()));
        }
        Ok(served.map(Body::new))
    }

    /// The blob's bytes as a stream (export reads blobs through this).
    pub async fn read(
        &self,
        sha256: &str,
    ) -> io::Result<futures_util::stream::BoxStream<'static, io::Result<axum::body::Bytes>>> {
        if let Some(bucket) = &self.remote {
            return Ok(bucket.read(&Bucket::blob_key(sha256)).await?.boxed());
        }
        let file = tokio::fs::File::open(self.path(sha256)).await?;
        Ok(tokio_util::io::ReaderStream::with_capacity(file, WRITE_BUFFER).boxed())
    }

    /// Where the blob with this hash lives (whether or not it exists).
    /// `sha256` must be canonical hex (checked by callers via [`is_sha256_hex`]).
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root.join(&sha256[..2]).join(sha256)
    }

    /// The blob's size if it is stored.
    pub async fn size(&self, sha256: &str) -> io::Result<Option<u64>> {
        if !is_sha256_hex(sha256) {
            return Ok(None);
        }
        if let Some(bucket) = &self.remote {
            return bucket.size(&Bucket::blob_key(sha256)).await;
        }
        match tokio::fs::metadata(self.path(sha256)).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
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
        S: Stream<Item = Result<axum::body::Bytes, E>> + Unpin,
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

    /// Marks a stored blob as just used (sets its mtime to now) and returns
    /// its size, or `None` when it is not stored. Publishing touches every
    /// blob it is about to reference, so `zoo-registry gc`, which only
    /// deletes unreferenced blobs untouched for its grace period, cannot
    /// delete them between this check and the database commit.
    ///
    /// Bucket objects cannot be touched: there it only reports the size, and
    /// `gc` (which works on local data directories) does not run.
    pub async fn touch(&self, sha256: &str) -> io::Result<Option<u64>> {
        if !is_sha256_hex(sha256) {
            return Ok(None);
        }
        if self.remote.is_some() {
            return self.size(sha256).await;
        }
        let path = self.path(sha256);
        tokio::task::spawn_blocking(move || touch_file(&path))
            .await
            .map_err(io::Error::other)?
    }

    /// Deletes a stored blob; nothing to do when it is absent. Only for
    /// blobs no version references (expired uploads).
    pub async fn remove(&self, sha256: &str) -> io::Result<()> {
        if !is_sha256_hex(sha256) {
            return Ok(());
        }
        let result = match &self.remote {
            Some(bucket) => bucket.delete(&Bucket::blob_key(sha256)).await,
            None => tokio::fs::remove_file(self.path(sha256)).await,
        };
        match result {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Moves a staged blob into place. Returns whether it was newly created
    /// (`false`: an identical blob was already stored and is kept).
    pub async fn persist(&self, mut staged: StagedBlob) -> io::Result<bool> {
        let target = self.path(&staged.sha256);
        let Some(temp) = staged.path.take() else {
            return Ok(false);
        };
        if let Some(bucket) = &self.remote {
            let key = Bucket::blob_key(&staged.sha256);
            let result = match bucket.size(&key).await {
                Ok(Some(_)) => Ok(false),
                Ok(None) => bucket.upload_file(&key, &temp).await.map(|()| true),
                Err(e) => Err(e),
            };
            let _ = tokio::fs::remove_file(&temp).await;
            return result;
        }
        tokio::task::spawn_blocking(move || {
            let result = link_into_place(&temp, &target);
            let _ = std::fs::remove_file(&temp);
            result
        })
        .await
        .map_err(io::Error::other)?
    }
}

/// Sets a file's mtime to now; `None` when it does not exist.
fn touch_file(path: &Path) -> io::Result<Option<u64>> {
    match std::fs::File::options().append(true).open(path) {
        Ok(file) => {
            file.set_modified(std::time::SystemTime::now())?;
            Ok(Some(file.metadata()?.len()))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Creates `dir` (a fan-out directory) if missing and, when it is new,
/// syncs its parent, so the new directory entry is as durable as the blob
/// linked into it before the publish is acknowledged.
fn create_dir_synced(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir)?;
    if let Some(parent) = dir.parent() {
        std::fs::File::open(parent)?.sync_all()?;
    }
    Ok(())
}

fn link_into_place(temp: &Path, target: &Path) -> io::Result<bool> {
    let dir = target
        .parent()
        .ok_or_else(|| io::Error::other("blob path without a parent"))?;
    // Twice at most: `gc` may delete an old unreferenced copy between the
    // failed link and the touch that would have kept it.
    for _ in 0..2 {
        create_dir_synced(dir)?;
        match std::fs::hard_link(temp, target) {
            Ok(()) => {
                std::fs::File::open(dir)?.sync_all()?;
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // An identical blob is stored: keep it, and mark it as used
                // now so that gc's grace period covers the coming commit.
                if touch_file(target)?.is_some() {
                    return Ok(false);
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "{} kept disappearing while being stored",
        target.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(
        parts: &[&'static [u8]],
    ) -> impl Stream<Item = Result<axum::body::Bytes, String>> + Unpin {
        futures_util::stream::iter(
            parts
                .iter()
                .map(|p| Ok(axum::body::Bytes::from_static(p)))
                .collect::<Vec<_>>(),
        )
    }

    #[tokio::test]
    async fn stage_persist_and_never_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let sha = zoo_format::checksum::sha256_hex(b"hello");
        let staged = store
            .stage(body(&[b"he", b"llo"]), 100, Some(&sha))
            .await
            .unwrap();
        assert_eq!((staged.sha256.as_str(), staged.size), (sha.as_str(), 5));
        assert!(store.persist(staged).await.unwrap());
        assert_eq!(store.size(&sha).await.unwrap(), Some(5));
        let again = store.stage(body(&[b"hello"]), 100, None).await.unwrap();
        assert!(!store.persist(again).await.unwrap());
        assert_eq!(std::fs::read(store.path(&sha)).unwrap(), b"hello");
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp")).unwrap().count(),
            0
        );
    }

    #[tokio::test]
    async fn storing_or_touching_an_existing_blob_refreshes_its_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let sha = zoo_format::checksum::sha256_hex(b"hello");
        let staged = store.stage(body(&[b"hello"]), 100, None).await.unwrap();
        assert!(store.persist(staged).await.unwrap());
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        let age_it = || {
            let file = std::fs::File::options()
                .append(true)
                .open(store.path(&sha))
                .unwrap();
            file.set_modified(old).unwrap();
        };
        let modified = || {
            std::fs::metadata(store.path(&sha))
                .unwrap()
                .modified()
                .unwrap()
        };
        age_it();
        let again = store.stage(body(&[b"hello"]), 100, None).await.unwrap();
        assert!(!store.persist(again).await.unwrap());
        assert!(modified() > old + std::time::Duration::from_secs(3600));
        age_it();
        assert_eq!(store.touch(&sha).await.unwrap(), Some(5));
        assert!(modified() > old + std::time::Duration::from_secs(3600));
        assert_eq!(store.touch(&"0".repeat(64)).await.unwrap(), None);
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
}

//! Blobs as files `DATA/blobs/sha256/ab/<hex>`. A staged blob is linked
//! into place with create-only semantics (`hard_link` fails if the target
//! exists), so a stored blob is never overwritten and readers never see a
//! partial one.

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use zoo_format::checksum::is_sha256_hex;

use super::{
    BlobBackend, ByteStream, IoFuture, ListedBlob, StagedBlob, WRITE_BUFFER, claimed_hash,
};

/// The blob directory tree.
#[derive(Debug, Clone)]
pub struct FsBlobs {
    root: PathBuf,
}

impl FsBlobs {
    /// Uses (and creates) `DATA/blobs/sha256`.
    pub fn open(data_dir: &Path) -> io::Result<FsBlobs> {
        let root = data_dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&root)?;
        Ok(FsBlobs { root })
    }

    /// Where the blob with this hash lives (whether or not it exists).
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.root
            .join(sha256.get(..2).unwrap_or_default())
            .join(sha256)
    }
}

impl BlobBackend for FsBlobs {
    fn put(&self, mut staged: StagedBlob) -> IoFuture<'_, bool> {
        Box::pin(async move {
            let target = self.path(&staged.sha256);
            let Some(temp) = staged.take_file() else {
                return Ok(false);
            };
            tokio::task::spawn_blocking(move || {
                let result = link_into_place(&temp, &target);
                let _ = std::fs::remove_file(&temp);
                result
            })
            .await
            .map_err(io::Error::other)?
        })
    }

    fn size<'a>(&'a self, sha256: &'a str) -> IoFuture<'a, Option<u64>> {
        Box::pin(async move {
            if !is_sha256_hex(sha256) {
                return Ok(None);
            }
            match tokio::fs::metadata(self.path(sha256)).await {
                Ok(meta) => Ok(Some(meta.len())),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    fn touch<'a>(&'a self, sha256: &'a str) -> IoFuture<'a, Option<u64>> {
        let path = self.path(sha256);
        Box::pin(async move {
            if !is_sha256_hex(sha256) {
                return Ok(None);
            }
            tokio::task::spawn_blocking(move || touch_file(&path))
                .await
                .map_err(io::Error::other)?
        })
    }

    fn get<'a>(&'a self, sha256: &'a str, range: Option<Range<u64>>) -> IoFuture<'a, ByteStream> {
        Box::pin(async move {
            let mut file = tokio::fs::File::open(self.path(sha256)).await?;
            Ok(match range {
                None => tokio_util::io::ReaderStream::with_capacity(file, WRITE_BUFFER).boxed(),
                Some(range) => {
                    file.seek(io::SeekFrom::Start(range.start)).await?;
                    let part = file.take(range.end.saturating_sub(range.start));
                    tokio_util::io::ReaderStream::with_capacity(part, WRITE_BUFFER).boxed()
                }
            })
        })
    }

    fn delete<'a>(&'a self, sha256: &'a str) -> IoFuture<'a, ()> {
        Box::pin(async move {
            if !is_sha256_hex(sha256) {
                return Ok(());
            }
            match tokio::fs::remove_file(self.path(sha256)).await {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
                _ => Ok(()),
            }
        })
    }

    fn list(&self) -> IoFuture<'_, Vec<ListedBlob>> {
        let blobs = self.root.parent().unwrap_or(&self.root).to_path_buf();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || list_files(&blobs))
                .await
                .map_err(io::Error::other)?
        })
    }

    fn local_path(&self, sha256: &str) -> Option<PathBuf> {
        Some(self.path(sha256))
    }

    fn check(&self) -> BoxFuture<'_, Result<(), String>> {
        // The data directory's write check (health) covers the disk.
        Box::pin(async { Ok(()) })
    }
}

/// Every file below `blobs` (`DATA/blobs`) with the hash its place claims.
pub fn list_files(blobs: &Path) -> io::Result<Vec<ListedBlob>> {
    let mut out = Vec::new();
    let mut pending = vec![blobs.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                pending.push(path);
                continue;
            }
            let parts: Vec<_> = path
                .strip_prefix(blobs)
                .map(|rel| rel.iter().filter_map(|c| c.to_str()).collect())
                .unwrap_or_default();
            out.push(ListedBlob {
                key: path.display().to_string(),
                sha256: claimed_hash(&parts).map(str::to_string),
                size: entry.metadata()?.len(),
            });
        }
    }
    out.sort_by(|a, b| Path::new(&a.key).cmp(Path::new(&b.key)));
    Ok(out)
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

    use crate::blob::BlobStore;
    use crate::blob::tests::body;

    fn path(dir: &Path, sha: &str) -> PathBuf {
        FsBlobs::open(dir).unwrap().path(sha)
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
        assert_eq!(std::fs::read(path(dir.path(), &sha)).unwrap(), b"hello");
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
                .open(path(dir.path(), &sha))
                .unwrap();
            file.set_modified(old).unwrap();
        };
        let modified = || {
            std::fs::metadata(path(dir.path(), &sha))
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
    async fn get_reads_ranges_and_list_claims_hashes() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let staged = store.stage(body(&[b"hello"]), 100, None).await.unwrap();
        let sha = staged.sha256.clone();
        store.persist(staged).await.unwrap();
        let read = |range| {
            let store = store.clone();
            let sha = sha.clone();
            async move {
                let chunks: Vec<_> = store.get(&sha, range).await.unwrap().collect().await;
                chunks
                    .into_iter()
                    .flat_map(|c| c.unwrap().to_vec())
                    .collect::<Vec<u8>>()
            }
        };
        assert_eq!(read(None).await, b"hello");
        assert_eq!(read(Some(1..4)).await, b"ell");
        std::fs::write(dir.path().join("blobs/stray"), b"x").unwrap();
        let listed = store.list().await.unwrap();
        let claims: Vec<_> = listed.iter().map(|b| (b.sha256.clone(), b.size)).collect();
        assert_eq!(claims, vec![(Some(sha.clone()), 5), (None, 1)]);
        assert_eq!(store.size("not-a-hash").await.unwrap(), None);
        store.delete(&sha).await.unwrap();
        assert_eq!(store.size(&sha).await.unwrap(), None);
        store.delete(&sha).await.unwrap();
    }
}

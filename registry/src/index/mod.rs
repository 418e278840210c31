//! Index documents: rendered from the database, served over HTTP with an ETag,
//! and mirrored as files under `DATA/index/` (or, with blobs in a bucket, as
//! objects under `index/` in the bucket) so a static server (nginx, a CDN)
//! can serve the very same bytes.

pub mod cache;
pub mod cargo;
pub mod signing;

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zoo_format::checksum::sha256_hex;
use zoo_format::index::{index_path, render_document};

use crate::db::{Namespace, VersionRecord};
use crate::index::signing::IndexSigner;

/// The index document of a package: one JSON line per version, in
/// publication order, yanked flags as currently recorded.
pub fn render(versions: &[VersionRecord]) -> String {
    let entries: Vec<_> = versions.iter().map(|v| v.entry.clone()).collect();
    render_document(&entries)
}

/// A strong ETag for a document: its quoted sha256.
pub fn etag(document: &[u8]) -> String {
    format!("\"{}\"", sha256_hex(document))
}

/// Whether an `If-None-Match` header value matches `etag` (handles lists,
/// `*` and weak validators, which compare equal for GET as RFC 9110 says).
pub fn if_none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == etag
    })
}

/// `/index/config.json`; `key` is the registry's index-signing key, which
/// clients pin on first use, and `signature` its signature of `dl` and `api`.
pub fn config_json(base_url: &str, signer: &IndexSigner) -> String {
    let base = base_url.trim_end_matches('/');
    let dl = format!("{base}/blobs/{{sha256}}");
    serde_json::json!({
        "signature": signer.sign_config(&dl, base),
        "dl": dl,
        "api": base,
        "key": signer.public_key().to_string(),
    })
    .to_string()
}

/// Where a mirror's documents go: files under a directory of `DATA`, or
/// objects under the same relative path in the bucket (then every replica
/// writes to the one place a CDN reads).
/// Documents are found by package or crate name through the namespace's
/// layout; [`IndexFiles`] and [`cargo::CargoIndexFiles`] add their own
/// `config.json` (and signing) on top.
#[derive(Debug, Clone)]
pub struct Mirror {
    /// Shared: the app state, cloned per request, holds two mirrors.
    root: Arc<Path>,
    /// `index` or `cargo-index`: the directory name, also the key prefix.
    name: &'static str,
    /// A name's document path in this namespace.
    layout: fn(&str) -> String,
    bucket: Option<crate::blob::s3::Bucket>,
}

impl Mirror {
    /// The mirror of `ns` in `data_dir` (or, with a bucket, in the bucket).
    pub(crate) fn open(
        data_dir: &Path,
        ns: Namespace,
        bucket: Option<crate::blob::s3::Bucket>,
    ) -> io::Result<Mirror> {
        let (name, layout): (_, fn(&str) -> String) = match ns {
            Namespace::Zoo => ("index", index_path),
            Namespace::Cargo => ("cargo-index", zoo_format::cargo_index_path),
        };
        let root = data_dir.join(name);
        if bucket.is_none() {
            std::fs::create_dir_all(&root)?;
        }
        Ok(Mirror {
            root: root.into(),
            name,
            layout,
            bucket,
        })
    }

    fn file(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Where the document of `name` lives on disk.
    pub fn path(&self, name: &str) -> PathBuf {
        self.file(&(self.layout)(name))
    }

    /// Atomically replaces the document of `name`.
    pub fn write_document(&self, name: &str, document: &str) -> io::Result<()> {
        self.write(
            &(self.layout)(name),
            document.as_bytes(),
            "text/plain; charset=utf-8",
        )
    }

    /// One document's current bytes, `None` when absent. Blocking, like
    /// [`Mirror::write`].
    pub(crate) fn read(&self, rel: &str) -> io::Result<Option<Vec<u8>>> {
        let Some(bucket) = &self.bucket else {
            return match std::fs::read(self.file(rel)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e),
            };
        };
        let key = format!("{}/{rel}", self.name);
        block_on(bucket.get_document(&key))
    }

    /// Replaces one document. Blocking (runs the bucket upload on the
    /// current Tokio runtime): call it from blocking code.
    pub(crate) fn write(
        &self,
        rel: &str,
        bytes: &[u8],
        content_type: &'static str,
    ) -> io::Result<()> {
        let Some(bucket) = &self.bucket else {
            return write_atomic(&self.file(rel), bytes);
        };
        let key = format!("{}/{rel}", self.name);
        block_on(bucket.put_document(&key, bytes.to_vec(), content_type, "no-cache"))
    }
}

/// Runs a bucket call from blocking code: on the current Tokio runtime when
/// there is one, else on a small one of its own.
fn block_on<T>(call: impl std::future::Future<Output = io::Result<T>>) -> io::Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(call),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(call),
    }
}

/// The mirror of the index (files under `DATA/index/` or the bucket's `index/`).
#[derive(Debug, Clone)]
pub struct IndexFiles {
    mirror: Mirror,
}

impl std::ops::Deref for IndexFiles {
    type Target = Mirror;

    fn deref(&self) -> &Mirror {
        &self.mirror
    }
}

impl IndexFiles {
    pub fn open(data_dir: &Path) -> io::Result<IndexFiles> {
        IndexFiles::open_in(data_dir, None)
    }

    /// With a bucket, documents go to the bucket instead of `DATA/index/`.
    pub fn open_in(
        data_dir: &Path,
        bucket: Option<crate::blob::s3::Bucket>,
    ) -> io::Result<IndexFiles> {
        Ok(IndexFiles {
            mirror: Mirror::open(data_dir, Namespace::Zoo, bucket)?,
        })
    }

    /// Signs `content` (the entry lines of `name`), reusing the signature of
    /// the file on disk while it is still good, and writes the result if it
    /// changed. Returns the signed document.
    pub fn write_signed(
        &self,
        signer: &IndexSigner,
        name: &str,
        content: &str,
    ) -> io::Result<String> {
        // With a bucket, the previous document may be another replica's:
        // reusing it while it still signs these entries keeps the bytes (and
        // ETags) the same on every replica.
        let previous = self
            .mirror
            .read(&index_path(name))?
            .and_then(|bytes| String::from_utf8(bytes).ok());
        let document = signer.sign(name, content, previous.as_deref());
        if previous.as_deref() != Some(&document[..]) {
            self.write_document(name, &document)?;
        }
        Ok(document)
    }

    pub fn write_config(&self, base_url: &str, signer: &IndexSigner) -> io::Result<()> {
        self.mirror.write(
            "config.json",
            config_json(base_url, signer).as_bytes(),
            "application/json",
        )
    }
}

/// Temp file in the target's directory, fsync, rename, fsync the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_mode(path, bytes, None)
}

/// [`write_atomic`], creating the file with `mode` (Unix permissions) when
/// given, e.g. 0o600 for a secret key.
pub(crate) fn write_atomic_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("index path without a parent"))?;
    std::fs::create_dir_all(dir)?;
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(|e| io::Error::other(e.to_string()))?;
    let tmp = dir.join(format!(".tmp-{}", hex::encode(random)));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if let Some(mode) = mode {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_forms() {
        let tag = "\"abc\"";
        assert!(if_none_match("\"abc\"", tag));
        assert!(if_none_match("\"x\", W/\"abc\"", tag));
        assert!(if_none_match("*", tag));
        assert!(!if_none_match("\"abd\"", tag));
    }

    #[test]
    fn config_document() {
        let secret = zoo_format::signing::SecretKey::generate().unwrap();
        let key = secret.public();
        let signer = IndexSigner::new(secret, std::time::Duration::from_secs(60));
        let v: serde_json::Value =
            serde_json::from_str(&config_json("http://h:1/", &signer)).unwrap();
        assert_eq!(v["dl"], "http://h:1/blobs/{sha256}");
        assert_eq!(v["key"], key.to_string());
        assert_eq!(v["api"], "http://h:1");
        let message =
            zoo_format::signing::config_message("http://h:1/blobs/{sha256}", "http://h:1");
        key.verify(&message, v["signature"].as_str().unwrap())
            .unwrap();
        let moved = zoo_format::signing::config_message("http://evil/{sha256}", "http://h:1");
        assert!(
            key.verify(&moved, v["signature"].as_str().unwrap())
                .is_err()
        );
    }
}

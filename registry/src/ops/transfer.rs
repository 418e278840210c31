//! `zoo-registry export DIR` / `import DIR`: a backend-neutral copy of a
//! registry, for backups and for moving between backends (SQLite + disk ⇄
//! PostgreSQL + S3).
//!
//! `DIR/registry.json` holds every row of the durable tables
//! ([`crate::db::dump`]) and the list of blobs; `DIR/blobs/sha256/ab/<hex>`
//! holds every blob some version references (unreferenced ones are left
//! behind, as `gc` would). Both directions re-hash every blob. Import loads
//! the blobs first and the rows in one transaction, into an empty database
//! only, then rewrites the index mirrors. The index-signing key travels too
//! ([`super::transfer_key`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use zoo_format::checksum::{is_sha256_hex, to_hex};

use crate::db::MetadataStore;
use crate::db::dump::Tables;

/// `format` of `registry.json`.
const FORMAT: &str = "zoo-registry-export";
const FORMAT_VERSION: u32 = 1;
const MANIFEST: &str = "registry.json";

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] crate::db::StoreError),
    #[error(transparent)]
    Open(#[from] crate::OpenError),
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> TransferError + '_ {
    move |source| TransferError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: String,
    version: u32,
    exported_at: String,
    blobs: Vec<BlobEntry>,
    tables: Tables,
}

#[derive(Debug, Serialize, Deserialize)]
struct BlobEntry {
    sha256: String,
    size: u64,
}

/// What a transfer moved.
#[derive(Debug, Serialize)]
pub struct TransferReport {
    /// Rows per table.
    pub rows: std::collections::BTreeMap<String, usize>,
    pub blobs: usize,
    pub bytes: u64,
    /// The public index-signing key the export carries, or the imported
    /// registry signs with; `None`: none yet (created at first start).
    pub signing_key: Option<String>,
}

impl TransferReport {
    pub fn to_text(&self, verb: &str) -> String {
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|(table, n)| format!("{table} {n}"))
            .collect();
        let key = match &self.signing_key {
            Some(key) => format!("index-signing key {key}"),
            None => "no index-signing key".into(),
        };
        format!(
            "{verb} {} blob(s), {} byte(s); rows: {}; {key}\n",
            self.blobs,
            self.bytes,
            rows.join(", ")
        )
    }
}

fn blob_file(dir: &Path, sha256: &str) -> PathBuf {
    dir.join("blobs/sha256").join(&sha256[..2]).join(sha256)
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, TransferError> + Send + 'static,
) -> Result<T, TransferError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| TransferError::Invalid(format!("a blocking task failed: {e}")))?
}

fn report_for(
    tables: &Tables,
    blobs: &[BlobEntry],
    signing_key: Option<zoo_format::signing::PublicKey>,
) -> TransferReport {
    TransferReport {
        rows: tables
            .iter()
            .map(|(t, rows)| (t.clone(), rows.len()))
            .collect(),
        blobs: blobs.len(),
        bytes: blobs.iter().map(|b| b.size).sum(),
        signing_key: signing_key.map(|key| key.to_string()),
    }
}

/// Writes the registry behind `parts` to `dir` (which must be absent or
/// empty), with the index-signing key of `data_dir`.
pub async fn export(
    parts: &crate::Parts,
    dir: &Path,
    data_dir: &Path,
) -> Result<TransferReport, TransferError> {
    if std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(TransferError::Invalid(format!(
            "{} is not empty; export writes into a new or empty directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).map_err(io_at(dir))?;
    let store: Arc<MetadataStore> = parts.store.clone();
    let (tables, referenced) = blocking(move || {
        let tables = store.export_rows()?;
        let referenced = super::referenced_blobs(&store)?;
        Ok((tables, referenced))
    })
    .await?;
    let mut blobs = Vec::with_capacity(referenced.len());
    for (sha256, uses) in &referenced {
        if !is_sha256_hex(sha256) {
            return Err(TransferError::Invalid(format!(
                "{} references `{sha256}`, which is not a sha256",
                uses[0].by
            )));
        }
        let size = copy_out(parts, sha256, &blob_file(dir, sha256))
            .await
            .map_err(|e| match e {
                TransferError::Io { source, .. }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    TransferError::Invalid(format!(
                        "blob {sha256} ({}) is missing from the source; run `zoo-registry fsck`",
                        uses[0].by
                    ))
                }
                e => e,
            })?;
        blobs.push(BlobEntry {
            sha256: sha256.clone(),
            size,
        });
    }
    let signing_key = super::transfer_key::export_key(data_dir, dir)?;
    let manifest = Manifest {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        exported_at: crate::db::now(),
        blobs,
        tables,
    };
    let json = serde_json::to_vec(&manifest)
        .map_err(|e| TransferError::Invalid(format!("encoding {MANIFEST}: {e}")))?;
    // Written last: a directory without it is an unfinished export.
    let path = dir.join(MANIFEST);
    crate::index::write_atomic(&path, &json).map_err(io_at(&path))?;
    Ok(report_for(&manifest.tables, &manifest.blobs, signing_key))
}

/// Streams one blob into `target`, checking its hash; returns its size.
async fn copy_out(parts: &crate::Parts, sha256: &str, target: &Path) -> Result<u64, TransferError> {
    let mut source = parts.blobs.get(sha256, None).await.map_err(io_at(target))?;
    let dir = target.parent().unwrap_or(target);
    tokio::fs::create_dir_all(dir).await.map_err(io_at(dir))?;
    let partial = target.with_extension("partial");
    let mut file = tokio::fs::File::create(&partial)
        .await
        .map_err(io_at(&partial))?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = source.next().await {
        let chunk = chunk.map_err(io_at(target))?;
        hasher.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io_at(&partial))?;
    }
    file.flush().await.map_err(io_at(&partial))?;
    file.sync_all().await.map_err(io_at(&partial))?;
    let actual = to_hex(&hasher.finalize().into());
    if actual != sha256 {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(TransferError::Invalid(format!(
            "blob {sha256} in the source is corrupt (its content hashes to {actual}); run `zoo-registry fsck`"
        )));
    }
    tokio::fs::rename(&partial, target)
        .await
        .map_err(io_at(target))?;
    Ok(size)
}

/// Loads an export into the (empty) registry behind `parts`, whose data
/// directory is `data_dir`; `key` says what becomes of the index-signing key.
pub async fn import(
    parts: &crate::Parts,
    dir: &Path,
    data_dir: &Path,
    key: super::transfer_key::KeyOnImport,
) -> Result<TransferReport, TransferError> {
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path).map_err(io_at(&path))?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| TransferError::Invalid(format!("{}: {e}", path.display())))?;
    if manifest.format != FORMAT || manifest.version != FORMAT_VERSION {
        return Err(TransferError::Invalid(format!(
            "{}: format `{}` version {} is not `{FORMAT}` version {FORMAT_VERSION}",
            path.display(),
            manifest.format,
            manifest.version
        )));
    }
    let key_plan = super::transfer_key::plan_import(dir, data_dir, key)?;
    // Refuse logins this registry cannot hold, and a non-empty target,
    // before moving any bytes.
    crate::db::dump::check_logins(&manifest.tables)?;
    let store = parts.store.clone();
    blocking(move || {
        let users = store.list_users()?.len();
        let packages = store.package_names()?.len();
        let crates = store.cargo_crate_names()?.len();
        if users + packages + crates > 0 {
            return Err(crate::db::dump::not_empty(&format!(
                "{users} user(s), {packages} package(s) and {crates} crate(s)"
            ))
            .into());
        }
        Ok(())
    })
    .await?;
    for blob in &manifest.blobs {
        if !is_sha256_hex(&blob.sha256) {
            return Err(TransferError::Invalid(format!(
                "{}: `{}` is not a sha256",
                path.display(),
                blob.sha256
            )));
        }
        let file = blob_file(dir, &blob.sha256);
        let source = tokio::fs::File::open(&file).await.map_err(io_at(&file))?;
        let stream = tokio_util::io::ReaderStream::with_capacity(source, 1 << 20);
        let staged = parts
            .blobs
            .stage(stream, u64::MAX, Some(&blob.sha256))
            .await
            .map_err(|e| TransferError::Invalid(format!("{}: {e}", file.display())))?;
        parts.blobs.persist(staged).await.map_err(io_at(&file))?;
    }
    let store = parts.store.clone();
    let tables = manifest.tables;
    let tables = blocking(move || {
        store.import_rows(&tables)?;
        Ok(tables)
    })
    .await?;
    // Every reference must resolve (a hand-edited export could lie).
    let store = parts.store.clone();
    let referenced = blocking(move || Ok(super::referenced_blobs(&store)?)).await?;
    for (sha256, uses) in &referenced {
        if parts
            .blobs
            .size(sha256)
            .await
            .map_err(io_at(dir))?
            .is_none()
        {
            return Err(TransferError::Invalid(format!(
                "the export lacks blob {sha256}, which {} references",
                uses[0].by
            )));
        }
    }
    let rewrite = crate::Parts {
        store: parts.store.clone(),
        blobs: parts.blobs.clone(),
        index: parts.index.clone(),
        cargo_index: parts.cargo_index.clone(),
    };
    super::transfer_key::finish_import(&key_plan, data_dir)?;
    // Signed with the key the registry now has (the carried one), so that
    // `fsck` and pinned clients accept the documents before the first start.
    let signer = crate::index::signing::load_key(data_dir)
        .map_err(io_at(data_dir))?
        .map(|key| {
            crate::index::signing::IndexSigner::new(key, crate::index::signing::DEFAULT_INDEX_TTL)
        });
    blocking(move || Ok(crate::rewrite_index_documents(&rewrite, signer.as_ref())?)).await?;
    Ok(report_for(&tables, &manifest.blobs, key_plan.public()))
}

//! Offline maintenance of a data directory: `zoo-registry fsck` checks it,
//! `zoo-registry gc` reclaims space; `export` / `import` ([`transfer`]) copy
//! a registry between backends. Both read the database through
//! [`MetadataStore`] and walk the files directly (they never go through
//! `open_state`, which would rewrite the index files and hide mismatches).

pub mod fsck;
pub mod fsck_bucket;
pub mod gc;
pub mod transfer;
pub mod transfer_key;

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::db::{MetadataStore, StoreError};

/// Why a maintenance command could not run at all (problems it finds are
/// reported, not returned as errors).
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{} is not a registry data directory (no registry.sqlite3)", .0.display())]
    NotADataDir(PathBuf),
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OpsError + '_ {
    move |source| OpsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Opens the database of an existing data directory.
pub fn open_existing(data_dir: &Path) -> Result<crate::db::MetadataStore, OpsError> {
    let db = data_dir.join("registry.sqlite3");
    if !db.is_file() {
        return Err(OpsError::NotADataDir(data_dir.to_path_buf()));
    }
    Ok(crate::db::MetadataStore::open_sqlite(&db)?)
}

/// A use of a blob by a published version.
#[derive(Debug, Clone)]
pub struct BlobUse {
    /// `zoo package vgg16@1.0.0 (archive)`, `… file weights.safetensors`,
    /// `crate demo@0.1.0 (.crate)`.
    pub by: String,
    /// The size the metadata records, when it records one.
    pub size: Option<u64>,
}

/// Every blob that some version (zoo or cargo, yanked or not) references.
pub fn referenced_blobs(
    store: &MetadataStore,
) -> Result<BTreeMap<String, Vec<BlobUse>>, StoreError> {
    let mut uses: BTreeMap<String, Vec<BlobUse>> = BTreeMap::new();
    for name in store.package_names()? {
        for version in store.versions(&name)? {
            let entry = &version.entry;
            let at = format!("zoo package {}@{}", entry.name, entry.vers);
            uses.entry(entry.archive.sha256.clone())
                .or_default()
                .push(BlobUse {
                    by: format!("{at} (archive)"),
                    size: Some(entry.archive.size),
                });
            for file in entry.files.iter().filter(|f| f.external) {
                uses.entry(file.sha256.clone()).or_default().push(BlobUse {
                    by: format!("{at} file {}", file.path),
                    size: Some(file.size),
                });
            }
        }
    }
    for name in store.cargo_crate_names()? {
        for version in store.cargo_versions(&zoo_format::normalize_name(&name))? {
            uses.entry(version.cksum.clone())
                .or_default()
                .push(BlobUse {
                    by: format!("crate {name}@{} (.crate)", version.vers),
                    size: None,
                });
        }
    }
    Ok(uses)
}

/// Every regular file below `dir` (none when `dir` does not exist).
pub(crate) fn walk_files(dir: &Path) -> Result<Vec<PathBuf>, OpsError> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&dir)(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err(&dir))?;
            let kind = entry.file_type().map_err(io_err(&entry.path()))?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else {
                out.push(entry.path());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// How long ago `path` was last modified (zero for times in the future).
pub(crate) fn age(path: &Path) -> Result<Duration, OpsError> {
    let modified = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map_err(io_err(path))?;
    Ok(SystemTime::now()
        .duration_since(modified)
        .unwrap_or(Duration::ZERO))
}

/// Leftovers of interrupted writes: anything in `DATA/tmp/` and `.tmp-*`
/// files next to index documents.
pub(crate) fn temp_files(data_dir: &Path) -> Result<Vec<PathBuf>, OpsError> {
    let mut out = walk_files(&data_dir.join("tmp"))?;
    for index in ["index", "cargo-index"] {
        out.extend(walk_files(&data_dir.join(index))?.into_iter().filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".tmp-"))
        }));
    }
    Ok(out)
}

/// Deletes the leftovers of writes a crash interrupted (see [`temp_files`]).
/// Only for start-up, while no other process writes to `data_dir`.
pub fn remove_interrupted_writes(data_dir: &Path) -> Result<usize, OpsError> {
    let leftovers = temp_files(data_dir)?;
    for path in &leftovers {
        match std::fs::remove_file(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(path)(e)),
            _ => {}
        }
    }
    Ok(leftovers.len())
}

/// The blob files: `(path, the hash its location claims)`; `None` when the
/// path is not `sha256/{2 hex}/{64 hex}` with matching prefix.
pub(crate) fn blob_files(data_dir: &Path) -> Result<Vec<(PathBuf, Option<String>)>, OpsError> {
    let dir = data_dir.join("blobs");
    Ok(crate::blob::fs::list_files(&dir)
        .map_err(io_err(&dir))?
        .into_iter()
        .map(|blob| (PathBuf::from(blob.key), blob.sha256))
        .collect())
}

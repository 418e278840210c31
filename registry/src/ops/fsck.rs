//! `zoo-registry fsck`: checks that a data directory is consistent.
//!
//! Every blob file is re-hashed once; then every version's archive, external
//! files and `.crate` must exist with the recorded size, every index file
//! must equal what the database renders, no temp file may be older than the
//! given age, and the database must have no dangling rows. Unreferenced
//! blobs are listed but are not problems (`gc` removes them).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{OpsError, blob_files, io_err, referenced_blobs, temp_files, walk_files};
use crate::db::MetadataStore;

/// One inconsistency.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// `missing-blob`, `blob-size`, `blob-hash`, `misplaced-blob`,
    /// `index-missing`, `index-mismatch`, `index-stray`, `stale-temp-file`,
    /// `database`.
    pub kind: &'static str,
    pub detail: String,
}

/// What was looked at.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Checked {
    pub packages: usize,
    pub versions: usize,
    pub crates: usize,
    pub crate_versions: usize,
    pub blobs: usize,
    pub blob_bytes: u64,
    pub index_documents: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FsckReport {
    pub ok: bool,
    pub checked: Checked,
    pub problems: Vec<Problem>,
    /// Stored blobs no version references (harmless; `gc` removes them).
    pub unreferenced_blobs: Vec<String>,
}

impl FsckReport {
    pub(super) fn problem(&mut self, kind: &'static str, detail: String) {
        self.problems.push(Problem { kind, detail });
    }

    /// The human-readable report.
    pub fn to_text(&self) -> String {
        let c = &self.checked;
        let mut out = format!(
            "checked {} packages ({} versions), {} crates ({} versions), {} blobs ({} bytes), {} index documents\n",
            c.packages,
            c.versions,
            c.crates,
            c.crate_versions,
            c.blobs,
            c.blob_bytes,
            c.index_documents
        );
        for p in &self.problems {
            out.push_str(&format!("PROBLEM [{}] {}\n", p.kind, p.detail));
        }
        if !self.unreferenced_blobs.is_empty() {
            out.push_str(&format!(
                "{} unreferenced blob(s) (run `zoo-registry gc` to remove them)\n",
                self.unreferenced_blobs.len()
            ));
        }
        if self.ok {
            out.push_str("ok: no problems found\n");
        } else {
            out.push_str(&format!("{} problem(s) found\n", self.problems.len()));
        }
        out
    }
}

/// The sha256 and size of a file, streamed.
fn hash_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Checks `data_dir`; temp files older than `temp_age` are problems.
pub fn fsck(data_dir: &Path, temp_age: Duration) -> Result<FsckReport, OpsError> {
    fsck_with(&super::open_existing(data_dir)?, data_dir, temp_age)
}

/// [`fsck`] with the metadata in `store` (e.g. PostgreSQL) and the blobs and
/// index files in `data_dir`.
pub fn fsck_with(
    store: &MetadataStore,
    data_dir: &Path,
    temp_age: Duration,
) -> Result<FsckReport, OpsError> {
    let mut report = FsckReport::default();

    for problem in store.integrity_problems()? {
        report.problem("database", problem);
    }

    // Blob files: each re-hashed once.
    let mut stored: BTreeMap<String, u64> = BTreeMap::new();
    for (path, claimed) in blob_files(data_dir)? {
        let Some(claimed) = claimed else {
            report.problem(
                "misplaced-blob",
                format!(
                    "{} is not at blobs/sha256/<first 2 hex digits>/<64 hex digits>",
                    path.display()
                ),
            );
            continue;
        };
        let (actual, size) = hash_file(&path).map_err(io_err(&path))?;
        report.checked.blobs += 1;
        report.checked.blob_bytes += size;
        if actual != claimed {
            report.problem(
                "blob-hash",
                format!(
                    "blob {claimed} ({}) has content with sha256 {actual}",
                    path.display()
                ),
            );
        } else {
            stored.insert(claimed, size);
        }
    }

    // References from the database.
    let uses = referenced_blobs(store)?;
    check_references(&mut report, &uses, &stored, |sha256| {
        blob_path(data_dir, sha256).is_some_and(|p| p.is_file())
    });

    check_zoo_index(store, data_dir, &mut report)?;
    check_cargo_index(store, data_dir, &mut report)?;

    for path in temp_files(data_dir)? {
        let age = super::age(&path)?;
        if age >= temp_age {
            report.problem(
                "stale-temp-file",
                format!(
                    "{} is a leftover temp file, {} minutes old (`zoo-registry gc` removes it)",
                    path.display(),
                    age.as_secs() / 60
                ),
            );
        }
    }
    report.ok = report.problems.is_empty();
    Ok(report)
}

/// Checks every reference against the blobs found intact (`stored`: hash →
/// size); `present(sha256)` says whether a blob missing from `stored` exists
/// at all (then it is corrupt). Also lists the unreferenced blobs.
pub(super) fn check_references(
    report: &mut FsckReport,
    uses: &BTreeMap<String, Vec<super::BlobUse>>,
    stored: &BTreeMap<String, u64>,
    present: impl Fn(&str) -> bool,
) {
    for (sha256, users) in uses {
        for user in users {
            match (stored.get(sha256), user.size) {
                (None, _) => {
                    let why = if present(sha256) {
                        "is corrupt (its content does not match its hash)"
                    } else {
                        "is missing"
                    };
                    report.problem("missing-blob", format!("{}: blob {sha256} {why}", user.by));
                }
                (Some(&actual), Some(expected)) if actual != expected => report.problem(
                    "blob-size",
                    format!(
                        "{}: blob {sha256} is {actual} bytes; the metadata says {expected}",
                        user.by
                    ),
                ),
                _ => {}
            }
        }
    }
    report.unreferenced_blobs = stored
        .keys()
        .filter(|sha| !uses.contains_key(*sha))
        .cloned()
        .collect();
}

fn blob_path(data_dir: &Path, sha256: &str) -> Option<PathBuf> {
    zoo_format::checksum::is_sha256_hex(sha256).then(|| {
        data_dir
            .join("blobs")
            .join("sha256")
            .join(&sha256[..2])
            .join(sha256)
    })
}

/// Compares the file at `path` with `expected`.
fn compare_document(
    report: &mut FsckReport,
    what: &str,
    path: &Path,
    expected: &str,
) -> Result<(), OpsError> {
    report.checked.index_documents += 1;
    match std::fs::read(path) {
        Ok(bytes) if bytes == expected.as_bytes() => {}
        Ok(_) => report.problem(
            "index-mismatch",
            format!(
                "{} ({what}) differs from what the database renders",
                path.display()
            ),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => report.problem(
            "index-missing",
            format!("{} ({what}) does not exist", path.display()),
        ),
        Err(e) => return Err(io_err(path)(e)),
    }
    Ok(())
}

/// Compares the entry lines of the signed file at `path` with `expected` and
/// checks its signature with the registry's `key` (expiry is not a problem on
/// disk: the running server re-signs before it).
fn compare_signed_document(
    report: &mut FsckReport,
    name: &str,
    path: &Path,
    expected: &str,
    key: Option<&zoo_format::signing::PublicKey>,
) -> Result<(), OpsError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return compare_document(report, name, path, expected);
        }
        Err(e) => return Err(io_err(path)(e)),
    };
    let text = String::from_utf8_lossy(&bytes);
    let (content, signature) = match zoo_format::signing::split_signed(&text) {
        Ok(split) => split,
        Err(_) => (&text[..], None),
    };
    report.checked.index_documents += 1;
    if content != expected {
        report.problem(
            "index-mismatch",
            format!(
                "{} (zoo package {name}) differs from what the database renders",
                path.display()
            ),
        );
        return Ok(());
    }
    let verdict = match (key, signature) {
        (None, _) => Ok(()),
        (Some(_), None) => Err("it is not signed".to_string()),
        (Some(key), Some(signature)) => signature.verify(key, name, content),
    };
    if let Err(why) = verdict {
        report.problem(
            "index-signature",
            format!("{} (zoo package {name}): {why}", path.display()),
        );
    }
    Ok(())
}

/// Index files that belong to no package (config.json and temp files aside).
fn stray_documents(
    report: &mut FsckReport,
    root: &Path,
    expected: &BTreeSet<PathBuf>,
) -> Result<(), OpsError> {
    for path in walk_files(root)? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path == root.join("config.json") || name.starts_with(".tmp-") {
            continue;
        }
        if !expected.contains(&path) {
            report.problem(
                "index-stray",
                format!(
                    "{} is not the index file of any package in the database",
                    path.display()
                ),
            );
        }
    }
    Ok(())
}

fn check_zoo_index(
    store: &MetadataStore,
    data_dir: &Path,
    report: &mut FsckReport,
) -> Result<(), OpsError> {
    let root = data_dir.join("index");
    let key = crate::index::signing::load_key(data_dir)
        .map_err(io_err(&crate::index::signing::key_path(data_dir)))?
        .map(|k| k.public());
    let mut expected = BTreeSet::new();
    for name in store.package_names()? {
        let versions = store.versions(&name)?;
        report.checked.packages += 1;
        report.checked.versions += versions.len();
        let path = root.join(zoo_format::index::index_path(&name));
        let document = crate::index::render(&versions);
        compare_signed_document(report, &name, &path, &document, key.as_ref())?;
        expected.insert(path);
    }
    stray_documents(report, &root, &expected)
}

fn check_cargo_index(
    store: &MetadataStore,
    data_dir: &Path,
    report: &mut FsckReport,
) -> Result<(), OpsError> {
    let root = data_dir.join("cargo-index");
    let mut expected = BTreeSet::new();
    for name in store.cargo_crate_names()? {
        let versions = store.cargo_versions(&zoo_format::normalize_name(&name))?;
        report.checked.crates += 1;
        report.checked.crate_versions += versions.len();
        let path = root.join(crate::index::cargo::index_path(&name));
        match crate::index::cargo::render(&versions) {
            Ok(document) => {
                compare_document(report, &format!("crate {name}"), &path, &document)?;
            }
            Err(e) => report.problem(
                "database",
                format!("a stored index line of crate `{name}` is not valid JSON: {e}"),
            ),
        }
        expected.insert(path);
    }
    stray_documents(report, &root, &expected)
}

//! `zoo-registry gc`: removes blobs that no version references and stale
//! temp files.
//!
//! # Why a grace period and not a lock
//!
//! A publish references blobs before its database commit: external files
//! are uploaded first (possibly minutes earlier, in other requests), and the
//! archive blob is stored just before the transaction. A database lock held
//! by gc could not cover those earlier steps without blocking uploads for
//! the whole sweep, so gc instead deletes only blobs that are unreferenced
//! **and** whose mtime is older than the grace period (default 60 minutes).
//! The server refreshes a blob's mtime whenever it is about to be
//! referenced: a blob upload that finds it already stored, the publish's
//! check of each external file, and storing an archive that already exists
//! (`BlobStore::touch`). The sweep lists candidates, then reads the
//! referenced set from the database, then re-checks each candidate's mtime
//! right before unlinking it. So a version either committed before the
//! referenced set was read (and its blobs are kept), or its publish touched
//! its blobs after the listing (and the re-check keeps them), or the touch
//! found the blob gone and the publish failed cleanly with "has not been
//! uploaded". Only a publish that takes longer than the grace period between
//! its blob check and its commit could lose a blob; keep the grace period
//! far above the longest publish.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use super::{OpsError, age, blob_files, io_err, referenced_blobs, temp_files};

/// Default grace period: blobs and temp files younger than this are kept.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(60 * 60);

#[derive(Debug, Clone, Default, Serialize)]
pub struct GcReport {
    pub dry_run: bool,
    /// Unreferenced blobs removed (or that would be, with `dry_run`).
    pub removed_blobs: Vec<String>,
    pub freed_bytes: u64,
    /// Unreferenced blobs kept because they are younger than the grace period.
    pub young_unreferenced_blobs: usize,
    /// Temp files removed (or that would be).
    pub removed_temp_files: Vec<String>,
    /// Referenced blobs kept.
    pub kept_blobs: usize,
}

impl GcReport {
    pub fn to_text(&self) -> String {
        let verb = if self.dry_run {
            "would remove"
        } else {
            "removed"
        };
        let mut out = String::new();
        for sha in &self.removed_blobs {
            out.push_str(&format!("{verb} blob {sha}\n"));
        }
        for path in &self.removed_temp_files {
            out.push_str(&format!("{verb} temp file {path}\n"));
        }
        out.push_str(&format!(
            "{verb} {} unreferenced blob(s) ({} bytes) and {} temp file(s); kept {} referenced blob(s) \
             and {} unreferenced blob(s) younger than the grace period\n",
            self.removed_blobs.len(),
            self.freed_bytes,
            self.removed_temp_files.len(),
            self.kept_blobs,
            self.young_unreferenced_blobs
        ));
        out
    }
}

/// Sweeps `data_dir` (see the module docs for the race argument).
pub fn gc(data_dir: &Path, grace: Duration, dry_run: bool) -> Result<GcReport, OpsError> {
    let store = super::open_existing(data_dir)?;
    let mut report = GcReport {
        dry_run,
        ..GcReport::default()
    };
    // 1. Candidates: well-formed blob files older than the grace period.
    //    (Misplaced files are left for a human: fsck reports them.)
    let mut candidates = Vec::new();
    let mut young = Vec::new();
    for (path, claimed) in blob_files(data_dir)? {
        let Some(sha256) = claimed else { continue };
        if age(&path)? >= grace {
            candidates.push((path, sha256));
        } else {
            young.push(sha256);
        }
    }
    // 2. The referenced set, read after the listing.
    let referenced = referenced_blobs(&store)?;
    report.kept_blobs = young
        .iter()
        .chain(candidates.iter().map(|(_, sha)| sha))
        .filter(|sha| referenced.contains_key(*sha))
        .count();
    report.young_unreferenced_blobs = young
        .iter()
        .filter(|sha| !referenced.contains_key(*sha))
        .count();
    // 3. Re-check each unreferenced candidate's age just before removing it.
    for (path, sha256) in candidates {
        if referenced.contains_key(&sha256) {
            continue;
        }
        let size = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_err(&path)(e)),
        };
        if age(&path)? < grace {
            report.young_unreferenced_blobs += 1;
            continue;
        }
        if !dry_run && !remove_unless_gone(&path)? {
            continue;
        }
        report.freed_bytes += size;
        report.removed_blobs.push(sha256);
    }
    for path in temp_files(data_dir)? {
        if age(&path)? < grace {
            continue;
        }
        if !dry_run && !remove_unless_gone(&path)? {
            continue;
        }
        report.removed_temp_files.push(path.display().to_string());
    }
    Ok(report)
}

/// Deletes a file; `false` when it was already gone (a concurrent `gc`
/// or its writer got there first), so it is not counted.
fn remove_unless_gone(path: &Path) -> Result<bool, OpsError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_err(path)(e)),
    }
}

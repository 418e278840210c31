//! The `.zoo` archive: a deterministic gzip tar of a package's small files plus
//! `.zoo/files.json`, and a safe reader for archives from anywhere.
//!
//! Layout (docs/package-format.md): the first regular file is
//! `.zoo/files.json`, the second `zoo.toml`, then the other in-archive files
//! sorted by path. Putting the listing first lets a reader check every later
//! entry as it streams by, without buffering or extracting anything.
//!
//! Reading is hostile-input code: the registry runs it on uploads and the
//! client on downloads. Anything that is not a plain relative file or directory
//! is an error (never silently skipped), and sizes, counts and the compression
//! ratio are capped.

mod cargo_crate;
mod pack;
mod read;

use std::io;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::manifest::ManifestError;

pub use cargo_crate::{CrateListing, read_crate};
pub use pack::{PackOptions, Packed, archive_file_name, pack};
pub use read::{Limits, Listing, read_listing, read_member, unpack};

/// Path of the file listing inside the archive.
pub const FILES_JSON: &str = ".zoo/files.json";
/// Files of this size or more are stored as external blobs.
pub const EXTERNAL_THRESHOLD: u64 = 1 << 20;
/// The archive's file extension.
pub const EXTENSION: &str = "zoo";

/// One file of a package as listed in `.zoo/files.json` and the index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub size: u64,
    pub sha256: String,
    /// Stored as a content-addressed blob instead of inside the archive.
    pub external: bool,
}

/// The content of `.zoo/files.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileList {
    pub files: Vec<FileEntry>,
}

/// Why packing or reading an archive failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// A local file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    /// The package directory cannot be packed as it is.
    #[error("package {}: {reason}", path.display())]
    Package { path: PathBuf, reason: String },
    /// The archive stream itself is broken (not gzip, truncated tar, …).
    #[error("reading the archive{}: {source}", at_entry(entry))]
    Read {
        entry: Option<String>,
        source: io::Error,
    },
    /// An entry is unsafe or disagrees with `.zoo/files.json`.
    #[error("archive entry `{entry}`: {reason}")]
    Entry { entry: String, reason: String },
    /// The archive as a whole is malformed (missing listing, files missing, …).
    #[error("archive: {0}")]
    Invalid(String),
    /// A cap on size, count or compression ratio was hit.
    #[error("archive exceeds a limit{}: {reason}", at_entry(entry))]
    Limit {
        entry: Option<String>,
        reason: String,
    },
    /// `zoo.toml` is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

fn at_entry(entry: &Option<String>) -> String {
    entry
        .as_ref()
        .map(|e| format!(" at entry `{e}`"))
        .unwrap_or_default()
}

pub(crate) fn entry_error(entry: &str, reason: impl Into<String>) -> ArchiveError {
    ArchiveError::Entry {
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

#[cfg(any(test, feature = "testing"))]
#[doc(hidden)]
pub mod testing;
#[cfg(test)]
mod tests;

//! Metadata of the Cargo registry (Rust crates), in tables of their own;
//! a crate and a zoo package of one name share their owners (`ownership`).
//!
//! The store keeps each version's index line as rendered at publication
//! (with `yanked: false`) plus the current yanked flag; `crate::index::cargo`
//! turns those into the index document.

use semver::Version;

/// Crate-level metadata.
#[derive(Debug, Clone)]
pub struct CrateRecord {
    /// The name as first published (its lowercase form locates the index file).
    pub name: String,
    /// Description of the highest version published.
    pub description: String,
}

/// One published crate version.
#[derive(Debug, Clone)]
pub struct CrateVersionRecord {
    pub vers: Version,
    pub yanked: bool,
    /// sha256 of the `.crate` file (also its blob address).
    pub cksum: String,
    /// The index line as rendered at publication.
    pub index_line: String,
}

/// Everything recorded for a new crate version.
#[derive(Debug, Clone)]
pub struct NewCrateVersion {
    pub name: String,
    pub vers: Version,
    pub cksum: String,
    pub index_line: String,
    pub description: String,
    /// The publish request's JSON metadata, kept verbatim.
    pub metadata: String,
}

/// A search result row.
#[derive(Debug, Clone)]
pub struct CrateHit {
    pub krate: CrateRecord,
    pub versions: Vec<CrateVersionRecord>,
}

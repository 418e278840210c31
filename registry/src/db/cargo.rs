//! Metadata of the Cargo registry (Rust crates), in tables of their own;
//! a crate and a zoo package of one name share their owners (`ownership`).
//!
//! The store keeps each version's index line as rendered at publication
//! (with `yanked: false`) plus the current yanked flag; `crate::index::cargo`
//! turns those into the index document.

use semver::Version;

use super::{PublishRights, StoreResult, User};

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

/// Crate metadata operations; names are canonical (`zoo_format::normalize_name`).
pub trait CargoStore {
    fn cargo_crate(&self, name_norm: &str) -> StoreResult<Option<CrateRecord>>;
    /// Versions in publication order.
    fn cargo_versions(&self, name_norm: &str) -> StoreResult<Vec<CrateVersionRecord>>;
    /// Every crate's name as first published (to rebuild index files).
    fn cargo_crate_names(&self) -> StoreResult<Vec<String>>;
    /// Checks what [`CargoStore::cargo_publish`] checks, without writing,
    /// so a doomed upload is refused before its blob is stored.
    fn cargo_check_publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        name: &str,
        vers: &Version,
    ) -> StoreResult<()>;
    /// Records a version atomically: a new name becomes owned by the
    /// publisher; an existing one must be theirs; versions are immutable.
    fn cargo_publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        version: &NewCrateVersion,
    ) -> StoreResult<()>;
    /// Crates whose name or description contains `query` (case-insensitive;
    /// `-` and `_` equal in names), exact name first, with the total count.
    fn cargo_search(&self, query: &str, limit: u64) -> StoreResult<(Vec<CrateHit>, u64)>;
}

//! Registry metadata: users, tokens, packages, owners, versions.
//!
//! Handlers talk to [`MetadataStore`] only: one store that runs the same
//! SQL on either engine through the [`sql`] seam, [`sqlite`] (the default)
//! or [`postgres`] (shared by replicas). Methods are blocking; the
//! HTTP layer calls them from `spawn_blocking`. Operations that must be
//! atomic (publish, yank, owner changes) are single methods so they run in
//! one transaction.

pub mod cargo;
pub mod dump;
pub mod logins;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod store;
mod summary;

pub use store::MetadataStore;

use zoo_format::index::IndexEntry;

use crate::auth::Scope;

/// Which registry a name belongs to. Both share users, tokens, scopes and
/// (by name) owners; each has its own versions and index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// zoo packages (`/api/v1/packages/…`).
    Zoo,
    /// Rust crates of the Cargo registry (`/cargo/…`).
    Cargo,
}

impl Namespace {
    /// What messages put before a name: nothing for a package, `crate `
    /// for a crate.
    pub fn noun(self) -> &'static str {
        match self {
            Namespace::Zoo => "",
            Namespace::Cargo => "crate ",
        }
    }
}

/// Adding or removing owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerChange {
    Add,
    Remove,
}

/// Why a metadata operation failed; the HTTP layer maps each kind to a status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error("database error: {0}")]
    Backend(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// RFC 3339 UTC timestamp, whole seconds (the schema's time columns).
pub fn now() -> String {
    let now = time::OffsetDateTime::now_utc();
    let now = now.replace_nanosecond(0).unwrap_or(now);
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

pub use crate::auth::User;

/// A stored token (the secret only as its hash).
#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub id: String,
    pub user: User,
    pub secret_sha256: String,
    pub scopes: Vec<Scope>,
    pub created_at: String,
    pub revoked: bool,
}

/// Package-level metadata (from the highest version published so far).
#[derive(Debug, Clone)]
pub struct PackageRecord {
    pub name: String,
    pub kind: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub readme: Option<String>,
}

/// One published version.
#[derive(Debug, Clone)]
pub struct VersionRecord {
    pub entry: IndexEntry,
    pub published_at: String,
    /// `[{"name","dataset","value"}]` from `[[model.metrics]]`.
    pub metrics: serde_json::Value,
}

/// Everything recorded for a new version, produced by validating its archive.
#[derive(Debug, Clone)]
pub struct NewVersion {
    pub entry: IndexEntry,
    pub description: String,
    pub keywords: Vec<String>,
    pub readme: Option<String>,
    pub metrics: serde_json::Value,
    pub manifest_text: String,
}

/// What the publisher may do, from the token's scopes.
#[derive(Debug, Clone, Copy)]
pub struct PublishRights {
    pub new_packages: bool,
    pub updates: bool,
}

/// A search result row.
#[derive(Debug, Clone)]
pub struct SearchHit {
    pub package: PackageRecord,
    pub versions: Vec<VersionRecord>,
}

/// A signed-in web session (the id only as its sha256).
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub user: User,
    /// The token the session was opened with (it ends when that is revoked).
    pub token_id: String,
    /// That token's scopes: the most a token created in the session may carry.
    pub scopes: Vec<Scope>,
    /// The anti-CSRF token that the session's forms must echo.
    pub csrf: String,
    /// Unix seconds after which the session is void.
    pub expires_at: i64,
}

/// Which namespaces' published versions reference a blob (yanked ones
/// included): a private Cargo registry must not serve a `.crate` file to
/// anyone who knows its checksum, while zoo blobs stay public.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobUsers {
    /// A zoo version's archive or one of its external files.
    pub zoo: bool,
    /// A crate version's `.crate` file.
    pub cargo: bool,
}

/// The outcome of reserving quota for an upload (see
/// [`MetadataStore::reserve_upload`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadReservation {
    /// This many bytes are now held for the upload.
    Reserved(u64),
    /// Refused: the user's other uploads already hold `pending` bytes.
    Exceeded { pending: u64 },
}

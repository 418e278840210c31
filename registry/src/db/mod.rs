//! Registry metadata: users, tokens, packages, owners, versions.
//!
//! Handlers talk to [`MetadataStore`] only. One implementation,
//! [`store::SqlStore`], runs the same SQL on either engine through the
//! [`sql`] seam: [`sqlite::SqliteStore`] (the default) or
//! [`postgres::PgStore`] (shared by replicas). Methods are blocking; the
//! HTTP layer calls them from `spawn_blocking`. Operations that must be
//! atomic (publish, yank, owner changes) are single methods so they run in
//! one transaction.

pub mod cargo;
pub mod dump;
pub mod postgres;
pub mod sql;
pub mod sqlite;
pub mod store;
mod summary;
pub mod uploads;

pub use cargo::CargoStore;
pub use uploads::UploadStore;

use semver::Version;
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

/// The metadata backend (zoo packages; Rust crates via [`CargoStore`]).
pub trait MetadataStore: CargoStore + UploadStore + Send + Sync {
    /// A trivial query: whether the backend answers (for `/healthz`).
    fn ping(&self) -> StoreResult<()>;
    /// Creates a user; `Conflict` if the login is taken.
    fn add_user(&self, login: &str) -> StoreResult<User>;
    fn find_user(&self, login: &str) -> StoreResult<Option<User>>;
    fn list_users(&self) -> StoreResult<Vec<User>>;

    fn add_token(
        &self,
        user: &User,
        id: &str,
        secret_sha256: &str,
        scopes: &[Scope],
    ) -> StoreResult<()>;
    fn find_token(&self, id: &str) -> StoreResult<Option<TokenRecord>>;
    /// Tokens of one user, or of everyone.
    fn list_tokens(&self, login: Option<&str>) -> StoreResult<Vec<TokenRecord>>;
    /// Marks a token revoked; `NotFound` if there is no such token.
    fn revoke_token(&self, id: &str) -> StoreResult<()>;

    /// The package with this canonical name.
    fn package(&self, name_norm: &str) -> StoreResult<Option<PackageRecord>>;
    /// Its versions in publication order.
    fn versions(&self, name_norm: &str) -> StoreResult<Vec<VersionRecord>>;
    /// All canonical package names (to rebuild index files).
    fn package_names(&self) -> StoreResult<Vec<String>>;

    /// Records a version atomically. A new name becomes owned by `publisher`
    /// (needs `rights.new_packages`); an existing one must be owned by them
    /// (needs `rights.updates`). `Conflict` when the version exists.
    fn publish(
        &self,
        publisher: &User,
        rights: PublishRights,
        version: &NewVersion,
    ) -> StoreResult<()>;
    /// Sets the yanked flag of a package's or crate's version; the caller
    /// must be an owner.
    fn set_yanked(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        version: &Version,
        yanked: bool,
    ) -> StoreResult<()>;

    /// The owners of a package or crate (`NotFound` when there is none).
    fn owners(&self, ns: Namespace, name_norm: &str) -> StoreResult<Vec<User>>;
    /// Adds owners (every login must exist) or removes them (never the
    /// last one); the caller must be an owner.
    fn change_owners(
        &self,
        ns: Namespace,
        user: &User,
        name_norm: &str,
        change: OwnerChange,
        logins: &[String],
    ) -> StoreResult<()>;

    /// The most recently published-to packages, newest first.
    fn recent_packages(&self, limit: u64) -> StoreResult<Vec<SearchHit>>;
    /// The README recorded with one version (`NotFound` for no such version).
    fn version_readme(&self, name_norm: &str, version: &Version) -> StoreResult<Option<String>>;
    /// The zoo.toml recorded with one version (`NotFound` for no such version).
    fn version_manifest(&self, name_norm: &str, version: &Version) -> StoreResult<String>;

    /// Rows that reference missing rows (a package, user or crate) and other
    /// inconsistencies the backend can detect, one sentence each.
    fn integrity_problems(&self) -> StoreResult<Vec<String>>;

    /// Opens a session for `user`, signed in with their token `token_id`.
    fn create_session(
        &self,
        id_sha256: &str,
        user: &User,
        token_id: &str,
        csrf: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// The session, if it exists and its token is not revoked (expired ones
    /// are returned; callers check).
    fn find_session(&self, id_sha256: &str) -> StoreResult<Option<SessionRecord>>;
    /// Deletes the session and any expired ones.
    fn delete_session(&self, id_sha256: &str, now: i64) -> StoreResult<()>;

    /// Packages whose name, keywords or description contain `query`
    /// (case-insensitive), best matches first, with the total count.
    fn search(&self, query: &str, offset: u64, limit: u64) -> StoreResult<(Vec<SearchHit>, u64)>;

    /// Every row of the tables in [`dump::TABLES`] (`zoo-registry export`).
    fn export_rows(&self) -> StoreResult<dump::Tables>;
    /// Loads exported rows, ids included, in one transaction; refuses a
    /// database that already holds users, packages or crates.
    fn import_rows(&self, tables: &dump::Tables) -> StoreResult<()>;
}

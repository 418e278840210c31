//! The registry's rules, written once for both namespaces (zoo packages
//! and Cargo crates): who may change owners, who may yank, and what a name
//! means. Blocking calls on a [`MetadataStore`]; no HTTP (the http layer's
//! adapters parse requests, call one function here and render the answer).

pub mod owners;
pub mod yank;

use crate::auth::MissingScope;
use crate::db::{MetadataStore, StoreError, StoreResult, User};

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

    /// The owners of `name_norm` in this namespace.
    pub fn owners(self, store: &dyn MetadataStore, name_norm: &str) -> StoreResult<Vec<User>> {
        match self {
            Namespace::Zoo => store.owners(name_norm),
            Namespace::Cargo => store.cargo_owners(name_norm),
        }
    }
}

/// Why a rule refused an action (problems of the store pass through).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    MissingScope(#[from] MissingScope),
    /// The request names something malformed (a version that is not semver).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

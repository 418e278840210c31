//! The registry's rules, written once for both namespaces (zoo packages
//! and Cargo crates): who may publish, change owners and yank. Blocking
//! calls on a [`MetadataStore`]; no HTTP (the http layer's adapters parse
//! requests, call one function here and render the answer).

pub mod owners;
pub mod publish;
pub mod yank;

use crate::auth::MissingScope;
use crate::db::StoreError;

pub use crate::db::Namespace;

/// Why a rule refused an action (problems of the store pass through).
#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    #[error(transparent)]
    MissingScope(#[from] MissingScope),
    #[error("{0}")]
    Forbidden(String),
    /// The version exists (versions are immutable).
    #[error("{0}")]
    Conflict(String),
    /// The request names something malformed (a version that is not semver).
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::owners::{self, Change};
    use super::*;
    use crate::auth::{Caller, Scope};
    use crate::db::MetadataStore;

    fn caller(store: &MetadataStore, login: &str, scopes: &[Scope]) -> Caller {
        Caller {
            user: store.add_user(login).unwrap(),
            scopes: scopes.to_vec(),
        }
    }

    /// Each rule holds in both namespaces, and scopes are checked before
    /// anything else (a body is not even read without the scope).
    #[test]
    fn rules_hold_in_both_namespaces() {
        let dir = tempfile::tempdir().unwrap();
        let store = MetadataStore::open_sqlite(&dir.path().join("db.sqlite3")).unwrap();
        let weak = caller(&store, "weak", &[Scope::PublishNew]);
        let owner = caller(&store, "owner", &Scope::ALL);
        for ns in [Namespace::Zoo, Namespace::Cargo] {
            let e = owners::change(&store, ns, &weak, "x", Change::Add, || {
                panic!("the body is read before the scope check")
            })
            .unwrap_err();
            assert_eq!(e.to_string(), "this token lacks the `owners` scope");
            let e = yank::set_yanked(&store, ns, &owner, "x", "one", true).unwrap_err();
            assert!(matches!(e, DomainError::Invalid(_)), "{e}");
            assert!(e.to_string().starts_with("`one` is not a semver version"));
            let e = yank::set_yanked(&store, ns, &weak, "x", "1.0.0", true).unwrap_err();
            assert!(matches!(e, DomainError::MissingScope(_)), "{e}");
        }
        let e = publish::rights(&Caller {
            scopes: vec![Scope::Yank],
            ..weak.clone()
        })
        .unwrap_err();
        assert!(matches!(e, DomainError::Forbidden(_)), "{e}");
        let rights = publish::rights(&weak).unwrap();
        assert!(rights.new_packages && !rights.updates);
        let version = semver::Version::new(1, 0, 0);
        publish::preflight(
            &store,
            Namespace::Zoo,
            &weak,
            rights,
            "Fresh_Name",
            &version,
        )
        .unwrap();
        assert_eq!(Namespace::Cargo.noun(), "crate ");
    }
}

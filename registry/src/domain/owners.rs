//! Listing, adding and removing the owners of a name.

use super::{DomainError, Namespace};
use crate::auth::{Caller, Scope};
pub use crate::db::OwnerChange as Change;
use crate::db::{MetadataStore, StoreResult, User};

/// The owners of `name` (any spelling) in `ns`.
pub fn list(store: &MetadataStore, ns: Namespace, name: &str) -> StoreResult<Vec<User>> {
    store.owners(ns, &zoo_format::normalize_name(name))
}

/// Adds or removes `logins` as owners of `name`: needs the `owners` scope,
/// checked before `logins` is read (a token without it is refused whatever
/// it sent); the store checks that the caller owns the name. Returns the
/// message for the caller.
pub fn change(
    store: &MetadataStore,
    ns: Namespace,
    caller: &Caller,
    name: &str,
    change: Change,
    logins: impl FnOnce() -> Result<Vec<String>, DomainError>,
) -> Result<String, DomainError> {
    caller.require(Scope::Owners)?;
    let logins = logins()?;
    let name = zoo_format::normalize_name(name);
    let (who, noun) = (logins.join(", "), ns.noun());
    let message = match change {
        Change::Add => format!("{who} added as owner(s) of {noun}{name}"),
        Change::Remove => format!("{who} removed from the owners of {noun}{name}"),
    };
    store.change_owners(ns, &caller.user, &name, change, &logins)?;
    Ok(message)
}

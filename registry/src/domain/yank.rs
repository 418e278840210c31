//! Yanking and un-yanking a version: only its index line's flag changes;
//! the archive (or `.crate`) stays downloadable for existing lockfiles.

use semver::Version;

use super::{DomainError, Namespace};
use crate::auth::{Caller, Scope};
use crate::db::MetadataStore;

/// Sets the `yanked` flag of `name@version`: needs the `yank` scope and a
/// semver version; the store checks that the caller owns the name. Returns
/// the normalized name (whose index document the caller refreshes).
pub fn set_yanked(
    store: &MetadataStore,
    ns: Namespace,
    caller: &Caller,
    name: &str,
    version: &str,
    yanked: bool,
) -> Result<String, DomainError> {
    caller.require(Scope::Yank)?;
    let version = Version::parse(version)
        .map_err(|e| DomainError::Invalid(format!("`{version}` is not a semver version: {e}")))?;
    let name_norm = zoo_format::normalize_name(name);
    store.set_yanked(ns, &caller.user, &name_norm, &version, yanked)?;
    Ok(name_norm)
}

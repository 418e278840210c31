//! Who may publish what: the token's scopes, the name's owners (one set
//! for a package and a crate of one name), and versions are immutable.

use semver::Version;

use super::{DomainError, Namespace};
use crate::auth::{Caller, Scope};
use crate::db::{MetadataStore, PublishRights};

/// What the caller's token may publish; refused unless it carries
/// `publish-new` or `publish-update`.
pub fn rights(caller: &Caller) -> Result<PublishRights, DomainError> {
    let rights = PublishRights {
        new_packages: caller.has(Scope::PublishNew),
        updates: caller.has(Scope::PublishUpdate),
    };
    if !rights.new_packages && !rights.updates {
        return Err(DomainError::Forbidden(
            "publishing needs a token with the `publish-new` or `publish-update` scope".into(),
        ));
    }
    Ok(rights)
}

/// Refuses a version that depends on packages this registry does not have
/// (naming every one), as crates.io does: such a version could never be
/// installed, and clients would only find out through a resolver's proof.
/// Zoo manifests have no field naming another registry, so every
/// dependency must be here; yanked-only packages count (`zoo.lock` may pin
/// their versions).
pub fn check_dependencies<'a>(
    store: &MetadataStore,
    dependencies: impl IntoIterator<Item = &'a str>,
) -> Result<(), DomainError> {
    let mut unknown = Vec::new();
    for name in dependencies {
        if store.package(&zoo_format::normalize_name(name))?.is_none() {
            unknown.push(format!("`{name}`"));
        }
    }
    if unknown.is_empty() {
        return Ok(());
    }
    Err(DomainError::Invalid(format!(
        "this registry has no package named {}: publish the dependencies first \
         (field `dependencies` of zoo.toml)",
        unknown.join(", ")
    )))
}

/// Refuses a version whose kind (`model`, `link`, `function`) differs from
/// the package's: a name keeps one kind, so that `zoo run NAME` and the
/// resolver never meet a model whose newest version is a function.
pub fn check_kind(store: &MetadataStore, name: &str, kind: &str) -> Result<(), DomainError> {
    let name_norm = zoo_format::normalize_name(name);
    match store.package(&name_norm)? {
        Some(package) if package.kind != kind => Err(DomainError::Conflict(format!(
            "`{name_norm}` is a {} package; a new version cannot make it a {kind} package \
             (field `package.kind` of zoo.toml): publish it under another name",
            package.kind
        ))),
        _ => Ok(()),
    }
}

/// Refuses non-owners and existing versions before anything is stored. The
/// publish transaction checks again; this only avoids storing a doomed
/// upload.
pub fn preflight(
    store: &MetadataStore,
    ns: Namespace,
    caller: &Caller,
    rights: PublishRights,
    name: &str,
    version: &Version,
) -> Result<(), DomainError> {
    if ns == Namespace::Cargo {
        return Ok(store.cargo_check_publish(&caller.user, rights, name, version)?);
    }
    let name_norm = zoo_format::normalize_name(name);
    if store.package(&name_norm)?.is_none() {
        caller.require(Scope::PublishNew)?;
        // A crate of this name makes its owners the name's owners.
        return match store.owners(Namespace::Cargo, &name_norm) {
            Ok(owners) if !owners.iter().any(|o| o.id == caller.user.id) => {
                Err(DomainError::Forbidden(format!(
                    "`{name_norm}` is already a crate that `{}` does not own; a name has one set \
                     of owners for zoo packages and crates",
                    caller.user.login
                )))
            }
            _ => Ok(()),
        };
    }
    let owners = store.owners(Namespace::Zoo, &name_norm)?;
    if !owners.iter().any(|o| o.id == caller.user.id) {
        return Err(DomainError::Forbidden(format!(
            "`{}` is not an owner of `{name_norm}`",
            caller.user.login
        )));
    }
    if !rights.updates {
        return Ok(caller.require(Scope::PublishUpdate)?);
    }
    let same = |v: &Version| {
        v.major == version.major
            && v.minor == version.minor
            && v.patch == version.patch
            && v.pre == version.pre
    };
    let versions = store.versions(&name_norm)?;
    if let Some(taken) = versions.iter().find(|v| same(&v.entry.vers)) {
        return Err(DomainError::Conflict(format!(
            "{name_norm}@{} already exists; versions are immutable",
            taken.entry.vers
        )));
    }
    Ok(())
}

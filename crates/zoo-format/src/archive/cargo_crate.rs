//! Reading untrusted `.crate` files (cargo's gzip tar of `{name}-{vers}/…`)
//! with the `.zoo` reader's stream and entry checks: the same gzip caps,
//! nothing after the gzip stream, only regular files and directories, safe
//! relative paths of bounded length, no duplicates or case clashes. On top,
//! what crates.io requires: every entry under `{name}-{vers}/`, and a
//! `Cargo.toml` whose `[package]` names this crate and version.

use std::collections::HashMap;
use std::io::Read;

use super::read::{GuardedGzip, refuse_special_entry};
use super::{ArchiveError, Limits, entry_error};
use crate::relpath::validate_rel_path;

/// What a checked `.crate` holds.
#[derive(Debug, Clone)]
pub struct CrateListing {
    /// Paths of the regular files, in archive order, without the
    /// `{name}-{vers}/` prefix.
    pub files: Vec<String>,
    /// The text of `Cargo.toml`.
    pub manifest_text: String,
}

/// Reads and checks a `.crate` for crate `name` version `vers` (as the
/// publish request names them) without writing anything.
pub fn read_crate(
    reader: impl Read,
    name: &str,
    vers: &str,
    limits: &Limits,
) -> Result<CrateListing, ArchiveError> {
    let root = format!("{name}-{vers}");
    let manifest_path = format!("{root}/Cargo.toml");
    let mut gzip = GuardedGzip::new(reader, limits);
    let mut files = Vec::new();
    let mut manifest_text = None;
    // Lowercased path → the path as first seen.
    let mut seen: HashMap<String, String> = HashMap::new();
    {
        let read_error = gzip.explainer();
        let mut archive = tar::Archive::new(gzip.reader());
        let entries = archive.entries().map_err(|e| read_error(None, e))?;
        let mut count = 0u64;
        let mut last: Option<String> = None;
        for entry in entries {
            let mut entry = entry.map_err(|e| read_error(last.as_deref(), e))?;
            count += 1;
            let raw = entry.path_bytes().into_owned();
            let display = String::from_utf8_lossy(&raw).into_owned();
            last = Some(display.clone());
            if count > limits.max_entries {
                return Err(ArchiveError::Limit {
                    entry: Some(display),
                    reason: format!("more than {} entries", limits.max_entries),
                });
            }
            let Ok(path) = std::str::from_utf8(&raw) else {
                return Err(entry_error(&display, "the name is not valid UTF-8"));
            };
            let kind = entry.header().entry_type();
            let path = match kind {
                tar::EntryType::Directory => path.strip_suffix('/').unwrap_or(path),
                tar::EntryType::Regular => path,
                other => return Err(refuse_special_entry(path, other)),
            };
            validate_rel_path(path).map_err(|reason| entry_error(path, reason))?;
            let Some(inner) = path
                .strip_prefix(&root)
                .and_then(|rest| rest.strip_prefix('/'))
            else {
                if path == root && kind == tar::EntryType::Directory {
                    continue;
                }
                return Err(entry_error(path, format!("is not inside `{root}/`")));
            };
            if let Some(first) = seen.insert(path.to_lowercase(), path.to_string()) {
                let reason = if first == path {
                    "appears twice".to_string()
                } else {
                    format!("differs only in case from `{first}`")
                };
                return Err(entry_error(path, reason));
            }
            if kind != tar::EntryType::Regular {
                continue;
            }
            if path == manifest_path {
                manifest_text = Some(read_manifest(&mut entry, path, limits, &read_error)?);
            } else {
                std::io::copy(&mut entry, &mut std::io::sink())
                    .map_err(|e| read_error(Some(path), e))?;
            }
            files.push(inner.to_string());
        }
    }
    gzip.finish()?;
    let Some(manifest_text) = manifest_text else {
        return Err(ArchiveError::Invalid(format!(
            "the .crate has no `{manifest_path}`"
        )));
    };
    check_manifest(&manifest_text, &manifest_path, name, vers)?;
    Ok(CrateListing {
        files,
        manifest_text,
    })
}

fn read_manifest(
    entry: &mut dyn Read,
    path: &str,
    limits: &Limits,
    read_error: &dyn Fn(Option<&str>, std::io::Error) -> ArchiveError,
) -> Result<String, ArchiveError> {
    let mut bytes = Vec::new();
    entry
        .take(limits.max_metadata_size + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| read_error(Some(path), e))?;
    if bytes.len() as u64 > limits.max_metadata_size {
        return Err(ArchiveError::Limit {
            entry: Some(path.to_string()),
            reason: format!(
                "metadata files may be at most {} bytes",
                limits.max_metadata_size
            ),
        });
    }
    String::from_utf8(bytes).map_err(|_| entry_error(path, "is not valid UTF-8"))
}

/// `Cargo.toml` must name the crate and version the publish request names
/// (cargo normalises the manifest it packs, so both are plain strings).
fn check_manifest(text: &str, path: &str, name: &str, vers: &str) -> Result<(), ArchiveError> {
    let table: toml::Table =
        toml::from_str(text).map_err(|e| entry_error(path, format!("is not valid TOML: {e}")))?;
    let package = table.get("package").and_then(|p| p.as_table());
    let field = |key: &str| package.and_then(|p| p.get(key)).and_then(|v| v.as_str());
    match field("name") {
        Some(found) if found == name => {}
        Some(found) => {
            return Err(entry_error(
                path,
                format!("`package.name` is `{found}` but the crate is published as `{name}`"),
            ));
        }
        None => return Err(entry_error(path, "has no `package.name` string")),
    }
    let same_version =
        |found: &str| match (semver::Version::parse(found), semver::Version::parse(vers)) {
            (Ok(a), Ok(b)) => a == b,
            _ => found == vers,
        };
    match field("version") {
        Some(found) if same_version(found) => Ok(()),
        Some(found) => Err(entry_error(
            path,
            format!(
                "`package.version` is `{found}` but the crate is published as version `{vers}`"
            ),
        )),
        None => Err(entry_error(path, "has no `package.version` string")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{cargo_toml, crate_with, file, hostile_crates};
    use super::*;

    #[test]
    fn accepts_a_crate_as_cargo_packs_it() {
        let bytes = crate_with("demo", "0.1.0", &cargo_toml("demo", "0.1.0"), &[]);
        let listing = read_crate(&bytes[..], "demo", "0.1.0", &Limits::default()).unwrap();
        assert_eq!(listing.files, ["Cargo.toml", "src/lib.rs"]);
        assert!(listing.manifest_text.contains("name = \"demo\""));
    }

    #[test]
    fn refuses_every_hostile_crate_naming_the_entry() {
        for case in hostile_crates("demo", "0.1.0") {
            let e = read_crate(&case.bytes[..], "demo", "0.1.0", &Limits::default())
                .unwrap_err()
                .to_string();
            assert!(
                case.entry.is_empty() || e.contains(&format!("`{}`", case.entry)),
                "{}: {e}",
                case.kind
            );
            assert!(e.contains(case.says), "{}: {e}", case.kind);
        }
    }

    #[test]
    fn refuses_a_crate_without_cargo_toml_or_for_another_version() {
        let bytes = crate_with("demo", "0.1.0", &cargo_toml("demo", "0.1.0"), &[]);
        let e = read_crate(&bytes[..], "demo", "0.2.0", &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("is not inside `demo-0.2.0/`"), "{e}");
        let only_lib = super::super::testing::build(&[file("demo-0.1.0/src/lib.rs", b"x")]);
        let e = read_crate(&only_lib[..], "demo", "0.1.0", &Limits::default()).unwrap_err();
        assert!(e.to_string().contains("no `demo-0.1.0/Cargo.toml`"), "{e}");
    }
}

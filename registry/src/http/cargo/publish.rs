//! `PUT /cargo/api/v1/crates/new`: cargo's publish request.
//!
//! Body: u32 LE length + JSON metadata + u32 LE length + `.crate` bytes.
//! Order: authenticate → admit the upload (per-user and global caps,
//! `crate::http::uploads::gate`) → stream the body, the `.crate` to a staged temp
//! file (size-capped, `super::receive`) → parse and validate
//! the metadata (400 naming the field) → check the `.crate` is a gzip tar of
//! `{name}-{vers}/…` with a `Cargo.toml` → ownership / existing version
//! (403 / 409) → store the `.crate` as a content-addressed blob → record the
//! version in one transaction → rewrite the crate's index file.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Request, State};
use semver::{Version, VersionReq};
use serde::Deserialize;

use crate::auth::Caller;
use crate::db::cargo::NewCrateVersion;
use crate::domain::Namespace;
use crate::domain::publish as publish_rules;
use crate::http::{ApiError, AppState};
use crate::index::cargo::{IndexDep, IndexLine};

/// Largest accepted publish body (crates.io allows 10 MB).
pub const MAX_CRATE_BODY: u64 = 64 << 20;
/// Largest accepted unpacked `.crate` (guards against gzip bombs).
const MAX_UNPACKED: u64 = 512 << 20;
/// Most entries a `.crate` may hold.
const MAX_CRATE_ENTRIES: u64 = 50_000;

/// The JSON metadata cargo sends (fields zoo does not use are ignored).
#[derive(Debug, Deserialize)]
pub struct PublishMetadata {
    pub name: String,
    pub vers: String,
    #[serde(default)]
    pub deps: Vec<PublishDep>,
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub links: Option<String>,
    #[serde(default)]
    pub rust_version: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PublishDep {
    pub name: String,
    pub version_req: String,
    #[serde(default)]
    pub features: Vec<String>,
    #[serde(default)]
    pub optional: bool,
    #[serde(default = "yes")]
    pub default_features: bool,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default = "normal")]
    pub kind: String,
    #[serde(default)]
    pub registry: Option<String>,
    #[serde(default)]
    pub explicit_name_in_toml: Option<String>,
}

fn yes() -> bool {
    true
}

fn normal() -> String {
    "normal".into()
}

/// Splits the body into the metadata JSON and the `.crate` bytes.
pub fn split_body(body: &[u8]) -> Result<(&[u8], &[u8]), String> {
    fn take<'a>(rest: &mut &'a [u8], what: &str) -> Result<&'a [u8], String> {
        let Some((len, tail)) = rest.split_first_chunk::<4>() else {
            return Err(format!("the body ends before the length of the {what}"));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if tail.len() < len {
            return Err(format!(
                "the {what} is declared as {len} bytes but only {} follow",
                tail.len()
            ));
        }
        let (part, tail) = tail.split_at(len);
        *rest = tail;
        Ok(part)
    }
    let mut rest = body;
    let json = take(&mut rest, "JSON metadata")?;
    let krate = take(&mut rest, ".crate file")?;
    if !rest.is_empty() {
        return Err(format!(
            "{} unexpected bytes after the .crate file",
            rest.len()
        ));
    }
    Ok((json, krate))
}

/// Whether `url` (with or without `sparse+` and a trailing `/`) is `own`.
fn is_own_index(url: &str, own: &str) -> bool {
    let plain = |u: &str| {
        u.strip_prefix("sparse+")
            .unwrap_or(u)
            .trim_end_matches('/')
            .to_string()
    };
    plain(url) == plain(own)
}

/// Validates the metadata and renders its index line (`yanked: false`).
/// `own_index` is this registry's index URL: dependencies naming it are
/// written with `registry: null`, as the index format requires.
pub fn index_line(
    meta: &PublishMetadata,
    cksum: &str,
    own_index: &str,
) -> Result<(Version, IndexLine), String> {
    zoo_format::validate_name(&meta.name).map_err(|e| format!("`name`: {e}"))?;
    let vers = Version::parse(&meta.vers)
        .map_err(|e| format!("`vers`: `{}` is not a semver version: {e}", meta.vers))?;
    let mut deps = Vec::with_capacity(meta.deps.len());
    for dep in &meta.deps {
        let field = format!("dependency `{}`", dep.name);
        zoo_format::validate_name(&dep.name).map_err(|e| format!("{field}: {e}"))?;
        VersionReq::parse(&dep.version_req).map_err(|e| {
            format!(
                "{field}: `version_req` `{}` is not a semver requirement: {e}",
                dep.version_req
            )
        })?;
        if !matches!(dep.kind.as_str(), "normal" | "dev" | "build") {
            return Err(format!(
                "{field}: `kind` is `{}`; expected normal, dev or build",
                dep.kind
            ));
        }
        if let Some(rename) = &dep.explicit_name_in_toml {
            zoo_format::validate_name(rename)
                .map_err(|e| format!("{field}: `explicit_name_in_toml`: {e}"))?;
        }
        deps.push(IndexDep {
            name: dep
                .explicit_name_in_toml
                .clone()
                .unwrap_or_else(|| dep.name.clone()),
            req: dep.version_req.clone(),
            features: dep.features.clone(),
            optional: dep.optional,
            default_features: dep.default_features,
            target: dep.target.clone(),
            kind: dep.kind.clone(),
            registry: dep
                .registry
                .clone()
                .filter(|url| !is_own_index(url, own_index)),
            package: dep.explicit_name_in_toml.as_ref().map(|_| dep.name.clone()),
        });
    }
    // Features using the newer syntax go to `features2` (as crates.io does),
    // so that old cargo versions skip the version instead of misreading it.
    let (features2, features): (BTreeMap<_, _>, BTreeMap<_, _>) =
        meta.features.clone().into_iter().partition(|(_, values)| {
            values
                .iter()
                .any(|v| v.starts_with("dep:") || v.contains("?/"))
        });
    let has_features2 = !features2.is_empty();
    Ok((
        vers,
        IndexLine {
            name: meta.name.clone(),
            vers: meta.vers.clone(),
            deps,
            cksum: cksum.to_string(),
            features,
            yanked: false,
            links: meta.links.clone(),
            v: if has_features2 { 2 } else { 1 },
            features2: has_features2.then_some(features2),
            rust_version: meta.rust_version.clone(),
        },
    ))
}

/// Checks the `.crate`'s contents with zoo-format's safe reader (the checks
/// of `.zoo` archives: gzip caps, nothing after the gzip stream, only regular
/// files and directories, safe bounded paths, no duplicates), every entry
/// under `{name}-{vers}/`, and a `Cargo.toml` naming this crate and version.
pub fn check_crate_file(krate: &[u8], name: &str, vers: &str) -> Result<(), String> {
    let limits = zoo_format::archive::Limits {
        max_entries: MAX_CRATE_ENTRIES,
        max_total_size: MAX_UNPACKED,
        ..Default::default()
    };
    zoo_format::archive::read_crate(krate, name, vers, &limits)
        .map(|_| ())
        .map_err(|e| format!("the .crate file: {e}"))
}

pub async fn publish(
    State(state): State<AppState>,
    caller: Caller,
    request: Request,
) -> Result<Json<serde_json::Value>, ApiError> {
    let rights = publish_rules::rights(&caller)?;
    let limit = state.config.max_package_size.min(MAX_CRATE_BODY);
    crate::http::check_content_length(&request, limit)?;
    let receiving = state.uploads.admit(&caller.user)?;
    let received = super::receive::receive(&state.blobs, request.into_body(), limit).await?;
    // The caps are on bodies being received, not on the checks after.
    drop(receiving);
    let json = &received.metadata[..];
    let meta: PublishMetadata = serde_json::from_slice(json)
        .map_err(|e| ApiError::bad_request(format!("the publish metadata: {e}")))?;
    let cksum = received.krate.sha256.clone();
    let (vers, line) = index_line(&meta, &cksum, &state.config.cargo_index_url())
        .map_err(|e| ApiError::bad_request(format!("the publish metadata: {e}")))?;
    let staged_path = received.krate.path().to_path_buf();
    let (name, vers_text) = (meta.name.clone(), meta.vers.clone());
    tokio::task::spawn_blocking(move || {
        let krate = std::fs::read(&staged_path)
            .map_err(|e| ApiError::internal(format!("reading the staged .crate file: {e}")))?;
        check_crate_file(&krate, &name, &vers_text).map_err(ApiError::bad_request)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;

    let (who, name, v) = (caller.clone(), meta.name.clone(), vers.clone());
    state
        .domain(move |s| publish_rules::preflight(s, Namespace::Cargo, &who, rights, &name, &v))
        .await?;

    state
        .blobs
        .persist(received.krate)
        .await
        .map_err(|e| ApiError::internal(format!("storing the .crate file: {e}")))?;

    let new = NewCrateVersion {
        name: meta.name.clone(),
        vers: vers.clone(),
        cksum,
        index_line: serde_json::to_string(&line).map_err(|e| ApiError::internal(e.to_string()))?,
        description: meta.description.clone().unwrap_or_default(),
        metadata: String::from_utf8_lossy(&received.metadata).into_owned(),
    };
    let user = caller.user.clone();
    state
        .db(move |s| s.cargo_publish(&user, rights, &new))
        .await?;
    let name_norm = zoo_format::normalize_name(&meta.name);
    super::refresh_index_file(&state, &name_norm).await;
    tracing::info!(krate = %meta.name, %vers, user = %caller.user.login, "crate published");
    Ok(Json(serde_json::json!({
        "warnings": {"invalid_categories": [], "invalid_badges": [], "other": []}
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &[u8], krate: &[u8]) -> Vec<u8> {
        let mut out = (json.len() as u32).to_le_bytes().to_vec();
        out.extend_from_slice(json);
        out.extend_from_slice(&(krate.len() as u32).to_le_bytes());
        out.extend_from_slice(krate);
        out
    }

    #[test]
    fn splits_and_bounds_checks_the_body() {
        let b = body(b"{}", b"crate");
        assert_eq!(split_body(&b).unwrap(), (&b"{}"[..], &b"crate"[..]));
        assert!(
            split_body(&b[..b.len() - 1])
                .unwrap_err()
                .contains("5 bytes")
        );
        assert!(split_body(&b[..3]).unwrap_err().contains("length"));
        let mut extra = b.clone();
        extra.push(0);
        assert!(split_body(&extra).unwrap_err().contains("unexpected"));
    }

    #[test]
    fn maps_metadata_to_the_index_form() {
        let meta: PublishMetadata = serde_json::from_value(serde_json::json!({
            "name": "Demo_Link", "vers": "0.2.0", "links": null,
            "features": {"default": ["std"], "std": [], "extra": ["dep:helper"]},
            "deps": [
                {"name": "helper", "version_req": "^1", "features": [], "optional": true,
                 "default_features": true, "target": null, "kind": "normal",
                 "registry": "sparse+http://127.0.0.1:9/cargo/index/",
                 "explicit_name_in_toml": "renamed"},
                {"name": "serde", "version_req": "^1.0", "features": ["derive"], "optional": false,
                 "default_features": false, "target": "cfg(unix)", "kind": "dev",
                 "registry": "https://github.com/rust-lang/crates.io-index"}
            ]
        }))
        .unwrap();
        let (vers, line) = index_line(&meta, "ab", "http://127.0.0.1:9/cargo/index/").unwrap();
        assert_eq!(vers, Version::new(0, 2, 0));
        assert_eq!(line.deps[0].name, "renamed");
        assert_eq!(line.deps[0].package.as_deref(), Some("helper"));
        assert_eq!(line.deps[0].registry, None);
        assert_eq!(line.deps[1].name, "serde");
        assert_eq!(line.deps[1].package, None);
        assert_eq!(
            line.deps[1].registry.as_deref(),
            Some("https://github.com/rust-lang/crates.io-index")
        );
        assert_eq!(line.v, 2);
        assert_eq!(line.features.len(), 2);
        assert_eq!(line.features2.as_ref().unwrap()["extra"], ["dep:helper"]);
        let text = serde_json::to_string(&line).unwrap();
        assert!(
            text.starts_with(
                r#"{"name":"Demo_Link","vers":"0.2.0","deps":[{"name":"renamed","req":"^1""#
            ),
            "{text}"
        );
    }

    #[test]
    fn refuses_bad_metadata_naming_the_field() {
        let meta = |v: serde_json::Value| serde_json::from_value::<PublishMetadata>(v).unwrap();
        let e = index_line(
            &meta(serde_json::json!({"name": "1x", "vers": "1.0.0"})),
            "",
            "",
        )
        .unwrap_err();
        assert!(e.contains("`name`"), "{e}");
        let e = index_line(
            &meta(serde_json::json!({"name": "x", "vers": "1.0"})),
            "",
            "",
        )
        .unwrap_err();
        assert!(e.contains("`vers`"), "{e}");
        let e = index_line(
            &meta(serde_json::json!({"name": "x", "vers": "1.0.0",
                "deps": [{"name": "y", "version_req": "not a req"}]})),
            "",
            "",
        )
        .unwrap_err();
        assert!(
            e.contains("dependency `y`") && e.contains("version_req"),
            "{e}"
        );
    }

    fn crate_file(paths: &[&str]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(gz);
        for path in paths {
            let data: &[u8] = if path.ends_with("Cargo.toml") {
                b"[package]\nname = \"x\"\nversion = \"0.1.0\"\n"
            } else {
                b"hi"
            };
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_entry_type(tar::EntryType::Regular);
            // `set_path` refuses `..`; write the raw name to test the check.
            header.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
            header.set_cksum();
            builder.append(&header, data).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn checks_the_crate_file_layout() {
        let ok = crate_file(&["x-0.1.0/Cargo.toml", "x-0.1.0/src/lib.rs"]);
        check_crate_file(&ok, "x", "0.1.0").unwrap();
        let e = check_crate_file(&ok, "x", "0.2.0").unwrap_err();
        assert!(e.contains("not inside `x-0.2.0/`"), "{e}");
        let e = check_crate_file(&crate_file(&["x-0.1.0/src/lib.rs"]), "x", "0.1.0").unwrap_err();
        assert!(e.contains("no `x-0.1.0/Cargo.toml`"), "{e}");
        let e = check_crate_file(&crate_file(&["x-0.1.0/../evil"]), "x", "0.1.0").unwrap_err();
        assert!(e.contains(".."), "{e}");
        let e = check_crate_file(b"not gzip", "x", "0.1.0").unwrap_err();
        assert!(e.contains("the .crate file"), "{e}");
    }
}

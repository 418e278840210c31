//! `GET /api/v1/packages/{name}`: everything a model card page needs. Per
//! version, besides its index entry: `license`, `inputs`, `outputs` and
//! `code` (the TorchScript file of a package that contains code, null for
//! data-only packages) from its recorded zoo.toml, and `signed_by` (the
//! publisher key and its short id, null when unsigned). The top level repeats
//! license, inputs, outputs and metrics of the shown version so that a client
//! needs no second look-up.

use axum::Json;
use axum::extract::{Path, State};
use zoo_format::index::IndexEntry;
use zoo_format::manifest::{Input, Output};

use super::search::display_version;
use crate::db::VersionRecord;
use crate::http::{ApiError, AppState};

pub async fn info(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name_norm = zoo_format::normalize_name(&name);
    let lookup = name_norm.clone();
    let (package, mut versions, owners) = state
        .db(move |s| {
            let package = s.package(&lookup)?;
            Ok(match package {
                Some(p) => Some((
                    p,
                    s.versions(&lookup)?,
                    s.owners(crate::db::Namespace::Zoo, &lookup)?,
                )),
                None => None,
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("package `{name_norm}` does not exist")))?;
    versions.sort_by(|a, b| b.entry.vers.cmp(&a.entry.vers));
    let details = version_details(&state, &name_norm, &versions).await?;
    let shown = display_version(&versions).map(|s| s.entry.vers.clone());
    let mut top = serde_json::json!({
        "version": null,
        "license": null,
        "inputs": [],
        "outputs": [],
        "metrics": [],
        "sources": [],
    });
    let versions: Vec<_> = versions
        .iter()
        .zip(details)
        .map(|(v, details)| {
            let json = serde_json::json!({
                "version": v.entry.vers.to_string(),
                "yanked": v.entry.yanked,
                "published_at": v.published_at,
                "archive": v.entry.archive,
                "files": v.entry.files,
                "license": details.license,
                "inputs": details.inputs,
                "outputs": details.outputs,
                "metrics": v.metrics,
                "sources": details.sources,
                "deps": v.entry.deps,
                "signature": v.entry.signature,
                "signed_by": signed_by(&v.entry),
                "code": details.code,
            });
            if shown.as_ref() == Some(&v.entry.vers) {
                for key in [
                    "version", "license", "inputs", "outputs", "metrics", "sources",
                ] {
                    top[key] = json[key].clone();
                }
            }
            json
        })
        .collect();
    let owners: Vec<_> = owners
        .iter()
        .map(|u| serde_json::json!({"login": u.login}))
        .collect();
    Ok(Json(serde_json::json!({
        "name": package.name,
        "kind": package.kind,
        "description": package.description,
        "keywords": package.keywords,
        "version": top["version"],
        "license": top["license"],
        "inputs": top["inputs"],
        "outputs": top["outputs"],
        "metrics": top["metrics"],
        "sources": top["sources"],
        "owners": owners,
        "readme": package.readme,
        "versions": versions,
    })))
}

/// `{"key","key_id"}` of the publisher's signature, or null when the version
/// was published unsigned. `key_id` is the short fingerprint `zoo trust add`
/// prints, so a reader can match the two without comparing base64.
pub fn signed_by(entry: &IndexEntry) -> serde_json::Value {
    match &entry.signature {
        None => serde_json::Value::Null,
        Some(sig) => serde_json::json!({
            "key": sig.key,
            "key_id": key_id(&sig.key),
        }),
    }
}

/// The short id of a publisher key (null-able: the registry checked the key
/// at publish, but a hand-edited database need not take down the page).
pub fn key_id(key: &str) -> Option<String> {
    key.parse::<zoo_format::signing::PublicKey>()
        .ok()
        .map(|k| k.fingerprint())
}

/// What a version's recorded zoo.toml says beyond its index entry.
#[derive(Debug, Clone, Default)]
pub struct VersionDetails {
    /// The file that is code rather than data (a TorchScript model; see
    /// `zoo_format::Manifest::code_file`).
    pub code: Option<String>,
    pub license: Option<String>,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    /// `[[model.sources]]`: where weights not carried come from.
    pub sources: Vec<zoo_format::manifest::WeightsSource>,
    /// The README's path inside the package (its relative links start
    /// from its folder).
    pub readme: Option<String>,
}

impl VersionDetails {
    /// From a zoo.toml's text (recorded manifests were parsed at publish;
    /// one that no longer parses shows nothing rather than failing the page).
    pub fn from_manifest(manifest_text: &str) -> VersionDetails {
        let Ok(manifest) = zoo_format::Manifest::from_toml_str(manifest_text) else {
            return VersionDetails::default();
        };
        let code = manifest.code_file().map(str::to_string);
        let readme = manifest.package.readme.clone();
        let (inputs, outputs, sources) = match manifest.model {
            Some(model) => (model.inputs, model.outputs, model.sources),
            None => (Vec::new(), Vec::new(), Vec::new()),
        };
        VersionDetails {
            code,
            license: manifest.package.license,
            inputs,
            outputs,
            sources,
            readme,
        }
    }
}

/// [`VersionDetails`] of each of `versions`, in order, from their recorded zoo.toml.
pub async fn version_details(
    state: &AppState,
    name_norm: &str,
    versions: &[VersionRecord],
) -> Result<Vec<VersionDetails>, ApiError> {
    let lookup = name_norm.to_string();
    let wanted: Vec<semver::Version> = versions.iter().map(|v| v.entry.vers.clone()).collect();
    state
        .db(move |s| {
            wanted
                .iter()
                .map(|v| {
                    Ok(VersionDetails::from_manifest(
                        &s.version_manifest(&lookup, v)?,
                    ))
                })
                .collect()
        })
        .await
}

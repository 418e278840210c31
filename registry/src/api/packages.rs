//! `GET /api/v1/packages/{name}`: everything a model card page needs,
//! including, per version, `code`: the TorchScript file of a package that
//! contains code (null for data-only packages).

use axum::Json;
use axum::extract::{Path, State};

use super::{ApiError, AppState};

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
                Some(p) => Some((p, s.versions(&lookup)?, s.owners(&lookup)?)),
                None => None,
            })
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("package `{name_norm}` does not exist")))?;
    versions.sort_by(|a, b| b.entry.vers.cmp(&a.entry.vers));
    let code = code_files(&state, &name_norm, &versions).await?;
    let versions: Vec<_> = versions
        .iter()
        .zip(code)
        .map(|(v, code)| {
            serde_json::json!({
                "version": v.entry.vers.to_string(),
                "yanked": v.entry.yanked,
                "published_at": v.published_at,
                "archive": v.entry.archive,
                "files": v.entry.files,
                "metrics": v.metrics,
                "deps": v.entry.deps,
                "signature": v.entry.signature,
                "code": code,
            })
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
        "owners": owners,
        "readme": package.readme,
        "versions": versions,
    })))
}

/// Per version, the file that is code rather than data (a TorchScript
/// model; see `zoo_format::Manifest::code_file`), from its recorded zoo.toml.
pub async fn code_files(
    state: &AppState,
    name_norm: &str,
    versions: &[crate::db::VersionRecord],
) -> Result<Vec<Option<String>>, ApiError> {
    let lookup = name_norm.to_string();
    let wanted: Vec<semver::Version> = versions.iter().map(|v| v.entry.vers.clone()).collect();
    state
        .db(move |s| {
            wanted
                .iter()
                .map(|v| Ok(code_file(&s.version_manifest(&lookup, v)?)))
                .collect()
        })
        .await
}

/// The code file named by a zoo.toml's text (recorded manifests parsed at publish).
pub fn code_file(manifest_text: &str) -> Option<String> {
    zoo_format::Manifest::from_toml_str(manifest_text)
        .ok()?
        .code_file()
        .map(str::to_string)
}

//! `GET /api/v1/packages/{name}`: everything a model card page needs.

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
    let versions: Vec<_> = versions
        .iter()
        .map(|v| {
            serde_json::json!({
                "version": v.entry.vers.to_string(),
                "yanked": v.entry.yanked,
                "published_at": v.published_at,
                "archive": v.entry.archive,
                "files": v.entry.files,
                "metrics": v.metrics,
                "deps": v.entry.deps,
                "signature": v.entry.signature,
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

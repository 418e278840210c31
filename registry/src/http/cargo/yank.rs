//! `DELETE /cargo/api/v1/crates/{name}/{version}/yank` and `PUT …/unyank`:
//! only the index line's `yanked` flag changes; the `.crate` stays
//! downloadable for existing lockfiles.

use axum::Json;
use axum::extract::{Path, State};
use semver::Version;

use crate::auth::{Caller, Scope};
use crate::http::{ApiError, AppState};

pub async fn yank(
    state: State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set_yanked(state, caller, path, true).await
}

pub async fn unyank(
    state: State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set_yanked(state, caller, path, false).await
}

async fn set_yanked(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
    yanked: bool,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Scope::Yank)?;
    let version = Version::parse(&version)
        .map_err(|e| ApiError::bad_request(format!("`{version}` is not a semver version: {e}")))?;
    let name_norm = zoo_format::normalize_name(&name);
    let (user, name) = (caller.user.clone(), name_norm.clone());
    state
        .db(move |s| s.cargo_set_yanked(&user, &name, &version, yanked))
        .await?;
    super::refresh_index_file(&state, &name_norm).await;
    Ok(Json(serde_json::json!({"ok": true})))
}

//! `DELETE …/{version}/yank` and `PUT …/{version}/unyank` for packages
//! (`/api/v1/packages/…`) and crates (`/cargo/api/v1/crates/…`): adapters
//! over [`crate::domain::yank::set_yanked`].

use axum::Json;
use axum::extract::{Path, State};

use super::{ApiError, AppState, Served};
use crate::auth::Caller;
use crate::domain::yank;

pub async fn yank<N: Served>(
    state: State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set_yanked::<N>(state, caller, path, true).await
}

pub async fn unyank<N: Served>(
    state: State<AppState>,
    caller: Caller,
    path: Path<(String, String)>,
) -> Result<Json<serde_json::Value>, ApiError> {
    set_yanked::<N>(state, caller, path, false).await
}

async fn set_yanked<N: Served>(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
    yanked: bool,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name_norm = state
        .domain(move |s| yank::set_yanked(s, N::NS, &caller, &name, &version, yanked))
        .await?;
    state.refresh_index(N::NS, &name_norm).await;
    Ok(Json(serde_json::json!({"ok": true})))
}

//! `GET /cargo/api/v1/crates?q=&per_page=` (`cargo search`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};

use crate::db::cargo::CrateVersionRecord;
use crate::http::{ApiError, AppState};

/// Largest accepted `per_page` (cargo's own limit is 100).
pub const MAX_PER_PAGE: u64 = 100;

/// The highest non-yanked version, or the highest of all when all are yanked.
fn max_version(versions: &[CrateVersionRecord]) -> Option<&CrateVersionRecord> {
    let highest = |only_live: bool| {
        versions
            .iter()
            .filter(|v| !only_live || !v.yanked)
            .max_by(|a, b| a.vers.cmp(&b.vers))
    };
    highest(true).or_else(|| highest(false))
}

pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let query = params.get("q").cloned().unwrap_or_default();
    crate::http::api::search::check_query(&query).map_err(ApiError::bad_request)?;
    let per_page = match params.get("per_page") {
        None => 10,
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(format!("`per_page` must be a positive integer, not `{v}`"))
        })?,
    };
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(ApiError::bad_request(format!(
            "`per_page` must be between 1 and {MAX_PER_PAGE}"
        )));
    }
    let (hits, total) = state.db(move |s| s.cargo_search(&query, per_page)).await?;
    let crates: Vec<_> = hits
        .iter()
        .map(|hit| {
            serde_json::json!({
                "name": hit.krate.name,
                "max_version": max_version(&hit.versions).map(|v| v.vers.to_string()),
                "description": hit.krate.description,
            })
        })
        .collect();
    Ok(Json(
        serde_json::json!({"crates": crates, "meta": {"total": total}}),
    ))
}

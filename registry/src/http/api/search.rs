//! `GET /api/v1/search?q=&page=1&per_page=20`: one page of matches, the
//! number of all matches and the last page that has any.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};

use crate::db::VersionRecord;
use crate::http::{ApiError, AppState};

/// Largest accepted `per_page`.
pub const MAX_PER_PAGE: u64 = 100;
/// Longest accepted search text, in characters (SQLite refuses `LIKE`
/// patterns over 50,000 bytes; no package name or description needs more).
pub const MAX_QUERY_CHARS: usize = 256;
/// Highest accepted page number: offsets stay far below `i64::MAX`, which
/// both databases take as the largest `OFFSET`.
pub const MAX_PAGE: u64 = 10_000;

/// Refuses a search text longer than [`MAX_QUERY_CHARS`] (all three search
/// endpoints: the API, the web page and cargo's).
pub fn check_query(query: &str) -> Result<(), String> {
    let chars = query.chars().count();
    if chars > MAX_QUERY_CHARS {
        return Err(format!(
            "`q` is {chars} characters long; at most {MAX_QUERY_CHARS} are allowed"
        ));
    }
    Ok(())
}

/// The row offset of `page` (1-based) or why the page is refused: pages
/// past the results are empty, pages above [`MAX_PAGE`] are refused.
pub fn page_offset(page: u64, per_page: u64) -> Result<u64, String> {
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(format!("`page` must be between 1 and {MAX_PAGE}"));
    }
    Ok((page - 1) * per_page)
}

/// The last page that holds results (1 when nothing matches, so that page 1
/// is never "past the end").
pub fn last_page(total: u64, per_page: u64) -> u64 {
    total.div_ceil(per_page.max(1)).max(1)
}

fn number(params: &HashMap<String, String>, key: &str, default: u64) -> Result<u64, ApiError> {
    match params.get(key) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_request(format!("`{key}` must be a positive integer, not `{v}`"))
        }),
    }
}

/// The version to show for a package, the one `zoo install NAME` picks: the
/// highest release that is not yanked; failing that the highest
/// pre-release that is not yanked; failing that the highest of all.
pub fn display_version(versions: &[VersionRecord]) -> Option<&VersionRecord> {
    let highest = |keep: &dyn Fn(&VersionRecord) -> bool| {
        versions
            .iter()
            .filter(|v| keep(v))
            .max_by(|a, b| a.entry.vers.cmp(&b.entry.vers))
    };
    highest(&|v| !v.entry.yanked && v.entry.vers.pre.is_empty())
        .or_else(|| highest(&|v| !v.entry.yanked))
        .or_else(|| highest(&|_| true))
}

pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let query = params.get("q").cloned().unwrap_or_default();
    check_query(&query).map_err(ApiError::bad_request)?;
    let page = number(&params, "page", 1)?;
    let per_page = number(&params, "per_page", 20)?;
    if per_page == 0 || per_page > MAX_PER_PAGE {
        return Err(ApiError::bad_request(format!(
            "`per_page` must be between 1 and {MAX_PER_PAGE}"
        )));
    }
    let offset = page_offset(page, per_page).map_err(ApiError::bad_request)?;
    let (hits, total) = state
        .db(move |s| s.search(&query, offset, per_page))
        .await?;
    let packages: Vec<_> = hits
        .iter()
        .map(|hit| {
            serde_json::json!({
                "name": hit.package.name,
                "version": display_version(&hit.versions).map(|v| v.entry.vers.to_string()),
                "kind": hit.package.kind,
                "description": hit.package.description,
                "keywords": hit.package.keywords,
            })
        })
        .collect();
    // `total` counts every match; `last_page` lets a client tell a page past
    // the end (empty `packages`) from a search that found nothing.
    Ok(Json(serde_json::json!({
        "packages": packages,
        "total": total,
        "page": page,
        "per_page": per_page,
        "last_page": last_page(total, per_page),
    })))
}

#[cfg(test)]
mod tests {
    use super::display_version;
    use crate::db::VersionRecord;

    fn record(vers: &str, yanked: bool) -> VersionRecord {
        let entry = serde_json::from_value(serde_json::json!({
            "name": "a", "vers": vers, "kind": "model", "deps": [],
            "archive": {"sha256": "0".repeat(64), "size": 1},
            "files": [], "yanked": yanked,
        }))
        .expect("index entry");
        VersionRecord {
            entry,
            published_at: String::new(),
            metrics: serde_json::json!([]),
        }
    }

    fn shown(records: &[VersionRecord]) -> String {
        display_version(records).map_or(String::new(), |r| r.entry.vers.to_string())
    }

    #[test]
    fn shows_what_a_plain_install_picks() {
        let all = [
            record("0.1.2", false),
            record("0.3.0-rc.1", false),
            record("1.0.0", true),
        ];
        assert_eq!(shown(&all), "0.1.2");
        assert_eq!(shown(&all[1..]), "0.3.0-rc.1", "only a pre-release left");
        assert_eq!(shown(&all[2..]), "1.0.0", "everything yanked");
    }
}

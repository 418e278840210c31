//! `GET|PUT|DELETE /cargo/api/v1/crates/{name}/owners` (`cargo owner`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;

use crate::auth::{Caller, Scope};
use crate::http::{ApiError, AppState};

#[derive(Deserialize)]
struct OwnersBody {
    users: Vec<String>,
}

fn parse_body(body: &[u8]) -> Result<Vec<String>, ApiError> {
    let parsed: OwnersBody = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be {{\"users\": [\"login\", …]}}: {e}"
        ))
    })?;
    if parsed.users.is_empty() {
        return Err(ApiError::bad_request("`users` is empty"));
    }
    Ok(parsed.users)
}

/// `{"users":[{"id","login","name"}]}`: cargo needs `id` and `login`.
pub async fn list(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = zoo_format::normalize_name(&name);
    let owners = state.db(move |s| s.cargo_owners(&name)).await?;
    let users: Vec<_> = owners
        .iter()
        .map(|u| serde_json::json!({"id": u.id, "login": u.login, "name": null}))
        .collect();
    Ok(Json(serde_json::json!({"users": users})))
}

pub async fn add(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Scope::Owners)?;
    let logins = parse_body(&body)?;
    let name = zoo_format::normalize_name(&name);
    let msg = format!("{} added as owner(s) of crate {name}", logins.join(", "));
    let user = caller.user.clone();
    state
        .db(move |s| s.cargo_add_owners(&user, &name, &logins))
        .await?;
    Ok(Json(serde_json::json!({"ok": true, "msg": msg})))
}

pub async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(Scope::Owners)?;
    let logins = parse_body(&body)?;
    let name = zoo_format::normalize_name(&name);
    let msg = format!(
        "{} removed from the owners of crate {name}",
        logins.join(", ")
    );
    let user = caller.user.clone();
    state
        .db(move |s| s.cargo_remove_owners(&user, &name, &logins))
        .await?;
    Ok(Json(serde_json::json!({"ok": true, "msg": msg})))
}

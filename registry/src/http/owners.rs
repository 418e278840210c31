//! `GET|PUT|DELETE /api/v1/packages/{name}/owners` and
//! `/cargo/api/v1/crates/{name}/owners` (`cargo owner`): adapters over
//! [`crate::domain::owners`], one per namespace ([`Served`]).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::{ApiError, AppState, Served};
use crate::auth::Caller;
use crate::domain::owners::{self, Change};
use crate::domain::{DomainError, Namespace};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OwnersBody {
    users: Vec<String>,
}

/// Cargo's body, read leniently as cargo's own registry does.
#[derive(Deserialize)]
struct CargoOwnersBody {
    users: Vec<String>,
}

fn parse_body(ns: Namespace, body: &[u8]) -> Result<Vec<String>, DomainError> {
    let users = match ns {
        Namespace::Zoo => serde_json::from_slice::<OwnersBody>(body).map(|b| b.users),
        Namespace::Cargo => serde_json::from_slice::<CargoOwnersBody>(body).map(|b| b.users),
    }
    .map_err(|e| {
        DomainError::Invalid(format!(
            "the body must be {{\"users\": [\"login\", …]}}: {e}"
        ))
    })?;
    if users.is_empty() {
        return Err(DomainError::Invalid("`users` is empty".into()));
    }
    Ok(users)
}

/// `{"users":[{"login"}]}`; for cargo `{"users":[{"id","login","name"}]}`
/// (cargo needs `id` and `login`).
pub async fn list<N: Served>(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let owners = state.db(move |s| owners::list(s, N::NS, &name)).await?;
    let users: Vec<_> = owners
        .iter()
        .map(|u| match N::NS {
            Namespace::Zoo => serde_json::json!({"login": u.login}),
            Namespace::Cargo => serde_json::json!({"id": u.id, "login": u.login, "name": null}),
        })
        .collect();
    Ok(Json(serde_json::json!({"users": users})))
}

pub async fn add<N: Served>(
    state: State<AppState>,
    caller: Caller,
    name: Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    change::<N>(state, caller, name, body, Change::Add).await
}

pub async fn remove<N: Served>(
    state: State<AppState>,
    caller: Caller,
    name: Path<String>,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    change::<N>(state, caller, name, body, Change::Remove).await
}

async fn change<N: Served>(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    body: Bytes,
    change: Change,
) -> Result<Json<serde_json::Value>, ApiError> {
    let msg = state
        .domain(move |s| {
            owners::change(s, N::NS, &caller, &name, change, || {
                parse_body(N::NS, &body)
            })
        })
        .await?;
    Ok(Json(serde_json::json!({"ok": true, "msg": msg})))
}

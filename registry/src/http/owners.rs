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
    distinct_users(users)
}

/// Most distinct logins one owners request may name.
const MAX_USERS: usize = 100;

/// The logins once each, in the order given: a name repeated 270,000
/// times is one change, not a 1.6 MB refusal naming it each time.
fn distinct_users(users: Vec<String>) -> Result<Vec<String>, DomainError> {
    let mut seen = std::collections::HashSet::new();
    let mut distinct = Vec::new();
    for user in users {
        if seen.insert(user.clone()) {
            distinct.push(user);
        }
        if distinct.len() > MAX_USERS {
            return Err(DomainError::Invalid(format!(
                "`users` names more than {MAX_USERS} different logins; change owners in smaller steps"
            )));
        }
    }
    if distinct.is_empty() {
        return Err(DomainError::Invalid("`users` is empty".into()));
    }
    Ok(distinct)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_logins_count_once() {
        let body = serde_json::json!({ "users": vec!["bob"; 270_000] }).to_string();
        assert_eq!(
            parse_body(Namespace::Zoo, body.as_bytes()).unwrap(),
            ["bob"]
        );
        let many: Vec<String> = (0..=MAX_USERS).map(|i| format!("u{i}")).collect();
        let body = serde_json::json!({ "users": many }).to_string();
        let e = parse_body(Namespace::Cargo, body.as_bytes()).unwrap_err();
        assert!(e.to_string().contains("more than 100"), "{e}");
        let body = br#"{"users":[]}"#;
        assert!(parse_body(Namespace::Zoo, body).is_err());
    }
}

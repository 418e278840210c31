//! `GET /api/v1/me`: whose token this is and what it may do, so that `zoo
//! login` can refuse a token the registry does not accept before saving it.

use axum::Json;

use crate::auth::Caller;

pub async fn me(caller: Caller) -> Json<serde_json::Value> {
    let scopes: Vec<&str> = caller.scopes.iter().map(|s| s.as_str()).collect();
    Json(serde_json::json!({
        "login": caller.user.login,
        "scopes": scopes,
    }))
}

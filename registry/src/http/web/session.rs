//! Web sessions: a random id in an `HttpOnly; SameSite=Strict` cookie,
//! stored server-side only as its sha256, with a per-session anti-CSRF
//! token that every form of a signed-in page echoes.

use axum::http::HeaderMap;
use axum::http::header::COOKIE;
use subtle::ConstantTimeEq;
use zoo_format::checksum::sha256_hex;

use super::PageError;
use crate::auth::Scope;
use crate::db::User;
use crate::http::AppState;

pub const SESSION_COOKIE: &str = "zoo_session";
/// Double-submit cookie protecting the login form itself.
pub const LOGIN_CSRF_COOKIE: &str = "zoo_login_csrf";
/// How long a session lasts.
pub const SESSION_SECONDS: i64 = 12 * 60 * 60;

/// A signed-in user of a page.
#[derive(Debug, Clone)]
pub struct WebUser {
    pub user: User,
    /// The scopes of the token that opened the session: the most a token
    /// created in it may carry.
    pub scopes: Vec<Scope>,
    pub csrf: String,
    pub session_sha256: String,
}

pub fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// 32 random bytes as hex.
pub fn random_hex() -> Result<String, PageError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| PageError {
        status: axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("reading the system's random source: {e}"),
    })?;
    Ok(hex::encode(bytes))
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` value; `Secure` when the registry is served over https.
pub fn set_cookie(state: &AppState, name: &str, value: &str, path: &str, max_age: i64) -> String {
    let secure = if state.config.base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

/// Constant-time comparison of two tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    !a.is_empty() && a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The signed-in user, if the request carries a live session cookie: not
/// expired, and opened with a token that is still active.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<WebUser>, PageError> {
    let Some(id) = cookie(headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let hash = sha256_hex(id.as_bytes());
    let lookup = hash.clone();
    let record = state.db(move |s| s.find_session(&lookup)).await?;
    Ok(record
        .filter(|r| r.expires_at > unix_now())
        .map(|r| WebUser {
            user: r.user,
            scopes: r.scopes,
            csrf: r.csrf,
            session_sha256: hash,
        }))
}

/// Starts a session for `user`, who signed in with their token `token_id`
/// (the session ends when that token is revoked, and mints no more than its
/// scopes); returns the cookie value to set.
pub async fn start(state: &AppState, user: User, token_id: String) -> Result<String, PageError> {
    let id = random_hex()?;
    let csrf = random_hex()?;
    let hash = sha256_hex(id.as_bytes());
    let now = unix_now();
    let expires = now + SESSION_SECONDS;
    state
        .db(move |s| {
            // Sweeps expired sessions as a side effect (no id matches "").
            s.delete_session("", now)?;
            s.create_session(&hash, &user, &token_id, &csrf, expires)
        })
        .await?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cookies_among_many() {
        let mut headers = HeaderMap::new();
        headers.append(COOKIE, "a=1; zoo_session=abc".parse().unwrap());
        headers.append(COOKIE, "b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "zoo_session"), Some("abc"));
        assert_eq!(cookie(&headers, "b"), Some("2"));
        assert_eq!(cookie(&headers, "zoo"), None);
        assert!(same_token("x1", "x1") && !same_token("x1", "x2") && !same_token("", ""));
    }
}

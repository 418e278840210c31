//! The [`Caller`] extractor: an API token from `Authorization`, checked
//! against the database and the per-address lock-out.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::Extensions;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::auth::limit::retry_after_secs;
use crate::auth::{Caller, MissingScope, secret_matches, split_token, token_from_header};

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// 401 for a missing, malformed, unknown or revoked token; 429 while the
    /// client's address is locked out for presenting too many bad tokens
    /// (see [`crate::auth::limit`]). Tokens are never logged.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "this request needs an API token: send `Authorization: Bearer <token>`",
            ));
        };
        let client = client_ip(&parts.extensions);
        if let Some(wait) = state.auth_limiter.locked_out(client, Instant::now()) {
            return Err(locked_out(wait));
        }
        let refuse = || {
            state.auth_limiter.record_failure(client, Instant::now());
            tracing::warn!(%client, "refused an invalid or revoked API token");
            ApiError::unauthorized("the API token is invalid or has been revoked")
        };
        let value = value.to_str().map_err(|_| refuse())?;
        let Some((id, secret)) = split_token(token_from_header(value)) else {
            return Err(refuse());
        };
        let (id, secret) = (id.to_string(), secret.to_string());
        let record = state.db(move |s| s.find_token(&id)).await?;
        match record {
            Some(token) if !token.revoked && secret_matches(&secret, &token.secret_sha256) => {
                Ok(Caller {
                    user: token.user,
                    scopes: token.scopes,
                })
            }
            _ => Err(refuse()),
        }
    }
}

/// The 429 for a locked-out address.
pub fn locked_out(wait: std::time::Duration) -> ApiError {
    let seconds = retry_after_secs(wait);
    ApiError::too_many_requests(
        format!("too many invalid API tokens from this address; try again in {seconds} s"),
        seconds,
    )
}

/// The peer address of a request (`ConnectInfo`, set by the server); the
/// unspecified address when there is none (in-process tests).
pub fn client_ip(extensions: &Extensions) -> IpAddr {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

impl From<MissingScope> for ApiError {
    fn from(e: MissingScope) -> ApiError {
        ApiError::forbidden(e.to_string())
    }
}

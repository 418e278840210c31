//! Errors as `{"errors":[{"detail":"…"}]}`, Cargo's registry shape, for
//! every error answer: the handlers' own ([`ApiError`]) and those axum and
//! tower-http make themselves (405, 413 from a body limit), rewritten by
//! [`json_errors`].

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::blob::BlobError;
use crate::db::StoreError;
use crate::domain::DomainError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub detail: String,
    /// Seconds for a `Retry-After` header (429 answers).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        ApiError {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    /// 429 with `Retry-After: seconds`.
    pub fn too_many_requests(detail: impl Into<String>, seconds: u64) -> Self {
        ApiError {
            retry_after: Some(seconds),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, detail)
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, detail)
    }
}

/// Longest detail sent; the rest is cut (a message listing what a request
/// sent must not grow with the request).
const MAX_DETAIL: usize = 4096;

/// A detail fit to send: characters that stand for bytes that were not
/// text (the replacement character of a lossy decoding) and control
/// characters become `?`, a run of them one `?`, since parsers' messages
/// quote what they choke on (`numeric field did not have utf-8 text: …`
/// from a hostile tar header); the whole is cut at [`MAX_DETAIL`] bytes.
pub(crate) fn plain_detail(detail: &str) -> String {
    let garbage = |c: char| c == char::REPLACEMENT_CHARACTER || (c.is_control() && c != '\n');
    let mut out = String::with_capacity(detail.len().min(MAX_DETAIL));
    for c in detail.chars() {
        if out.len() >= MAX_DETAIL {
            let dropped = detail.len() - out.len();
            out.push_str(&format!("… (about {dropped} more bytes)"));
            break;
        }
        match garbage(c) {
            true if out.ends_with('?') => {}
            true => out.push('?'),
            false => out.push(c),
        }
    }
    out
}

/// Middleware: an error answer that is neither JSON nor an HTML page (axum's
/// empty 405, a body limit's plain-text 413, …) becomes the JSON error
/// shape, keeping its status and headers (`Allow`, `Retry-After`).
/// (`Allow` is added after this runs, so the detail does not repeat it.)
pub async fn json_errors(method: axum::http::Method, response: Response) -> Response {
    let status = response.status();
    let typed = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/json") || t.starts_with("text/html"));
    if !(status.is_client_error() || status.is_server_error()) || typed {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_DETAIL)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let detail = match status {
        StatusCode::METHOD_NOT_ALLOWED => format!(
            "this route does not take {method} requests (its `Allow` header lists those it takes)"
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            "the request body is larger than this route accepts".to_string()
        }
        _ if text.is_empty() => status.canonical_reason().unwrap_or("error").to_lowercase(),
        _ => text,
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    let (fresh, body) = ApiError::new(status, detail).into_response().into_parts();
    parts.headers.extend(fresh.headers);
    Response::from_parts(parts, body)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.detail);
        }
        let body = serde_json::json!({"errors": [{"detail": plain_detail(&self.detail)}]});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match &e {
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Forbidden(_) => StatusCode::FORBIDDEN,
            StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            StoreError::Backend(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::MissingScope(e) => ApiError::from(e),
            DomainError::Forbidden(detail) => ApiError::forbidden(detail),
            DomainError::Conflict(detail) => ApiError::new(StatusCode::CONFLICT, detail),
            DomainError::Invalid(detail) => ApiError::bad_request(detail),
            DomainError::Store(e) => ApiError::from(e),
        }
    }
}

impl From<BlobError> for ApiError {
    fn from(e: BlobError) -> Self {
        let status = match &e {
            BlobError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BlobError::Mismatch { .. } | BlobError::Body(_) => StatusCode::BAD_REQUEST,
            BlobError::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_quote_no_binary_and_stay_short() {
        let hostile = "numeric field did not have utf-8 text: \u{fffd}mr?\u{1}\u{fffd} when getting cksum for a/b";
        assert_eq!(
            plain_detail(hostile),
            "numeric field did not have utf-8 text: ?mr? when getting cksum for a/b"
        );
        assert_eq!(plain_detail("`caf\u{fffd}.txt`"), "`caf?.txt`");
        assert_eq!(plain_detail("two\nlines stay"), "two\nlines stay");
        let long = plain_detail(&"bob, ".repeat(270_000));
        assert!(long.len() < MAX_DETAIL + 64, "{}", long.len());
        assert!(
            long.ends_with("more bytes)"),
            "{}",
            &long[long.len() - 40..]
        );
    }
}

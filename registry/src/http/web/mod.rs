//! Server-rendered HTML pages (no JavaScript): home, search, package pages,
//! a published version's files one by one ([`files`], what model cards
//! link) and the token page of signed-in owners. Templates are plain Rust
//! functions in [`layout`]; every user-provided string goes through
//! [`layout::esc`], and READMEs are rendered by [`markdown`] with raw HTML
//! escaped.

pub mod account;
pub mod card_links;
pub mod files;
pub mod home;
pub mod layout;
pub mod markdown;
pub mod package;
pub mod session;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};

use crate::http::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home::home))
        .route("/search", get(home::search))
        .route("/packages/{name}", get(package::latest))
        .route("/packages/{name}/{version}", get(package::version))
        .route("/packages/{name}/{version}/files/{*path}", get(files::file))
        // The files without a path: the version page lists them.
        .route("/packages/{name}/{version}/files", get(files::listing))
        .route("/packages/{name}/{version}/files/", get(files::listing))
        .route("/static/style.css", get(stylesheet))
        .route("/favicon.ico", get(favicon))
        .route("/login", get(account::login_form).post(account::login))
        .route("/logout", post(account::logout))
        .route(
            "/account/tokens",
            get(account::tokens).post(account::create_token),
        )
        .route("/account/tokens/{id}/revoke", post(account::revoke_token))
}

async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        layout::STYLESHEET,
    )
        .into_response()
}

/// The icon browsers ask every site for (otherwise a JSON 404 from the API's
/// fallback on every page view): a small SVG, which browsers accept under
/// that name.
const FAVICON: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#2d5f8a"/><path d="M4 4h8v2l-5 4h5v2H4v-2l5-4H4z" fill="#fff"/></svg>"##;

async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

/// An HTML error page.
pub struct PageError {
    pub status: StatusCode,
    pub message: String,
}

impl PageError {
    pub fn not_found(message: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        PageError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError {
            status: e.status,
            message: e.detail,
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, "{}", self.message);
        }
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = format!(
            "<h1>{}</h1><p class=\"error\">{}</p><p><a href=\"/\">Back to the home page</a></p>",
            layout::esc(title),
            layout::esc(&self.message)
        );
        (self.status, page(title, None, &body)).into_response()
    }
}

/// What a page may load: its own stylesheet and images (any https image
/// too, for READMEs), no scripts, no framing.
const PAGE_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' https: data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A complete page with the security headers every page carries.
pub fn page(title: &str, user: Option<&str>, body: &str) -> Response {
    let mut response = Html(layout::document(title, user, body)).into_response();
    crate::http::insert_static_headers(
        response.headers_mut(),
        [
            (header::CONTENT_SECURITY_POLICY, PAGE_POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
    );
    response
}

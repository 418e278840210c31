//! `/login`, `/logout` and `/account/tokens`: owners sign in with their
//! login and one of their API tokens, then list, create (shown once) and
//! revoke tokens. Every form carries an anti-CSRF token; every answer is
//! `Cache-Control: no-store`.

use std::collections::HashMap;
use std::time::Instant;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::layout::esc;
use super::session::{
    self, LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS, WebUser, same_token,
};
use super::{PageError, page};
use crate::auth::{Scope, generate_token, secret_matches, split_token};
use crate::http::AppState;

fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn with_cookie(mut response: Response, cookie: &str) -> Result<Response, PageError> {
    let value = HeaderValue::from_str(cookie).map_err(|e| PageError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: e.to_string(),
    })?;
    response.headers_mut().append(header::SET_COOKIE, value);
    Ok(response)
}

fn login_page(csrf: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p class=\"error\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    format!(
        r#"<h1>Log in</h1>
<p class="muted">Package owners sign in with their login and one of their API tokens
(from <code>zoo-registry user add</code> or <code>token create</code>).</p>
{error}
<form class="stack" method="post" action="/login">
<input type="hidden" name="csrf" value="{csrf}">
<label>Login <input name="username" autocomplete="username" required maxlength="39"></label>
<label>API token <input name="token" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button>
</form>"#,
        csrf = esc(csrf)
    )
}

/// Shows the form with a fresh double-submit CSRF cookie.
fn fresh_login_form(
    state: &AppState,
    status: StatusCode,
    error: Option<&str>,
) -> Result<Response, PageError> {
    let csrf = session::random_hex()?;
    let mut response = page("Log in", None, &login_page(&csrf, error));
    *response.status_mut() = status;
    let cookie = session::set_cookie(state, LOGIN_CSRF_COOKIE, &csrf, "/login", 3600);
    with_cookie(no_store(response), &cookie)
}

pub async fn login_form(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    if session::current(&state, &headers).await?.is_some() {
        return Ok(Redirect::to("/account/tokens").into_response());
    }
    fresh_login_form(&state, StatusCode::OK, None)
}

pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    // Sign-in attempts count against the same per-address limit as API tokens.
    let client = crate::http::extract::client_ip(&extensions);
    if let Some(wait) = state.auth_limiter.locked_out(client, Instant::now()) {
        let refusal = crate::http::extract::locked_out(wait);
        let mut response =
            fresh_login_form(&state, StatusCode::TOO_MANY_REQUESTS, Some(&refusal.detail))?;
        if let Some(seconds) = refusal.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        return Ok(response);
    }
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    let cookie_csrf = session::cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or("");
    if !same_token(field("csrf"), cookie_csrf) {
        return fresh_login_form(
            &state,
            StatusCode::FORBIDDEN,
            Some("The form expired or did not come from this site; please try again."),
        );
    }
    let refused = || {
        state.auth_limiter.record_failure(client, Instant::now());
        fresh_login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Unknown login, or the token is not one of its active tokens."),
        )
    };
    let Some((id, secret)) = split_token(field("token").trim()) else {
        return refused();
    };
    let (id, secret) = (id.to_string(), secret.to_string());
    let login = field("username").trim().to_string();
    let record = state.db(move |s| s.find_token(&id)).await?;
    let (user, token_id) = match record {
        Some(t)
            if !t.revoked
                && t.user.login.eq_ignore_ascii_case(&login)
                && secret_matches(&secret, &t.secret_sha256) =>
        {
            (t.user, t.id)
        }
        _ => return refused(),
    };
    let id = session::start(&state, user, token_id).await?;
    let response = no_store(Redirect::to("/account/tokens").into_response());
    let response = with_cookie(
        response,
        &session::set_cookie(&state, SESSION_COOKIE, &id, "/", SESSION_SECONDS),
    )?;
    with_cookie(
        response,
        &session::set_cookie(&state, LOGIN_CSRF_COOKIE, "", "/login", 0),
    )
}

/// The signed-in user whose form carries their CSRF token.
async fn checked_user(
    state: &AppState,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<WebUser, PageError> {
    let Some(user) = session::current(state, headers).await? else {
        return Err(PageError {
            status: StatusCode::UNAUTHORIZED,
            message: "you are not logged in (or the session expired)".into(),
        });
    };
    let sent = form.get("csrf").map(String::as_str).unwrap_or("");
    if !same_token(sent, &user.csrf) {
        return Err(PageError::forbidden(
            "the form did not come from this site (CSRF token mismatch); reload the page",
        ));
    }
    Ok(user)
}

pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let user = checked_user(&state, &headers, &form).await?;
    let now = session::unix_now();
    state
        .db(move |s| s.delete_session(&user.session_sha256, now))
        .await?;
    with_cookie(
        no_store(Redirect::to("/").into_response()),
        &session::set_cookie(&state, SESSION_COOKIE, "", "/", 0),
    )
}

fn tokens_page(
    user: &WebUser,
    tokens: &[crate::db::TokenRecord],
    new_token: Option<&str>,
) -> String {
    let csrf = esc(&user.csrf);
    let notice = new_token
        .map(|t| {
            format!(
                "<div class=\"notice\" role=\"status\"><p><strong>Your new token</strong> (shown only once; copy it now):</p>\
                 <p><code class=\"hash\" id=\"new-token\">{}</code></p></div>",
                esc(t)
            )
        })
        .unwrap_or_default();
    let mut rows = String::new();
    for t in tokens {
        let scopes = t
            .scopes
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let action = if t.revoked {
            "<span class=\"yanked\">revoked</span>".to_string()
        } else {
            format!(
                "<form method=\"post\" action=\"/account/tokens/{id}/revoke\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button class=\"danger\" type=\"submit\">Revoke</button></form>",
                id = esc(&t.id)
            )
        };
        rows.push_str(&format!(
            "<tr><td class=\"hash\">{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>",
            esc(&t.id),
            esc(&scopes),
            esc(&t.created_at)
        ));
    }
    // Only the scopes of the token the session was opened with.
    let checkboxes: String = user
        .scopes
        .iter()
        .map(|s| {
            format!(
                "<label><input type=\"checkbox\" name=\"scope-{s}\" value=\"on\" checked> {s}</label> "
            )
        })
        .collect();
    format!(
        r#"<h1>API tokens of {login}</h1>
{notice}
<div class="table-wrap"><table>
<thead><tr><th>id</th><th>scopes</th><th>created</th><th>state</th></tr></thead>
<tbody>{rows}</tbody></table></div>
<h2>Create a token</h2>
<form class="stack" method="post" action="/account/tokens">
<input type="hidden" name="csrf" value="{csrf}">
<fieldset><legend>Scopes</legend>{checkboxes}</fieldset>
<button type="submit">Create token</button>
</form>
<h2>Session</h2>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{csrf}"><button type="submit">Log out</button></form>"#,
        login = esc(&user.user.login)
    )
}

async fn render_tokens(
    state: &AppState,
    user: &WebUser,
    new_token: Option<&str>,
) -> Result<Response, PageError> {
    let login = user.user.login.clone();
    let tokens = state.db(move |s| s.list_tokens(Some(&login))).await?;
    Ok(no_store(page(
        "API tokens",
        Some(&user.user.login),
        &tokens_page(user, &tokens, new_token),
    )))
}

pub async fn tokens(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    match session::current(&state, &headers).await? {
        Some(user) => render_tokens(&state, &user, None).await,
        None => Ok(Redirect::to("/login").into_response()),
    }
}

pub async fn create_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let user = checked_user(&state, &headers, &form).await?;
    let scopes: Vec<Scope> = Scope::ALL
        .into_iter()
        .filter(|s| form.contains_key(&format!("scope-{s}")))
        .collect();
    if scopes.is_empty() {
        return Err(PageError::bad_request("choose at least one scope"));
    }
    // A session mints no more than the token that opened it could do.
    let beyond: Vec<&str> = scopes
        .iter()
        .filter(|s| !user.scopes.contains(s))
        .map(|s| s.as_str())
        .collect();
    if !beyond.is_empty() {
        return Err(PageError::forbidden(format!(
            "this session was opened with a token whose scopes are {}; it cannot create a token with {}",
            crate::auth::format_scopes(&user.scopes),
            beyond.join(", ")
        )));
    }
    let token = generate_token().map_err(|e| PageError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("reading the system's random source: {e}"),
    })?;
    let (owner, id, hash) = (
        user.user.clone(),
        token.id.clone(),
        token.secret_sha256.clone(),
    );
    state
        .db(move |s| s.add_token(&owner, &id, &hash, &scopes))
        .await?;
    tracing::info!(user = %user.user.login, token = %token.id, "token created on the web");
    let mut response = render_tokens(&state, &user, Some(&token.token)).await?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

pub async fn revoke_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let user = checked_user(&state, &headers, &form).await?;
    let lookup = id.clone();
    let record = state.db(move |s| s.find_token(&lookup)).await?;
    match record {
        Some(t) if t.user.id == user.user.id => {}
        _ => return Err(PageError::not_found(format!("you have no token `{id}`"))),
    }
    let revoke = id.clone();
    state.db(move |s| s.revoke_token(&revoke)).await?;
    tracing::info!(user = %user.user.login, token = %id, "token revoked on the web");
    Ok(no_store(Redirect::to("/account/tokens").into_response()))
}

//! `/` (search box and recently published packages) and `/search?q=&page=`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::layout::{esc, url_encode};
use super::{PageError, page, session};
use crate::db::SearchHit;
use crate::http::AppState;
use crate::http::api::search::{check_query, display_version, last_page, page_offset};

/// Packages shown on the home page.
const RECENT: u64 = 10;
/// Results per search page.
pub const PER_PAGE: u64 = 20;

/// A list of packages with their shown version, kind and description.
pub fn package_list(hits: &[SearchHit]) -> String {
    let mut out = String::from("<ul class=\"packages\">");
    for hit in hits {
        let p = &hit.package;
        let shown = display_version(&hit.versions);
        let version = shown.map(|v| v.entry.vers.to_string()).unwrap_or_default();
        let published = shown.map(|v| v.published_at.as_str()).unwrap_or("");
        out.push_str(&format!(
            "<li><a class=\"name\" href=\"/packages/{href}\">{name}</a> <span class=\"muted\">{version}</span> \
             <span class=\"kind\">{kind}</span><div>{description}</div>\
             <div class=\"meta\">{keywords}{published}</div></li>",
            href = url_encode(&zoo_format::normalize_name(&p.name)),
            name = esc(&p.name),
            version = esc(&version),
            kind = esc(&p.kind),
            description = esc(&p.description),
            keywords = if p.keywords.is_empty() {
                String::new()
            } else {
                format!("{} · ", esc(&p.keywords.join(", ")))
            },
            published = esc(published),
        ));
    }
    out.push_str("</ul>");
    out
}

pub async fn home(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    let user = session::current(&state, &headers).await?;
    let recent = state.db(|s| s.recent_packages(RECENT)).await?;
    let list = if recent.is_empty() {
        "<p class=\"muted\">Nothing has been published yet. Publish with <code>zoo publish</code>.</p>".to_string()
    } else {
        package_list(&recent)
    };
    let body = format!(
        r#"<section class="hero">
<h1>Models, Links and Functions for zoo</h1>
<p class="muted">Pretrained networks and their building blocks, versioned with semver and checked with sha256.</p>
<form class="search" action="/search" method="get" role="search">
<input type="search" name="q" placeholder="Search packages" aria-label="Search packages" autofocus>
<button type="submit">Search</button>
</form>
</section>
<h2>Recently published</h2>
{list}"#
    );
    Ok(page(
        "Home",
        user.as_ref().map(|u| u.user.login.as_str()),
        &body,
    ))
}

pub async fn search(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let user = session::current(&state, &headers).await?;
    let query = params.get("q").cloned().unwrap_or_default();
    check_query(&query).map_err(PageError::bad_request)?;
    let page_number: u64 = match params.get("page") {
        None => 1,
        Some(p) => p.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
            PageError::bad_request(format!("`page` must be 1 or more, not `{p}`"))
        })?,
    };
    let offset = page_offset(page_number, PER_PAGE).map_err(PageError::bad_request)?;
    let q = query.clone();
    let (hits, total) = state.db(move |s| s.search(&q, offset, PER_PAGE)).await?;
    let last = last_page(total, PER_PAGE);
    let link = |n: u64, label: &str| {
        format!(
            "<a href=\"/search?q={}&amp;page={n}\">{label}</a>",
            url_encode(&query)
        )
    };
    let found = format!("{total} package{} found", if total == 1 { "" } else { "s" });
    let mut body = format!("<h1>Search results for “{}”</h1>", esc(&query));
    if total == 0 {
        body.push_str(&format!(
            "<p class=\"muted\" id=\"total\">{found}</p><p>No packages match.</p>"
        ));
    } else if hits.is_empty() {
        // Past the end: say so, rather than "found" beside "no match".
        body.push_str(&format!(
            "<p class=\"muted\" id=\"total\">{found}; page {page_number} is past the last page ({last}).</p><p>{}</p>",
            link(last, &format!("Go to page {last}"))
        ));
    } else {
        body.push_str(&format!("<p class=\"muted\" id=\"total\">{found}</p>"));
        body.push_str(&package_list(&hits));
    }
    let mut pager = String::new();
    if page_number > 1 && !hits.is_empty() {
        pager.push_str(&link(page_number - 1, "← Previous"));
    }
    if offset + (hits.len() as u64) < total {
        pager.push_str(&link(page_number + 1, "Next →"));
    }
    if !pager.is_empty() {
        body.push_str(&format!(
            "<nav class=\"pager\" aria-label=\"Pages\"><span class=\"muted\">Page {page_number}</span>{pager}</nav>"
        ));
    }
    Ok(page(
        &format!("Search: {query}"),
        user.as_ref().map(|u| u.user.login.as_str()),
        &body,
    ))
}

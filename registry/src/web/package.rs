//! `/packages/{name}` (the version users get by default) and
//! `/packages/{name}/{version}`: the model card (README), install command,
//! versions, files, metrics, dependencies and owners.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use semver::Version;

use super::layout::{esc, human_size, url_encode};
use super::{PageError, markdown, page, session};
use crate::api::AppState;
use crate::api::search::display_version;
use crate::db::{PackageRecord, User, VersionRecord};

pub async fn latest(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    render(&state, &headers, &name, None).await
}

pub async fn version(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let wanted = Version::parse(&version)
        .map_err(|_| PageError::not_found(format!("`{version}` is not a version of `{name}`")))?;
    render(&state, &headers, &name, Some(wanted)).await
}

async fn render(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    wanted: Option<Version>,
) -> Result<Response, PageError> {
    let user = session::current(state, headers).await?;
    let name_norm = zoo_format::normalize_name(name);
    let lookup = name_norm.clone();
    let (package, versions, owners) = state
        .db(move |s| {
            let Some(package) = s.package(&lookup)? else {
                return Ok((None, Vec::new(), Vec::new()));
            };
            Ok((Some(package), s.versions(&lookup)?, s.owners(&lookup)?))
        })
        .await?;
    let Some(package) = package else {
        return Err(PageError::not_found(format!(
            "there is no package named `{name}`"
        )));
    };
    let shown = match &wanted {
        None => display_version(&versions),
        Some(w) => versions.iter().find(|v| v.entry.vers == *w).or_else(|| {
            versions
                .iter()
                .find(|v| v.entry.vers.cmp_precedence(w).is_eq())
        }),
    }
    .ok_or_else(|| {
        PageError::not_found(format!(
            "`{}` has no version {}",
            package.name,
            wanted.as_ref().map(|w| w.to_string()).unwrap_or_default()
        ))
    })?
    .clone();
    let readme = if wanted.is_some() {
        let (n, v) = (name_norm.clone(), shown.entry.vers.clone());
        state.db(move |s| s.version_readme(&n, &v)).await?
    } else {
        package.readme.clone()
    };
    let code = crate::api::packages::code_files(state, &name_norm, std::slice::from_ref(&shown))
        .await?
        .pop()
        .flatten();
    let mut body = package_body(&package, &shown, &versions, &owners, readme.as_deref());
    if let Some(file) = code {
        body = code_notice(&body, &file);
    }
    Ok(page(
        &format!("{} {}", package.name, shown.entry.vers),
        user.as_ref().map(|u| u.user.login.as_str()),
        &body,
    ))
}

fn package_body(
    package: &PackageRecord,
    shown: &VersionRecord,
    versions: &[VersionRecord],
    owners: &[User],
    readme: Option<&str>,
) -> String {
    let entry = &shown.entry;
    let href = url_encode(&zoo_format::normalize_name(&package.name));
    let yanked = if entry.yanked {
        "<p class=\"notice yanked\" role=\"status\">This version is yanked: new installs skip it unless asked for it exactly.</p>"
    } else {
        ""
    };
    let keywords = if package.keywords.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"meta\">Keywords: {}</p>",
            esc(&package.keywords.join(", "))
        )
    };
    let readme = match readme {
        Some(text) => format!(
            "<article class=\"readme\" id=\"readme\">{}</article>",
            markdown::render(text)
        ),
        None => "<p class=\"muted\">This package has no README.</p>".to_string(),
    };

    let mut sorted: Vec<&VersionRecord> = versions.iter().collect();
    sorted.sort_by(|a, b| b.entry.vers.cmp(&a.entry.vers));
    let version_items: String = sorted
        .iter()
        .map(|v| {
            let current = if v.entry.vers == entry.vers {
                " aria-current=\"page\""
            } else {
                ""
            };
            let mark = if v.entry.yanked {
                " <span class=\"yanked\">yanked</span>"
            } else {
                ""
            };
            format!(
                "<li><a href=\"/packages/{href}/{vers}\"{current}>{vers}</a>{mark} <span class=\"muted\">{date}</span></li>",
                vers = esc(&v.entry.vers.to_string()),
                date = esc(v.published_at.get(..10).unwrap_or(&v.published_at)),
            )
        })
        .collect();

    let owner_items: String = owners
        .iter()
        .map(|o| format!("<li>{}</li>", esc(&o.login)))
        .collect();

    let deps = if entry.deps.is_empty() {
        "<p class=\"muted\">None.</p>".to_string()
    } else {
        let items: String = entry
            .deps
            .iter()
            .map(|d| {
                format!(
                    "<li><a href=\"/packages/{}\">{}</a> <code>{}</code></li>",
                    url_encode(&zoo_format::normalize_name(&d.name)),
                    esc(&d.name),
                    esc(&d.req.to_string())
                )
            })
            .collect();
        format!("<ul>{items}</ul>")
    };

    let mut file_rows = format!(
        "<tr><td>(archive)</td><td class=\"size\" title=\"{} bytes\">{}</td><td class=\"hash\">{}</td><td>—</td></tr>",
        entry.archive.size,
        human_size(entry.archive.size),
        esc(&entry.archive.sha256)
    );
    for f in &entry.files {
        file_rows.push_str(&format!(
            "<tr><td>{}</td><td class=\"size\" title=\"{} bytes\">{}</td><td class=\"hash\">{}</td><td>{}</td></tr>",
            esc(&f.path),
            f.size,
            human_size(f.size),
            esc(&f.sha256),
            if f.external { "external blob" } else { "in archive" }
        ));
    }

    let metrics = metrics_table(&shown.metrics);

    // A yanked version installs only when asked for exactly.
    let exact = if entry.yanked { "=" } else { "" };
    format!(
        r#"<h1>{name} <span class="muted">{vers}</span> <span class="kind">{kind}</span></h1>
<p class="description">{description}</p>
{keywords}
{yanked}
<p><code class="install" id="install">zoo install {name_plain}@{exact}{vers}</code></p>
<div class="grid">
<section>
<h2>Model card</h2>
{readme}
<h2>Files</h2>
<div class="table-wrap"><table id="files">
<thead><tr><th>path</th><th>size</th><th>sha256</th><th>stored</th></tr></thead>
<tbody>{file_rows}</tbody></table></div>
<h2>Metrics</h2>
{metrics}
</section>
<aside>
<h2>Versions</h2>
<ul id="versions">{version_items}</ul>
<h2>Dependencies</h2>
{deps}
<h2>Owners</h2>
<ul id="owners">{owner_items}</ul>
<p class="meta">Published {published}</p>
</aside>
</div>"#,
        name = esc(&package.name),
        name_plain = esc(&zoo_format::normalize_name(&package.name)),
        vers = esc(&entry.vers.to_string()),
        kind = esc(entry.kind.as_str()),
        description = esc(&package.description),
        published = esc(&shown.published_at),
    )
}

/// `[{"name","dataset","value"}]` as a table.
fn metrics_table(metrics: &serde_json::Value) -> String {
    let rows: String = metrics
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| {
            let text = |k: &str| match &m[k] {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&text("name")),
                esc(&text("dataset")),
                esc(&text("value"))
            )
        })
        .collect();
    if rows.is_empty() {
        "<p class=\"muted\">No metrics recorded.</p>".to_string()
    } else {
        format!(
            "<div class=\"table-wrap\"><table id=\"metrics\"><thead><tr><th>metric</th><th>dataset</th><th>value</th></tr></thead>\
             <tbody>{rows}</tbody></table></div>"
        )
    }
}

/// Marks a version that contains code (a TorchScript model) right under the
/// title, and makes its install command the opt-in one.
fn code_notice(body: &str, file: &str) -> String {
    let notice = format!(
        "<p class=\"notice code\" id=\"contains-code\" role=\"status\">Contains code (TorchScript): \
         the model <code>{}</code> is a program that runs with the user's permissions, not just \
         weights. <code>zoo install</code> and <code>zoo run</code> need <code>--allow-code</code>.</p>",
        esc(file)
    );
    body.replacen("</h1>\n", &format!("</h1>\n{notice}\n"), 1)
        .replacen(
            "id=\"install\">zoo install ",
            "id=\"install\">zoo install --allow-code ",
            1,
        )
}

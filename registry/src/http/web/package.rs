//! `/packages/{name}` (the version users get by default) and
//! `/packages/{name}/{version}`: the model card (README), install command,
//! license, inputs and outputs, files with download links, metrics (once:
//! not again under the card when the card's own tables already show them),
//! versions, signature, dependencies and owners.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use semver::Version;

use super::card_links::FileBase;
use super::layout::{esc, human_size, url_encode};
use super::{PageError, markdown, page, session};
use crate::db::{PackageRecord, User, VersionRecord};
use crate::http::AppState;
use crate::http::api::packages::VersionDetails;
use crate::http::api::search::display_version;

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
            Ok((
                Some(package),
                s.versions(&lookup)?,
                s.owners(crate::db::Namespace::Zoo, &lookup)?,
            ))
        })
        .await?;
    let Some(package) = package else {
        return Err(PageError::not_found(format!(
            "there is no package named `{name}`"
        )));
    };
    let shown = match &wanted {
        None => display_version(&versions),
        Some(w) => find_version(&versions, w),
    }
    .ok_or_else(|| {
        PageError::not_found(format!(
            "`{}` has no version {}",
            package.name,
            wanted.as_ref().map(|w| w.to_string()).unwrap_or_default()
        ))
    })?
    .clone();
    // The shown version's own README (on the latest page too: the package's
    // README is the last published one, which may be another version), so
    // that its relative links name files that version has.
    let readme = {
        let (n, v) = (name_norm.clone(), shown.entry.vers.clone());
        state.db(move |s| s.version_readme(&n, &v)).await?
    };
    let details = crate::http::api::packages::version_details(
        state,
        &name_norm,
        std::slice::from_ref(&shown),
    )
    .await?
    .pop()
    .unwrap_or_default();
    let mut body = package_body(
        &package,
        &shown,
        wanted.is_some(),
        &details,
        &versions,
        &owners,
        readme.as_deref(),
    );
    if let Some(file) = &details.code {
        body = code_notice(&body, file);
    }
    Ok(page(
        &format!("{} {}", package.name, shown.entry.vers),
        user.as_ref().map(|u| u.user.login.as_str()),
        &body,
    ))
}

/// The version `wanted` names: that exact one, else one that differs only
/// in build metadata (`1.0.0` finds `1.0.0+build.5`).
pub(super) fn find_version<'a>(
    versions: &'a [VersionRecord],
    wanted: &Version,
) -> Option<&'a VersionRecord> {
    versions
        .iter()
        .find(|v| v.entry.vers == *wanted)
        .or_else(|| {
            versions
                .iter()
                .find(|v| v.entry.vers.cmp_precedence(wanted).is_eq())
        })
}

/// `pinned`: the page of one version (`/packages/NAME/VERSION`), whose
/// install line must install that version, not the newest compatible one.
fn package_body(
    package: &PackageRecord,
    shown: &VersionRecord,
    pinned: bool,
    details: &VersionDetails,
    versions: &[VersionRecord],
    owners: &[User],
    readme: Option<&str>,
) -> String {
    let entry = &shown.entry;
    // Where the card's relative links and the file names below point.
    let files = FileBase::new(
        &zoo_format::normalize_name(&package.name),
        &entry.vers,
        details.readme.as_deref(),
    );
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
    let metrics = match readme {
        Some(text) if card_shows_metrics(text, &shown.metrics) => String::new(),
        // Metrics are a model's; a Function or Link package without any
        // gets no empty section.
        _ if package.kind != "model" && shown.metrics.as_array().is_none_or(Vec::is_empty) => {
            String::new()
        }
        _ => format!("<h2>Metrics</h2>\n{}", metrics_table(&shown.metrics)),
    };
    let readme = match readme {
        Some(text) => format!(
            "<article class=\"readme\" id=\"readme\">{}</article>",
            markdown::render_card(text, Some(&files))
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

    // Every file downloads from its content-addressed blob: the archive
    // holds the small files, each external file is a blob of its own.
    let download = |sha256: &str, file_name: &str| {
        format!(
            "<a href=\"/blobs/{}\" download=\"{}\">download</a>",
            esc(sha256),
            esc(file_name)
        )
    };
    let archive_name = format!(
        "{}-{}.zoo",
        zoo_format::normalize_name(&package.name),
        entry.vers
    );
    let mut file_rows = format!(
        "<tr><td>(archive)</td><td class=\"size\" title=\"{} bytes\">{}</td><td class=\"hash\">{}</td><td>—</td><td>{}</td></tr>",
        entry.archive.size,
        human_size(entry.archive.size),
        esc(&entry.archive.sha256),
        download(&entry.archive.sha256, &archive_name)
    );
    for f in &entry.files {
        let link = if f.external {
            download(&f.sha256, f.path.rsplit('/').next().unwrap_or(&f.path))
        } else {
            "with the archive".to_string()
        };
        // Each file opens on its own too (text and images shown inline).
        file_rows.push_str(&format!(
            "<tr><td><a href=\"{}\">{}</a></td><td class=\"size\" title=\"{} bytes\">{}</td><td class=\"hash\">{}</td><td>{}</td><td>{link}</td></tr>",
            esc(&files.file(&f.path)),
            esc(&f.path),
            f.size,
            human_size(f.size),
            esc(&f.sha256),
            if f.external { "external blob" } else { "in archive" }
        ));
    }

    let license = match &details.license {
        Some(license) => format!("<p id=\"license\">{}</p>", esc(license)),
        None => "<p class=\"muted\" id=\"license\">Not stated.</p>".to_string(),
    };
    let signed = match &entry.signature {
        Some(sig) => format!(
            "<p id=\"signed\">Signed by key <code>{}</code> <span class=\"hash\">{}</span></p>",
            esc(&crate::http::api::packages::key_id(&sig.key).unwrap_or_default()),
            esc(&sig.key)
        ),
        None => "<p class=\"muted\" id=\"signed\">Unsigned.</p>".to_string(),
    };
    let io = io_table(details, entry.kind) + &sources_section(details);

    // A version's own page installs exactly it (`@1.0.0` means `^1.0.0`);
    // a yanked version installs only when asked for exactly.
    let exact = if pinned || entry.yanked { "=" } else { "" };
    format!(
        r#"<h1>{name} <span class="muted">{vers}</span> <span class="kind">{kind}</span></h1>
<p class="description">{description}</p>
{keywords}
{yanked}
<p><code class="install" id="install">zoo install {name_plain}@{exact}{vers}</code></p>
<div class="grid">
<section>
{io}<h2>Model card</h2>
{readme}
{metrics}
<h2>Files</h2>
<div class="table-wrap"><table id="files">
<thead><tr><th>path</th><th>size</th><th>sha256</th><th>stored</th><th>download</th></tr></thead>
<tbody>{file_rows}</tbody></table></div>
</section>
<aside>
<h2>License</h2>
{license}
<h2>Signature</h2>
{signed}
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

/// A model's inputs and outputs as zoo.toml's `[model]` records them;
/// nothing for other kinds without any.
/// `[[model.sources]]`: weights the package does not carry, which `zoo
/// install` downloads from these mirrors, checks and converts; without this
/// a visitor would see a model package with no weights file.
fn sources_section(details: &VersionDetails) -> String {
    if details.sources.is_empty() {
        return String::new();
    }
    let mut rows = String::new();
    for source in &details.sources {
        let mirrors: Vec<String> = source
            .url
            .iter()
            .map(|u| format!("<code>{}</code>", esc(u)))
            .collect();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{} conversion of {} ({} bytes, sha256 <span class=\"hash\">{}</span>)</td><td>{}</td></tr>",
            esc(&source.produces),
            source.convert.as_str(),
            esc(source.file_name()),
            source.size,
            esc(&source.sha256),
            mirrors.join("<br>")
        ));
    }
    format!(
        "<h2>Weights from upstream</h2>\n<p id=\"sources\">Not in the package: <code>zoo install</code> \
         downloads them from the first mirror that answers, checks their sha256 and converts them.</p>\n\
         <table><thead><tr><th>file</th><th>made from</th><th>mirrors</th></tr></thead><tbody>{rows}</tbody></table>\n"
    )
}

fn io_table(details: &VersionDetails, kind: zoo_format::Kind) -> String {
    if details.inputs.is_empty() && details.outputs.is_empty() {
        return if kind == zoo_format::Kind::Model {
            "<h2>Inputs and outputs</h2>\n<p class=\"muted\" id=\"io\">Not recorded.</p>\n"
                .to_string()
        } else {
            String::new()
        };
    }
    let mut rows = String::new();
    for input in &details.inputs {
        let shape: Vec<String> = input
            .shape
            .iter()
            .map(|d| {
                if *d < 0 {
                    "?".to_string()
                } else {
                    d.to_string()
                }
            })
            .collect();
        let notes = input
            .preprocess
            .as_ref()
            .map(|p| format!("preprocess: {}", preprocess_text(p)))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>input</td><td>{}</td><td><code>[{}]</code></td><td>{}</td><td>{}</td></tr>",
            esc(&input.name),
            esc(&shape.join(", ")),
            esc(&serde_json::to_value(input.dtype)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()),
            esc(&notes)
        ));
    }
    for output in &details.outputs {
        let notes = output
            .labels
            .as_ref()
            .map(|l| format!("labels in {l}"))
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>output</td><td>{}</td><td></td><td></td><td>{}</td></tr>",
            esc(&output.name),
            esc(&notes)
        ));
    }
    format!(
        "<h2>Inputs and outputs</h2>\n<div class=\"table-wrap\"><table id=\"io\">\
         <thead><tr><th></th><th>name</th><th>shape</th><th>dtype</th><th>notes</th></tr></thead>\
         <tbody>{rows}</tbody></table></div>\n"
    )
}

/// `resize 224x224, bgr, mean [103.9, 116.8, 123.7], scale 0.5` (as `zoo
/// info` prints it; scale only when not 1).
fn preprocess_text(pre: &zoo_format::manifest::Preprocess) -> String {
    let mut parts = Vec::new();
    if let Some([h, w]) = pre.resize {
        parts.push(format!("resize {h}x{w}"));
    }
    if let Some(order) = pre.channel_order {
        parts.push(
            match order {
                zoo_format::manifest::ChannelOrder::Rgb => "rgb",
                zoo_format::manifest::ChannelOrder::Bgr => "bgr",
            }
            .to_string(),
        );
    }
    if !pre.mean.is_empty() {
        let values: Vec<String> = pre.mean.iter().map(|v| v.to_string()).collect();
        parts.push(format!("mean [{}]", values.join(", ")));
    }
    if pre.scale != 1.0 {
        parts.push(format!("scale {}", pre.scale));
    }
    parts.join(", ")
}

/// Whether the card's own tables show every recorded metric (a row with its
/// name and its value, to the card's precision): built-in model cards print
/// the same figures as zoo.toml, and the page should show them once.
fn card_shows_metrics(readme: &str, metrics: &serde_json::Value) -> bool {
    let Some(metrics) = metrics.as_array().filter(|m| !m.is_empty()) else {
        return false;
    };
    let rows = markdown::table_rows(readme);
    metrics.iter().all(|m| {
        let (Some(name), Some(value)) = (m["name"].as_str(), m["value"].as_f64()) else {
            return false;
        };
        rows.iter().any(|row| {
            row.iter().any(|c| c.eq_ignore_ascii_case(name.trim()))
                && row.iter().any(|c| same_figure(c, value))
        })
    })
}

/// Whether `cell` is `value` written to some number of decimals.
fn same_figure(cell: &str, value: f64) -> bool {
    let Ok(shown) = cell.parse::<f64>() else {
        return false;
    };
    let decimals = cell.split_once('.').map_or(0, |(_, d)| d.len()) as i32;
    (shown - value).abs() <= 0.5 * 10f64.powi(-decimals) + 1e-12 * value.abs()
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

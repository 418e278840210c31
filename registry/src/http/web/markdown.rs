//! README → HTML with pulldown-cmark. Raw HTML in the Markdown is shown as
//! text (escaped), and link/image targets other than http(s), mailto and
//! relative ones become `#`, so a README can never inject script. Given a
//! [`FileBase`], relative targets are rewritten to the shown version's
//! files (see [`super::card_links`]).

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};

use super::card_links::FileBase;

/// Whether a link target is safe to keep.
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    match lower.split_once(':') {
        // No scheme before the first `/`, `?` or `#`: a relative URL.
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => true,
    }
}

/// The target to write for `url`: `#` when unsafe, else rewritten against
/// `base` when relative. An e-mail autolink (`<me@example.com>`) has no
/// scheme in its target (the writer adds `mailto:`), so it is never a path.
fn clean<'a>(url: CowStr<'a>, link_type: LinkType, base: Option<&FileBase>) -> CowStr<'a> {
    if !safe_url(&url) {
        return "#".into();
    }
    match base {
        Some(base) if link_type != LinkType::Email => base.resolve(&url).map_or(url, CowStr::from),
        _ => url,
    }
}

/// Renders Markdown to HTML that is safe to embed, relative targets as
/// written.
pub fn render(markdown: &str) -> String {
    render_card(markdown, None)
}

/// [`render`] with relative link and image targets pointing at `base`'s
/// files.
pub fn render_card(markdown: &str, base: Option<&FileBase>) -> String {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(markdown, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: clean(dest_url, link_type, base),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Image {
            link_type,
            dest_url: clean(dest_url, link_type, base),
            title,
            id,
        }),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

/// The cells' plain text of every table row (header rows included) in a
/// README, to tell whether the card already shows the recorded metrics.
pub fn table_rows(markdown: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row: Option<Vec<String>> = None;
    let mut cell: Option<String> = None;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::TableHead | Tag::TableRow) => row = Some(Vec::new()),
            Event::End(TagEnd::TableHead | TagEnd::TableRow) => rows.extend(row.take()),
            Event::Start(Tag::TableCell) => cell = Some(String::new()),
            Event::End(TagEnd::TableCell) => {
                if let (Some(row), Some(text)) = (row.as_mut(), cell.take()) {
                    row.push(text.trim().to_string());
                }
            }
            Event::Text(text) | Event::Code(text) => {
                if let Some(cell) = cell.as_mut() {
                    cell.push_str(&text);
                }
            }
            _ => {}
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_rows_are_plain_cell_text() {
        let rows = table_rows(
            "x\n\n| metric | value |\n|---|---|\n| **top-1** | `0.91` |\n\n| a |\n|---|\n| b |\n",
        );
        assert_eq!(
            rows,
            vec![
                vec!["metric".to_string(), "value".to_string()],
                vec!["top-1".to_string(), "0.91".to_string()],
                vec!["a".to_string()],
                vec!["b".to_string()],
            ]
        );
    }

    #[test]
    fn raw_html_is_escaped_and_bad_links_dropped() {
        let out = render(
            "# Title\n\n<script>alert(1)</script>\n\nhi <img src=x onerror=alert(1)> [a](javascript:alert(1)) [b](https://ok.example/) [c](docs/x.md)\n",
        );
        assert!(out.contains("<h1>Title</h1>"), "{out}");
        assert!(!out.contains("<script"), "{out}");
        assert!(out.contains("&lt;script&gt;"), "{out}");
        assert!(!out.contains("<img src=x"), "{out}");
        assert!(!out.contains("javascript:"), "{out}");
        assert!(out.contains("href=\"https://ok.example/\""), "{out}");
        assert!(out.contains("href=\"docs/x.md\""), "{out}");
    }

    #[test]
    fn a_card_points_relative_targets_at_the_versions_files() {
        let base = FileBase::new(
            "tiny-net",
            &semver::Version::new(1, 0, 0),
            Some("README.md"),
        );
        let out = render_card(
            "[labels](labels.txt) ![arch](./docs/arch.png \"Arch\") [up](../../x) \
             [ext](https://ok.example/a.png) [me](mailto:me@example.com) <me@example.com> \
             [top](#usage) [other](/packages/other) [bad](javascript:alert(1)) [ref]\n\n\
             [ref]: docs/ref.md#part\n",
            Some(&base),
        );
        let files = "/packages/tiny-net/1.0.0/files/";
        assert!(
            out.contains(&format!("href=\"{files}labels.txt\"")),
            "{out}"
        );
        assert!(
            out.contains(&format!("src=\"{files}docs/arch.png\"")),
            "{out}"
        );
        assert!(
            out.contains(&format!("href=\"{files}docs/ref.md#part\"")),
            "{out}"
        );
        assert!(out.contains("href=\"#\">up</a>"), "{out}");
        assert!(out.contains("href=\"https://ok.example/a.png\""), "{out}");
        assert!(
            out.contains("href=\"mailto:me@example.com\">me</a>"),
            "{out}"
        );
        assert!(
            out.contains("href=\"mailto:me@example.com\">me@example.com</a>"),
            "{out}"
        );
        assert!(out.contains("href=\"#usage\""), "{out}");
        assert!(out.contains("href=\"/packages/other\""), "{out}");
        assert!(!out.contains("javascript:"), "{out}");
    }
}

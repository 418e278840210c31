//! README → HTML with pulldown-cmark. Raw HTML in the Markdown is shown as
//! text (escaped), and link/image targets other than http(s), mailto and
//! relative ones become `#`, so a README can never inject script.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

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

fn clean(url: CowStr<'_>) -> CowStr<'_> {
    if safe_url(&url) { url } else { "#".into() }
}

/// Renders Markdown to HTML that is safe to embed.
pub fn render(markdown: &str) -> String {
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
            dest_url: clean(dest_url),
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
            dest_url: clean(dest_url),
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
}

//! README → HTML with pulldown-cmark. Raw HTML in the Markdown is shown as
//! text (escaped), and link/image targets other than http(s), mailto and
//! relative ones become `#`, so a README can never inject script.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, html};

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

#[cfg(test)]
mod tests {
    use super::*;

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

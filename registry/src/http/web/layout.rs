//! The page frame, the stylesheet and small formatting helpers.

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query-string value.
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `1.5 MiB`-style sizes.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The whole HTML document around `body` (already HTML).
pub fn document(title: &str, user: Option<&str>, body: &str) -> String {
    let account = match user {
        Some(login) => format!("<a href=\"/account/tokens\">{}</a>", esc(login)),
        None => "<a href=\"/login\">Log in</a>".to_string(),
    };
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · zoo registry</title>
<link rel="stylesheet" href="/static/style.css">
</head>
<body>
<header class="top"><a class="brand" href="/">zoo</a>
<form class="search" action="/search" method="get" role="search">
<input type="search" name="q" placeholder="Search models, links, functions" aria-label="Search packages">
<button type="submit">Search</button>
</form>
<nav>{account}</nav>
</header>
<main>
{body}
</main>
<footer>zoo registry · <a href="/api/v1/search?q=">JSON API</a> · <a href="/cargo/index/config.json">Cargo index</a></footer>
</body>
</html>
"#,
        title = esc(title),
    )
}

/// Small, phone-first CSS: one column that widens on larger screens.
pub const STYLESHEET: &str = r#":root { --fg: #1d2330; --muted: #5b6472; --line: #dde1e8; --accent: #2f5fd0; --bg: #fafbfc; --warn: #a23b00; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
header.top { display: flex; flex-wrap: wrap; align-items: center; gap: .5rem 1rem; padding: .75rem 1rem; background: #fff; border-bottom: 1px solid var(--line); }
.brand { font-weight: 700; font-size: 1.3rem; color: var(--fg); }
form.search { display: flex; flex: 1 1 16rem; gap: .4rem; order: 3; width: 100%; }
form.search input { flex: 1; min-width: 0; }
nav { margin-left: auto; }
main { max-width: 60rem; margin: 0 auto; padding: 1rem; }
footer { max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: var(--muted); font-size: .85rem; }
input, button, select { font: inherit; padding: .45rem .6rem; border: 1px solid var(--line); border-radius: 6px; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.danger { background: var(--warn); border-color: var(--warn); }
h1 { font-size: 1.6rem; margin: .5rem 0; overflow-wrap: anywhere; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
.hero { padding: 1rem 0; }
body:has(.hero) header.top form.search { display: none; }
td.size { white-space: nowrap; }
.readme h1 { font-size: 1.4rem; }
.hero form.search { order: 0; max-width: 36rem; }
ul.packages { list-style: none; padding: 0; margin: 0; }
ul.packages li { padding: .75rem 0; border-bottom: 1px solid var(--line); }
.name { font-weight: 600; overflow-wrap: anywhere; }
.meta, .muted { color: var(--muted); font-size: .9rem; }
.kind { display: inline-block; font-size: .75rem; padding: 0 .4rem; border: 1px solid var(--line); border-radius: 4px; color: var(--muted); }
.yanked { color: var(--warn); font-weight: 600; }
.install { display: block; padding: .6rem .8rem; background: #1d2330; color: #e8ecf3; border-radius: 6px; overflow-x: auto; white-space: nowrap; }
.grid { display: grid; grid-template-columns: 1fr; gap: 1rem; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: .9rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); vertical-align: top; }
td.hash, code.hash { font-family: ui-monospace, monospace; font-size: .8rem; overflow-wrap: anywhere; word-break: break-all; }
.readme { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .5rem 1rem; overflow-wrap: anywhere; }
.readme pre { overflow-x: auto; background: #f3f5f8; padding: .6rem; border-radius: 6px; }
.readme img { max-width: 100%; }
.notice { padding: .75rem 1rem; border: 1px solid var(--accent); background: #eef3ff; border-radius: 8px; }
.error { color: var(--warn); }
.pager { display: flex; gap: 1rem; margin: 1rem 0; }
form.stack { display: grid; gap: .6rem; max-width: 28rem; }
fieldset { border: 1px solid var(--line); border-radius: 6px; }
@media (min-width: 48rem) {
  form.search { order: 0; width: auto; }
  .grid { grid-template-columns: 2fr 1fr; }
}
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script>&'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;"
        );
        assert_eq!(url_encode("a b&c"), "a%20b%26c");
        assert_eq!(human_size(512), "512 B");
        assert_eq!(human_size(1536), "1.5 KiB");
    }
}

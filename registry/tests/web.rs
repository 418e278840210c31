//! The HTML pages, through the router in-process: content, escaping of
//! hostile metadata, 404s, and the login → token page flow with CSRF.

use axum::http::{Method, StatusCode};
use zoo_e2e::in_process::{Registry, Reply, link, model};
use zoo_registry::auth::Scope;

const EVIL: &str = "<script>alert('pwned')</script>";

#[tokio::test]
async fn home_search_and_package_pages_show_published_packages() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    // The models' dependency first: the registry refuses unknown ones.
    let reply = reg
        .publish(&alice, &link("peephole-lstm", "0.1.0", "An LSTM link"))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let readme = "# Tiny net\n\nA **small** classifier.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n";
    for v in ["1.0.0", "1.1.0"] {
        let reply = reg
            .publish(&alice, &model("tiny-net", v, "Classifies shapes", readme))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    }
    let reply = reg.yank(&alice, "tiny-net", "1.1.0", true).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    let home = reg.get("/").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.header("content-type").starts_with("text/html"));
    let html = home.text();
    assert!(html.contains("name=\"viewport\""), "{html}");
    assert!(html.contains("action=\"/search\""));
    assert!(html.contains("href=\"/packages/tiny-net\""));
    // Most recent first (the link was published before the models).
    assert!(html.find("tiny-net\"").unwrap() < html.find("peephole-lstm").unwrap());

    let icon = reg.get("/favicon.ico").await;
    assert_eq!(icon.status, StatusCode::OK);
    assert_eq!(icon.header("content-type"), "image/svg+xml");
    assert!(icon.text().starts_with("<svg"));

    let css = reg.get("/static/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.header("content-type").starts_with("text/css"));
    assert!(css.text().contains("@media"));

    let search = reg.get("/search?q=shapes").await.text();
    assert!(search.contains("1 package found"), "{search}");
    assert!(search.contains("tiny-net") && !search.contains("href=\"/packages/peephole-lstm\""));

    let page = reg.get("/packages/Tiny_Net").await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    // 1.1.0 is yanked: the page shows 1.0.0 and marks 1.1.0.
    assert!(html.contains("zoo install tiny-net@1.0.0"), "{html}");
    assert!(html.contains("<strong>small</strong>"), "{html}");
    assert!(html.contains("<table>"), "README tables render");
    assert!(
        html.contains("1.1.0</a> <span class=\"yanked\">yanked</span>"),
        "{html}"
    );
    assert!(html.contains("weights.safetensors") && html.contains("external blob"));
    assert!(html.contains(&zoo_format::checksum::sha256_hex(
        b"weights of tiny-net 1.0.0"
    )));
    assert!(html.contains("synthetic-shapes") && html.contains("0.97"));
    assert!(html.contains("href=\"/packages/peephole-lstm\"") && html.contains("^0.1"));
    assert!(html.contains("<li>alice</li>"));
    assert!(
        page.header("content-security-policy")
            .contains("default-src 'none'")
    );

    let v = reg.get("/packages/tiny-net/1.1.0").await.text();
    assert!(v.contains("zoo install tiny-net@=1.1.0") && v.contains("This version is yanked"));
    // A version's own page installs that version, not the newest ^1.0.0.
    let v = reg.get("/packages/tiny-net/1.0.0").await.text();
    assert!(v.contains("zoo install tiny-net@=1.0.0"), "{v}");
    assert_eq!(
        reg.get("/packages/tiny-net/9.9.9").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.get("/packages/tiny-net/nonsense").await.status,
        StatusCode::NOT_FOUND
    );
    let missing = reg.get("/packages/no-such-thing").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.text().contains("no package named `no-such-thing`"));
    assert!(missing.header("content-type").starts_with("text/html"));
}

#[tokio::test]
async fn search_pages_through_results() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    for i in 0..23 {
        let name = format!("link-{i:02}");
        let reply = reg.publish(&alice, &link(&name, "0.1.0", "paged")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    }
    let first = reg.get("/search?q=paged").await.text();
    assert!(first.contains("23 packages found"));
    assert_eq!(first.matches("<li>").count(), 20, "{first}");
    assert!(first.contains("href=\"/search?q=paged&amp;page=2\""));
    let second = reg.get("/search?q=paged&page=2").await.text();
    assert_eq!(second.matches("<li>").count(), 3);
    assert!(second.contains("page=1\">← Previous") && !second.contains("Next"));
    assert_eq!(
        reg.get("/search?q=x&page=0").await.status,
        StatusCode::BAD_REQUEST
    );
}

#[tokio::test]
async fn hostile_metadata_and_readme_are_escaped() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    let readme = format!(
        "# Card\n\n{EVIL}\n\n<img src=x onerror=alert(1)>\n\n[click](javascript:alert(1))\n"
    );
    let evil = model("evil-net", "1.0.0", EVIL, &readme);
    // The license is free text from zoo.toml, shown on the page too.
    evil.edit_manifest(|toml| toml.replace("license = \"MIT\"", &format!("license = {EVIL:?}")));
    let reply = reg.publish(&alice, &evil).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    for uri in [
        "/",
        "/search?q=evil",
        "/packages/evil-net",
        "/packages/evil-net/1.0.0",
    ] {
        let html = reg.get(uri).await.text();
        assert!(!html.contains("<script"), "{uri}: {html}");
        assert!(!html.contains("<img src=x"), "{uri}");
        assert!(!html.contains("javascript:"), "{uri}");
        assert!(html.contains("&lt;script&gt;"), "{uri}: {html}");
    }
    let html = reg.get("/packages/evil-net").await.text();
    assert!(
        html.contains("<p id=\"license\">&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;</p>"),
        "{html}"
    );
    let html = reg
        .get(&format!("/search?q={}", "%3Cscript%3E%22"))
        .await
        .text();
    assert!(
        !html.contains("<script") && html.contains("&lt;script&gt;&quot;"),
        "{html}"
    );
    let html = reg.get("/packages/%3Cscript%3E").await.text();
    assert!(!html.contains("<script") && html.contains("&lt;script&gt;"));
}

const FORM: &str = "application/x-www-form-urlencoded";

/// POSTs the form `body` to `path` with the `session` cookie.
async fn post_form(reg: &Registry, session: &str, path: &str, body: impl Into<Vec<u8>>) -> Reply {
    let headers = [("content-type", FORM), ("cookie", session)];
    reg.send(Method::POST, path, &headers, body.into()).await
}

/// The token page's revoke button for token `id`.
async fn revoke(reg: &Registry, session: &str, csrf: &str, id: &str) -> Reply {
    let path = format!("/account/tokens/{id}/revoke");
    post_form(reg, session, &path, format!("csrf={csrf}")).await
}

/// GETs `path` with the `session` cookie.
async fn get_with(reg: &Registry, session: &str, path: &str) -> Reply {
    let headers = [("content-type", FORM), ("cookie", session)];
    reg.send(Method::GET, path, &headers, Vec::new()).await
}

/// The session cookie and CSRF token of a fresh login.
async fn log_in(reg: &Registry, login: &str, token: &str) -> (String, String) {
    let form = reg.get("/login").await;
    assert_eq!(form.status, StatusCode::OK);
    let cookie = form.cookies()[0].clone();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let login_csrf = cookie.split(';').next().unwrap().to_string();
    let csrf = login_csrf.split_once('=').unwrap().1.to_string();
    let body = format!("username={login}&token={token}&csrf={csrf}");
    let reply = reg
        .send(
            Method::POST,
            "/login",
            &[("content-type", FORM), ("cookie", &login_csrf)],
            body.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.text());
    assert_eq!(reply.header("location"), "/account/tokens");
    let session = reply
        .cookies()
        .into_iter()
        .find(|c| c.starts_with("zoo_session="))
        .unwrap();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Strict"));
    let session = session.split(';').next().unwrap().to_string();
    let page = reg
        .send(
            Method::GET,
            "/account/tokens",
            &[("cookie", &session)],
            Vec::new(),
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    let html = page.text();
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    (session, csrf)
}

#[tokio::test]
async fn owners_log_in_and_manage_their_tokens() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let bob = reg.token("bob", &Scope::ALL);

    // Not logged in: redirected; wrong token: refused.
    let reply = reg.get("/account/tokens").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/login");
    let form_page = reg.get("/login").await;
    let login_csrf = form_page.cookies()[0]
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let csrf = login_csrf.split_once('=').unwrap().1;
    let reply = reg
        .send(
            Method::POST,
            "/login",
            &[("content-type", FORM), ("cookie", &login_csrf)],
            format!("username=alice&token={bob}&csrf={csrf}").into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    // Without the login CSRF cookie: refused.
    let reply = reg
        .send(
            Method::POST,
            "/login",
            &[("content-type", FORM)],
            format!("username=alice&token={alice}&csrf={csrf}").into_bytes(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    // Logins are unique without regard to case, and so is signing in.
    log_in(&reg, "ALICE", &alice).await;
    let (session, csrf) = log_in(&reg, "alice", &alice).await;

    // Create: shown once; a forged form (no/other CSRF token) is refused.
    let forged = post_form(&reg, &session, "/account/tokens", "scope-yank=on&csrf=0000").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let created = post_form(
        &reg,
        &session,
        "/account/tokens",
        format!("scope-yank=on&csrf={csrf}"),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text());
    assert_eq!(created.header("cache-control"), "no-store");
    let html = created.text();
    let new_token = html
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let (id, _) = zoo_registry::auth::split_token(&new_token).unwrap();
    let record = reg.state.store.find_token(id).unwrap().unwrap();
    assert_eq!(record.user.login, "alice");
    assert_eq!(record.scopes, vec![Scope::Yank]);
    let listed = get_with(&reg, &session, "/account/tokens").await.text();
    assert!(
        listed.contains(id) && !listed.contains(&new_token),
        "shown once"
    );

    // Revoke: only one's own tokens.
    let bob_id = &bob[4..20];
    let reply = revoke(&reg, &session, &csrf, bob_id).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(!reg.state.store.find_token(bob_id).unwrap().unwrap().revoked);
    let reply = revoke(&reg, &session, &csrf, id).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert!(reg.state.store.find_token(id).unwrap().unwrap().revoked);

    // Log out: the session no longer works.
    let reply = post_form(&reg, &session, "/logout", format!("csrf={csrf}")).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let reply = get_with(&reg, &session, "/account/tokens").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
}

/// Issue #17 item 5: a yank-only token opened a session that minted a
/// token with every scope, and the session outlived the token's revocation.
#[tokio::test]
async fn a_session_mints_no_more_than_its_token_and_ends_when_it_is_revoked() {
    let reg = Registry::new();
    let yank_only = reg.token("alice", &[Scope::Yank]);
    let (session, csrf) = log_in(&reg, "alice", &yank_only).await;
    let page = get_with(&reg, &session, "/account/tokens").await.text();
    assert!(page.contains("name=\"scope-yank\""), "{page}");
    assert!(!page.contains("name=\"scope-publish-new\""), "{page}");

    let all = "scope-publish-new=on&scope-publish-update=on&scope-yank=on&scope-owners=on";
    let escalated = post_form(
        &reg,
        &session,
        "/account/tokens",
        format!("{all}&csrf={csrf}"),
    )
    .await;
    assert_eq!(
        escalated.status,
        StatusCode::FORBIDDEN,
        "{}",
        escalated.text()
    );
    assert!(
        escalated
            .text()
            .contains("cannot create a token with publish-new, publish-update, owners"),
        "{}",
        escalated.text()
    );
    assert_eq!(
        reg.state.store.list_tokens(Some("alice")).unwrap().len(),
        1,
        "no token was created"
    );
    let same = post_form(
        &reg,
        &session,
        "/account/tokens",
        format!("scope-yank=on&csrf={csrf}"),
    )
    .await;
    assert_eq!(same.status, StatusCode::CREATED, "{}", same.text());

    // Revoking the token that opened the session (here from the command
    // line's store call) ends the session: no page, no more tokens.
    let login_id = &yank_only[4..20];
    reg.state.store.revoke_token(login_id).unwrap();
    let reply = get_with(&reg, &session, "/account/tokens").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    assert_eq!(reply.header("location"), "/login");
    let reply = post_form(
        &reg,
        &session,
        "/account/tokens",
        format!("scope-yank=on&csrf={csrf}"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text());
    assert_eq!(reg.state.store.list_tokens(Some("alice")).unwrap().len(), 2);

    // Revoking it on the web page itself ends the session too.
    let full = reg.token("bob", &Scope::ALL);
    let (session, csrf) = log_in(&reg, "bob", &full).await;
    let reply = revoke(&reg, &session, &csrf, &full[4..20]).await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER);
    let reply = get_with(&reg, &session, "/account/tokens").await;
    assert_eq!(reply.header("location"), "/login");
}

#[tokio::test]
async fn healthz_and_metrics() {
    let reg = Registry::new();
    let reply = reg.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), r#"{"status":"ok"}"#);

    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    let reply = reg
        .publish(&alice, &model("tiny-net", "1.0.0", "d", "# r\n"))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let weights = zoo_format::checksum::sha256_hex(b"weights of tiny-net 1.0.0");
    assert_eq!(
        reg.get(&format!("/blobs/{weights}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        reg.get("/index/ti/ny/tiny-net").await.status,
        StatusCode::OK
    );
    assert_eq!(reg.get("/nope").await.status, StatusCode::NOT_FOUND);

    let metrics = reg.get("/metrics").await;
    assert!(
        metrics
            .header("content-type")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = metrics.text();
    let expect = [
        "zoo_publishes_total{registry=\"zoo\"} 2",
        "zoo_index_documents_served_total{registry=\"zoo\"} 1",
        &format!(
            "zoo_blob_bytes_served_total {}",
            b"weights of tiny-net 1.0.0".len()
        ),
        // The model and the link it depends on.
        "zoo_http_requests_total{method=\"PUT\",route=\"/api/v1/packages/new\",status=\"2xx\"} 2",
        "zoo_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"4xx\"} 1",
        "zoo_http_request_duration_seconds_count{route=\"/blobs/{sha256}\"} 1",
    ];
    for line in expect {
        assert!(text.contains(line), "missing `{line}` in\n{text}");
    }
    #[cfg(target_os = "linux")]
    assert!(text.contains("process_resident_memory_bytes "));

    // A data directory that cannot take writes makes the check fail.
    std::fs::remove_dir_all(reg.data.join("tmp")).unwrap();
    std::fs::write(reg.data.join("tmp"), b"not a directory").unwrap();
    let reply = reg.get("/healthz").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.text().contains("not writable"), "{}", reply.text());
}

/// Issue #17 item 10: page numbers and search texts are bounded on all
/// three search endpoints (400), pages past the results are empty, and
/// nothing panics or answers 500.
#[tokio::test]
async fn search_bounds_page_numbers_and_query_length() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let reply = reg.publish(&alice, &link("bounded", "0.1.0", "x")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let long = "a".repeat(50_000);
    for uri in [
        format!("/api/v1/search?q={long}"),
        format!("/search?q={long}"),
        format!("/cargo/api/v1/crates?q={long}"),
    ] {
        let reply = reg.get(&uri).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", &uri[..30]);
        assert!(reply.text().contains("at most 256"), "{}", reply.text());
    }
    let ok = "a".repeat(256);
    for uri in [
        format!("/api/v1/search?q={ok}"),
        format!("/search?q={ok}"),
        format!("/cargo/api/v1/crates?q={ok}"),
    ] {
        assert_eq!(reg.get(&uri).await.status, StatusCode::OK, "{}", &uri[..30]);
    }
    // 2^63 panicked a handler; 2^62 wrapped to a negative offset (page 1).
    for page in ["9223372036854775808", "4611686018427387904", "10001"] {
        for uri in [
            format!("/api/v1/search?q=bounded&page={page}"),
            format!("/search?q=bounded&page={page}"),
        ] {
            let reply = reg.get(&uri).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{uri}");
            assert!(reply.text().contains("between 1 and 10000"), "{uri}");
        }
    }
    let last = reg.get("/api/v1/search?q=bounded&page=10000").await;
    assert_eq!(last.status, StatusCode::OK);
    assert_eq!(last.json()["packages"].as_array().unwrap().len(), 0);
    assert_eq!(last.json()["total"], 1);
    let html = reg.get("/search?q=bounded&page=10000").await;
    assert_eq!(html.status, StatusCode::OK);
    assert!(
        html.text()
            .contains("1 package found; page 10000 is past the last page (1)"),
        "{}",
        html.text()
    );
}

/// Issue #15: "2 packages found" and "No packages match" on one page. A page
/// past the end says which is the last one and links to it; only a search
/// that found nothing says nothing matches.
#[tokio::test]
async fn a_search_page_past_the_end_says_so_and_links_the_last_page() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    for name in ["paged-a", "paged-b"] {
        let reply = reg.publish(&alice, &link(name, "0.1.0", "x")).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    }
    let html = reg.get("/search?q=paged&page=99").await.text();
    assert!(
        html.contains("2 packages found; page 99 is past the last page (1)."),
        "{html}"
    );
    assert!(!html.contains("No packages match"), "{html}");
    assert!(
        html.contains("<a href=\"/search?q=paged&amp;page=1\">Go to page 1</a>"),
        "{html}"
    );
    // No "← Previous" to page 98, itself past the end.
    assert!(!html.contains("page=98"), "{html}");
    let first = reg.get("/search?q=paged").await.text();
    assert!(first.contains("2 packages found</p>") && !first.contains("past the last"));
    let none = reg.get("/search?q=nothing-here").await.text();
    assert!(
        none.contains("0 packages found") && none.contains("No packages match"),
        "{none}"
    );
}

/// Issue #15: the package page shows the license, the inputs and outputs,
/// a download link for the archive and for each external file, and the
/// metrics once: not again under a card whose table already shows them.
#[tokio::test]
async fn the_package_page_shows_license_io_downloads_and_metrics_once() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    // As the built-in model cards (models/src/card.rs) print them.
    let card = "# Shapes\n\n## Held-out results\n\n| metric | value | data |\n|---|---|---|\n\
                | accuracy | 0.9700 | synthetic-shapes |\n";
    let reply = reg
        .publish(
            &alice,
            &model("carded", "1.0.0", "A card with metrics", card),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let html = reg.get("/packages/carded").await.text();
    assert!(
        html.contains("<h2>License</h2>\n<p id=\"license\">MIT</p>"),
        "{html}"
    );
    assert!(html.contains("<table id=\"io\">"), "{html}");
    assert!(
        html.contains("<td>input</td><td>data</td><td><code>[1, 3, 8, 8]</code></td><td>f32</td>"),
        "{html}"
    );
    assert!(
        html.contains("<td>output</td><td>prob</td>") && html.contains("labels in labels.txt"),
        "{html}"
    );
    // Downloads: the archive and the external weights, from their blob URLs.
    let info = reg.get("/api/v1/packages/carded").await.json();
    let archive = info["versions"][0]["archive"]["sha256"].as_str().unwrap();
    let weights = zoo_format::checksum::sha256_hex(b"weights of carded 1.0.0");
    assert!(
        html.contains(&format!(
            "<a href=\"/blobs/{archive}\" download=\"carded-1.0.0.zoo\">download</a>"
        )),
        "{html}"
    );
    assert!(
        html.contains(&format!(
            "<a href=\"/blobs/{weights}\" download=\"weights.safetensors\">download</a>"
        )),
        "{html}"
    );
    for sha in [archive, weights.as_str()] {
        assert_eq!(
            reg.get(&format!("/blobs/{sha}")).await.status,
            StatusCode::OK
        );
    }
    // The README (inside the archive) has no download link of its own; its
    // name opens it from the version's files.
    assert!(
        html.contains("<td><a href=\"/packages/carded/1.0.0/files/README.md\">README.md</a></td>"),
        "{html}"
    );
    assert_eq!(html.matches("download</a>").count(), 2, "{html}");
    // The metric once: in the card's table, no second table.
    assert_eq!(html.matches("synthetic-shapes").count(), 1, "{html}");
    assert!(!html.contains("id=\"metrics\""), "{html}");
    assert!(html.contains("<p class=\"muted\" id=\"signed\">Unsigned.</p>"));

    // A card without the figures: the recorded metrics table, once.
    let reply = reg
        .publish(&alice, &model("bare", "1.0.0", "No figures", "# Bare\n"))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let html = reg.get("/packages/bare").await.text();
    assert!(html.contains("<table id=\"metrics\">"), "{html}");
    assert_eq!(html.matches("synthetic-shapes").count(), 1, "{html}");
    // A card whose table shows another value keeps the recorded one too.
    let stale = card.replace("0.9700", "0.9100");
    let reply = reg
        .publish(&alice, &model("stale", "1.0.0", "Stale card", &stale))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let html = reg.get("/packages/stale").await.text();
    assert!(html.contains("<table id=\"metrics\">"), "{html}");

    // Metrics are a model's: a link package gets no empty section.
    let reply = reg.publish(&alice, &link("plain-link", "0.1.0", "x")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let html = reg.get("/packages/plain-link").await.text();
    assert!(!html.contains("<h2>Metrics</h2>"), "{html}");
}

/// Issue #17 item 13: with the newest version yanked, the package page,
/// the web search, the API search and the info API describe the version
/// they offer (the newest installable one), not the yanked one.
#[tokio::test]
async fn a_yanked_newest_version_does_not_describe_the_package() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    for (v, description, readme) in [
        ("1.0.0", "Stable shapes net", "# Stable readme\n"),
        ("1.1.0", "Broken shapes net", "# Broken readme\n"),
    ] {
        let reply = reg
            .publish(&alice, &model("shapes", v, description, readme))
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    }
    let reply = reg.yank(&alice, "shapes", "1.1.0", true).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    let page = reg.get("/packages/shapes").await.text();
    assert!(page.contains("zoo install shapes@1.0.0"), "{page}");
    assert!(
        page.contains("Stable readme") && page.contains("Stable shapes net"),
        "{page}"
    );
    assert!(
        !page.contains("Broken readme") && !page.contains("Broken shapes net"),
        "{page}"
    );
    let search = reg.get("/search?q=shapes").await.text();
    assert!(
        search.contains("Stable shapes net") && !search.contains("Broken"),
        "{search}"
    );
    let api = reg.get("/api/v1/search?q=shapes").await.json();
    assert_eq!(api["packages"][0]["version"], "1.0.0");
    assert_eq!(api["packages"][0]["description"], "Stable shapes net");
    let info = reg.get("/api/v1/packages/shapes").await.json();
    assert_eq!(info["description"], "Stable shapes net");
    assert_eq!(info["readme"], "# Stable readme\n");
    // The yanked version's own page still shows its own README.
    let v = reg.get("/packages/shapes/1.1.0").await.text();
    assert!(v.contains("Broken readme"), "{v}");
    // Un-yanked, it describes the package again.
    let reply = reg.yank(&alice, "shapes", "1.1.0", false).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let info = reg.get("/api/v1/packages/shapes").await.json();
    assert_eq!(info["description"], "Broken shapes net");
}

/// The package page names the key a version was signed with (its short id
/// and the key), and says "Unsigned" for a version published without one.
#[tokio::test]
async fn the_package_page_names_the_signing_key() {
    use zoo_format::signing::{PublicKey, SecretKey, sign_entry};
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let packed = link("signed-link", "1.0.0", "x").packed();
    let sig = sign_entry(&SecretKey::generate().unwrap(), &packed.index_entry());
    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/new",
            Some(&alice),
            packed.bytes,
            &[("zoo-signing-key", &sig.key), ("zoo-signature", &sig.sig)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let key_id = sig.key.parse::<PublicKey>().unwrap().fingerprint();
    let html = reg.get("/packages/signed-link").await.text();
    assert!(
        html.contains(&format!(
            "<p id=\"signed\">Signed by key <code>{key_id}</code> <span class=\"hash\">{}</span></p>",
            sig.key
        )),
        "{html}"
    );
    // A link has no inputs or outputs section and no stated license here.
    assert!(!html.contains("Inputs and outputs"), "{html}");
    assert!(html.contains("id=\"license\">Not stated.</p>"), "{html}");
}

/// A model card's relative links and images open the shown version's files
/// (`/packages/NAME/VERSION/files/PATH`), served inert.
#[tokio::test]
async fn card_links_open_the_shown_versions_files() {
    use zoo_format::checksum::sha256_hex;
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    let readme = "# Card\n\n[labels](labels.txt) ![arch](./docs/arch.png) \
                  [page](docs/page.html) [big](data/../data/big.bin) [out](../../x)\n";
    let png = b"\x89PNG\r\n\x1a\nnot really a picture".to_vec();
    let html_file = b"<html><script>alert(document.cookie)</script></html>".to_vec();
    let big = zoo_format::archive::testing::noise(
        zoo_format::archive::EXTERNAL_THRESHOLD as usize + 10,
        7,
    );
    for (version, labels) in [
        ("1.0.0", "circle\nsquare\ntriangle\n"),
        ("1.1.0", "x\ny\nz\n"),
    ] {
        let mut package = model("carded", version, "Card links", readme);
        let dir = package.dir.path();
        std::fs::create_dir_all(dir.join("docs")).unwrap();
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::fs::write(dir.join("labels.txt"), labels).unwrap();
        std::fs::write(dir.join("docs/arch.png"), &png).unwrap();
        std::fs::write(dir.join("docs/page.html"), &html_file).unwrap();
        std::fs::write(dir.join("data/big.bin"), &big).unwrap();
        package.blobs.push(big.clone());
        let reply = reg.publish(&alice, &package).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    }
    let reply = reg.yank(&alice, "carded", "1.1.0", true).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    // The latest page shows 1.0.0 (1.1.0 is yanked): its card links 1.0.0's files.
    let latest = reg.get("/packages/carded").await.text();
    let files = "/packages/carded/1.0.0/files";
    for target in [
        format!("href=\"{files}/labels.txt\""),
        format!("src=\"{files}/docs/arch.png\""),
        format!("href=\"{files}/docs/page.html\""),
        format!("href=\"{files}/data/big.bin\""),
        "href=\"#\">out</a>".to_string(),
    ] {
        assert!(latest.contains(&target), "{target} in {latest}");
    }
    let pinned = reg.get("/packages/carded/1.1.0").await.text();
    assert!(
        pinned.contains("href=\"/packages/carded/1.1.0/files/labels.txt\""),
        "{pinned}"
    );

    let inert = |reply: &zoo_e2e::in_process::Reply| {
        assert_eq!(reply.header("x-content-type-options"), "nosniff");
        let policy = reply.header("content-security-policy");
        assert!(
            policy.contains("sandbox") && policy.contains("default-src 'none'"),
            "{policy}"
        );
    };
    let labels = reg.get(&format!("{files}/labels.txt")).await;
    assert_eq!(labels.status, StatusCode::OK, "{}", labels.text());
    assert_eq!(labels.body, b"circle\nsquare\ntriangle\n");
    assert_eq!(labels.header("content-type"), "text/plain; charset=utf-8");
    let etag = format!("\"{}\"", sha256_hex(b"circle\nsquare\ntriangle\n"));
    assert_eq!(labels.header("etag"), etag);
    inert(&labels);
    let again = reg
        .send(
            Method::GET,
            &format!("{files}/labels.txt"),
            &[("if-none-match", &etag)],
            Vec::new(),
        )
        .await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    assert!(again.body.is_empty());

    let arch = reg.get(&format!("{files}/docs/arch.png")).await;
    assert_eq!(arch.status, StatusCode::OK);
    assert_eq!(arch.body, png);
    assert_eq!(arch.header("content-type"), "image/png");
    inert(&arch);

    // Uploaded HTML is shown as text, never run on the registry's origin.
    let page = reg.get(&format!("{files}/docs/page.html")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.body, html_file);
    assert!(!page.header("content-type").contains("html"));
    assert_eq!(page.header("content-type"), "text/plain; charset=utf-8");
    inert(&page);

    // An external (≥ 1 MiB) file streams from its blob, ranges included.
    let whole = reg.get(&format!("{files}/data/big.bin")).await;
    assert_eq!(whole.status, StatusCode::OK);
    assert_eq!(sha256_hex(&whole.body), sha256_hex(&big));
    assert_eq!(whole.header("content-type"), "application/octet-stream");
    assert_eq!(whole.header("content-disposition"), "attachment");
    inert(&whole);
    let part = reg
        .send(
            Method::GET,
            &format!("{files}/data/big.bin"),
            &[("range", "bytes=10-19")],
            Vec::new(),
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, big[10..20]);
    let weights = reg.get(&format!("{files}/weights.safetensors")).await;
    assert_eq!(weights.body, b"weights of carded 1.0.0");

    // A yanked version still serves its own files.
    let yanked = reg.get("/packages/carded/1.1.0/files/labels.txt").await;
    assert_eq!(yanked.status, StatusCode::OK);
    assert_eq!(yanked.body, b"x\ny\nz\n");

    // Only listed paths: nothing missing, climbing or reserved.
    for (uri, says) in [
        (format!("{files}/nope.txt"), "has no file `nope.txt`"),
        (
            format!("{files}/docs/../labels.txt"),
            "has no file `docs/../labels.txt`",
        ),
        (
            format!("{files}/../../1.1.0/files/labels.txt"),
            "has no file",
        ),
        (
            format!("{files}/%2e%2e/zoo.toml"),
            "has no file `../zoo.toml`",
        ),
        (
            format!("{files}/.zoo/files.json"),
            "has no file `.zoo/files.json`",
        ),
        (
            "/packages/carded/2.0.0/files/labels.txt".to_string(),
            "has no version 2.0.0",
        ),
        (
            "/packages/nothing/1.0.0/files/labels.txt".to_string(),
            "no package named `nothing`",
        ),
    ] {
        let reply = reg.get(&uri).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(reply.text().contains(says), "{uri}: {}", reply.text());
    }
    // No path at all: the version's page lists the files.
    for uri in [files.to_string(), format!("{files}/")] {
        let reply = reg.get(&uri).await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{uri}");
        assert_eq!(reply.header("location"), "/packages/carded/1.0.0#files");
    }
}

//! The HTTP API driven in-process through the axum router (no sockets).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;
use zoo_e2e::in_process::{Package, Registry, count_files, link, model_with_weights};
use zoo_format::archive::testing::{ESCAPE_TARGET, hostile_archives, with_listing};
use zoo_format::checksum::sha256_hex;
use zoo_registry::auth::Scope;
use zoo_registry::{Config, open_state, router};

const WEIGHTS: &[u8] = b"pretend safetensors weights";

/// A model package `name`@`version` with external weights [`WEIGHTS`].
fn model_package(name: &str, version: &str) -> Package {
    let readme = format!("# {name}\nA model card.\n");
    model_with_weights(
        name,
        version,
        "A tiny classifier for shapes",
        &readme,
        WEIGHTS,
    )
}

#[tokio::test]
async fn publish_then_read_everything_back() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    let archive = model_package("tiny-net", "1.0.0").packed();

    // The weights blob has not been uploaded yet.
    let reply = reg.publish_archive(&alice, &archive.bytes).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.detail().contains("weights.safetensors"),
        "{}",
        reply.detail()
    );

    // Blob upload: wrong hash refused, then created, then already there.
    let wrong = format!("/api/v1/blobs/{}", sha256_hex(b"other"));
    let reply = reg
        .request(Method::PUT, &wrong, Some(&alice), WEIGHTS.to_vec(), &[])
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.detail());
    assert_eq!(
        reg.put_blob(&alice, WEIGHTS).await.status,
        StatusCode::CREATED
    );
    assert_eq!(reg.put_blob(&alice, WEIGHTS).await.status, StatusCode::OK);
    let head = reg
        .request(
            Method::HEAD,
            &format!("/blobs/{}", sha256_hex(WEIGHTS)),
            None,
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-length"), WEIGHTS.len().to_string());
    let missing = reg
        .request(
            Method::HEAD,
            &format!("/blobs/{}", sha256_hex(b"nope")),
            None,
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);

    let reply = reg.publish_archive(&alice, &archive.bytes).await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let body = reply.json();
    assert_eq!(body["name"], "tiny-net");
    assert_eq!(body["version"], "1.0.0");
    assert_eq!(body["archive_sha256"], archive.sha256);

    // Index: one line, ETag, 304, mirrored byte-for-byte on disk.
    let index = reg.get("/index/ti/ny/tiny-net").await;
    assert_eq!(index.status, StatusCode::OK);
    let lines =
        zoo_format::index::parse_document(std::str::from_utf8(&index.body).unwrap()).unwrap();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].vers.to_string(), "1.0.0");
    assert_eq!(lines[0].archive.sha256, archive.sha256);
    assert_eq!(lines[0].archive.size, archive.size);
    assert_eq!(lines[0].files, archive.files);
    assert_eq!(lines[0].deps[0].name, "peephole-lstm");
    assert!(!lines[0].yanked);
    let etag = index.header("etag").to_string();
    assert!(etag.starts_with('"'), "{etag}");
    let cached = reg
        .request(
            Method::GET,
            "/index/ti/ny/tiny-net",
            None,
            Vec::new(),
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(cached.status, StatusCode::NOT_MODIFIED);
    assert!(cached.body.is_empty());
    let on_disk = std::fs::read(reg.data.join("index/ti/ny/tiny-net")).unwrap();
    assert_eq!(on_disk, index.body);
    assert_eq!(
        reg.get("/index/ti/ny/nothing").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.get("/index/xx/yy/tiny-net").await.status,
        StatusCode::NOT_FOUND
    );
    let config = reg.get("/index/config.json").await.json();
    assert_eq!(config["dl"], "http://registry.test/blobs/{sha256}");
    assert_eq!(config["api"], "http://registry.test");
    assert!(reg.data.join("index/config.json").is_file());

    // Package info: versions, files, metrics, readme, deps, owners.
    let info = reg.get("/api/v1/packages/Tiny_Net").await;
    assert_eq!(info.status, StatusCode::OK);
    let info = info.json();
    assert_eq!(info["name"], "tiny-net");
    assert_eq!(info["kind"], "model");
    assert_eq!(info["readme"], "# tiny-net\nA model card.\n");
    assert_eq!(info["owners"][0]["login"], "alice");
    assert_eq!(info["keywords"][1], "shapes");
    let v = &info["versions"][0];
    assert_eq!(v["version"], "1.0.0");
    assert_eq!(v["yanked"], false);
    assert_eq!(v["metrics"][0]["value"], 0.97);
    assert_eq!(v["deps"][0]["req"], "^0.1");
    assert_eq!(v["archive"]["sha256"], archive.sha256);
    assert_eq!(v["files"].as_array().unwrap().len(), archive.files.len());
    assert!(v["published_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        reg.get("/api/v1/packages/nothing").await.status,
        StatusCode::NOT_FOUND
    );

    // Search by name, keyword, description.
    for q in ["tiny", "TINY_NET", "shapes", "classifier"] {
        let hits = reg.get(&format!("/api/v1/search?q={q}")).await.json();
        assert_eq!(hits["total"], 1, "q={q}");
        assert_eq!(hits["packages"][0]["name"], "tiny-net");
        assert_eq!(hits["packages"][0]["version"], "1.0.0");
        assert_eq!(hits["packages"][0]["kind"], "model");
    }
    assert_eq!(reg.get("/api/v1/search?q=zebra").await.json()["total"], 0);
    assert_eq!(
        reg.get("/api/v1/search?per_page=0").await.status,
        StatusCode::BAD_REQUEST
    );

    // The archive blob: full GET, Range → 206, ETag and immutable caching, 304.
    let uri = format!("/blobs/{}", archive.sha256);
    let full = reg.get(&uri).await;
    assert_eq!(full.status, StatusCode::OK);
    assert_eq!(full.body, archive.bytes);
    assert_eq!(full.header("etag"), format!("\"{}\"", archive.sha256));
    assert_eq!(
        full.header("cache-control"),
        "public, max-age=31536000, immutable"
    );
    let part = reg
        .request(
            Method::GET,
            &uri,
            None,
            Vec::new(),
            &[("range", "bytes=10-19")],
        )
        .await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.body, archive.bytes[10..20]);
    assert!(
        part.header("content-range").starts_with("bytes 10-19/"),
        "{}",
        part.header("content-range")
    );
    let etag = format!("\"{}\"", archive.sha256);
    let not_modified = reg
        .request(
            Method::GET,
            &uri,
            None,
            Vec::new(),
            &[("if-none-match", &etag)],
        )
        .await;
    assert_eq!(not_modified.status, StatusCode::NOT_MODIFIED);
    assert_eq!(
        reg.get("/blobs/not-a-hash").await.status,
        StatusCode::BAD_REQUEST
    );

    // Versions are immutable, whatever the spelling of the name.
    let again = reg.publish_archive(&alice, &archive.bytes).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        again.detail(),
        "tiny-net@1.0.0 already exists; versions are immutable"
    );
    let respelled = model_package("Tiny_Net", "1.0.0").packed();
    assert_eq!(
        reg.publish_archive(&alice, &respelled.bytes).await.status,
        StatusCode::CONFLICT
    );

    // A new version under another spelling is the same package.
    let next = model_package("Tiny_Net", "1.1.0").packed();
    assert_eq!(
        reg.publish_archive(&alice, &next.bytes).await.status,
        StatusCode::CREATED
    );
    let lines = zoo_format::index::parse_document(
        std::str::from_utf8(&reg.get("/index/ti/ny/tiny-net").await.body).unwrap(),
    )
    .unwrap();
    assert_eq!(
        lines.iter().map(|l| l.vers.to_string()).collect::<Vec<_>>(),
        ["1.0.0", "1.1.0"]
    );
    // The weights blob is shared, not stored twice.
    let weights = |i: usize| lines[i].files.iter().find(|f| f.external).cloned().unwrap();
    assert_eq!(weights(0), weights(1));
    assert_eq!(weights(0).sha256, sha256_hex(WEIGHTS));
}

#[tokio::test]
async fn yank_and_unyank_rewrite_the_index() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let archive = link("peephole-lstm", "0.1.0", "LSTM with peepholes").packed();
    assert_eq!(
        reg.publish_archive(&alice, &archive.bytes).await.status,
        StatusCode::CREATED
    );
    let before = reg.get("/index/pe/ep/peephole-lstm").await;

    let yank = reg
        .request(
            Method::DELETE,
            "/api/v1/packages/peephole_lstm/0.1.0/yank",
            Some(&alice),
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(
        yank.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&yank.body)
    );
    assert_eq!(yank.json(), serde_json::json!({"ok": true}));
    let after = reg.get("/index/pe/ep/peephole-lstm").await;
    assert!(String::from_utf8_lossy(&after.body).contains("\"yanked\":true"));
    assert_ne!(before.header("etag"), after.header("etag"));
    let stale = reg
        .request(
            Method::GET,
            "/index/pe/ep/peephole-lstm",
            None,
            Vec::new(),
            &[("if-none-match", before.header("etag"))],
        )
        .await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(
        std::fs::read(reg.data.join("index/pe/ep/peephole-lstm")).unwrap(),
        after.body
    );
    assert_eq!(
        reg.get("/api/v1/packages/peephole-lstm").await.json()["versions"][0]["yanked"],
        true
    );
    // Yanked versions stay downloadable.
    assert_eq!(
        reg.get(&format!("/blobs/{}", archive.sha256)).await.status,
        StatusCode::OK
    );

    let unyank = reg
        .request(
            Method::PUT,
            "/api/v1/packages/peephole-lstm/0.1.0/unyank",
            Some(&alice),
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(unyank.status, StatusCode::OK);
    // The same entries, signed again (a newer signature, so a client that saw
    // the yank can tell this document is newer).
    let after = reg.get("/index/pe/ep/peephole-lstm").await.body;
    assert_eq!(entry_lines(&after), entry_lines(&before.body));
    assert!(signature_of(&after).version > signature_of(&before.body).version);

    let missing = reg
        .request(
            Method::DELETE,
            "/api/v1/packages/peephole-lstm/9.9.9/yank",
            Some(&alice),
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    let bad = reg
        .request(
            Method::DELETE,
            "/api/v1/packages/peephole-lstm/x/yank",
            Some(&alice),
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // Only owners yank; the token needs the `yank` scope.
    let bob = reg.token("bob", &Scope::ALL);
    let reply = reg
        .request(
            Method::DELETE,
            "/api/v1/packages/peephole-lstm/0.1.0/yank",
            Some(&bob),
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.detail().contains("not an owner"),
        "{}",
        reply.detail()
    );
    let publish_only = reg.token("alice", &[Scope::PublishUpdate]);
    let reply = reg
        .request(
            Method::DELETE,
            "/api/v1/packages/peephole-lstm/0.1.0/yank",
            Some(&publish_only),
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.detail().contains("`yank` scope"),
        "{}",
        reply.detail()
    );
}

#[tokio::test]
async fn owners_control_who_publishes() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let bob = reg.token("bob", &Scope::ALL);
    assert_eq!(
        reg.publish_archive(&alice, &link("chain", "1.0.0", "a chain").packed().bytes)
            .await
            .status,
        StatusCode::CREATED
    );

    // bob is not an owner: he can neither publish nor change owners.
    let next = link("chain", "1.1.0", "a chain").packed();
    let reply = reg.publish_archive(&bob, &next.bytes).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply.detail().contains("`bob` is not an owner of `chain`"),
        "{}",
        reply.detail()
    );
    let body = br#"{"users":["bob"]}"#.to_vec();
    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/chain/owners",
            Some(&bob),
            body.clone(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);

    let owners = reg.get("/api/v1/packages/chain/owners").await.json();
    assert_eq!(owners, serde_json::json!({"users": [{"login": "alice"}]}));
    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/chain/owners",
            Some(&alice),
            body.clone(),
            &[],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.json()["ok"], true);
    assert!(reply.json()["msg"].as_str().unwrap().contains("bob"));
    assert_eq!(
        reg.get("/api/v1/packages/chain/owners").await.json()["users"][1]["login"],
        "bob"
    );
    assert_eq!(
        reg.publish_archive(&bob, &next.bytes).await.status,
        StatusCode::CREATED
    );

    // Unknown users, and removing every owner, are refused.
    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/chain/owners",
            Some(&alice),
            br#"{"users":["zed"]}"#.to_vec(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.detail().contains("zed"));
    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/chain/owners",
            Some(&alice),
            b"not json".to_vec(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = reg
        .request(
            Method::DELETE,
            "/api/v1/packages/chain/owners",
            Some(&bob),
            br#"{"users":["alice"]}"#.to_vec(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = reg
        .request(
            Method::DELETE,
            "/api/v1/packages/chain/owners",
            Some(&bob),
            br#"{"users":["bob"]}"#.to_vec(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.detail().contains("no owner left"),
        "{}",
        reply.detail()
    );

    // The `owners` scope is required.
    let no_owner_scope = reg.token("bob", &[Scope::PublishUpdate]);
    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/chain/owners",
            Some(&no_owner_scope),
            body,
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert_eq!(
        reg.get("/api/v1/packages/nothing/owners").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn tokens_are_checked() {
    let reg = Registry::new();
    let archive = link("chain", "1.0.0", "a chain").packed();

    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/new",
            None,
            archive.bytes.clone(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(
        reply.detail().contains("Authorization"),
        "{}",
        reply.detail()
    );
    for wrong in [
        "garbage",
        &format!("zoo_{}_{}", "0".repeat(16), "0".repeat(64)),
    ] {
        let reply = reg.publish_archive(wrong, &archive.bytes).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{wrong}");
    }
    // The right id with a wrong secret.
    let alice = reg.token("alice", &Scope::ALL);
    let forged = format!(
        "{}{}",
        &alice[..alice.len() - 1],
        if alice.ends_with('0') { '1' } else { '0' }
    );
    assert_eq!(
        reg.publish_archive(&forged, &archive.bytes).await.status,
        StatusCode::UNAUTHORIZED
    );
    // `GET /api/v1/me` (what `zoo login` checks): the token's login and
    // scopes, or 401.
    let reply = reg
        .request(Method::GET, "/api/v1/me", Some(&alice), Vec::new(), &[])
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let json = reply.json();
    assert_eq!(json["login"], "alice");
    assert!(
        json["scopes"]
            .as_array()
            .is_some_and(|s| s.iter().any(|v| v == "yank")),
        "{json}"
    );
    for token in [Some(forged.as_str()), None] {
        let reply = reg
            .request(Method::GET, "/api/v1/me", token, Vec::new(), &[])
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{token:?}");
    }

    // Scopes: publish-update alone cannot create a new name.
    let update_only = reg.token("alice", &[Scope::PublishUpdate]);
    let reply = reg.publish_archive(&update_only, &archive.bytes).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.detail().contains("publish-new"), "{}", reply.detail());
    let yank_only = reg.token("alice", &[Scope::Yank]);
    assert_eq!(
        reg.publish_archive(&yank_only, &archive.bytes).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        reg.put_blob(&yank_only, b"x").await.status,
        StatusCode::FORBIDDEN
    );
    let new_only = reg.token("alice", &[Scope::PublishNew]);
    assert_eq!(
        reg.publish_archive(&new_only, &archive.bytes).await.status,
        StatusCode::CREATED
    );
    let next = link("chain", "1.0.1", "a chain").packed();
    assert_eq!(
        reg.publish_archive(&new_only, &next.bytes).await.status,
        StatusCode::FORBIDDEN
    );
    // A bare token (no "Bearer") works too.
    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/new",
            None,
            next.bytes.clone(),
            &[("authorization", &update_only)],
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::CREATED,
        "bare token: {}",
        String::from_utf8_lossy(&reply.body)
    );

    // Revoked tokens stop working at once.
    let id = alice.split('_').nth(1).unwrap().to_string();
    reg.state.store.revoke_token(&id).unwrap();
    let third = link("chain", "1.0.2", "a chain").packed();
    let reply = reg.publish_archive(&alice, &third.bytes).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert!(reply.detail().contains("revoked"), "{}", reply.detail());
}

#[tokio::test]
async fn bad_manifests_are_refused_naming_the_field() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let cases: [(&str, &str); 3] = [
        (
            "[package]\nname = \"chain\"\nversion = \"1.0\"\nkind = \"link\"\ndescription = \"d\"\n",
            "version",
        ),
        (
            "[package]\nname = \"9chain\"\nversion = \"1.0.0\"\nkind = \"link\"\ndescription = \"d\"\n",
            "package.name",
        ),
        (
            "[package]\nname = \"chain\"\nversion = \"1.0.0\"\nkind = \"model\"\ndescription = \"d\"\n",
            "field `model`",
        ),
    ];
    for (toml, field) in cases {
        let archive = with_listing(toml, &[], &[]);
        let reply = reg.publish_archive(&alice, &archive).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert!(
            reply.detail().contains("zoo.toml") && reply.detail().contains(field),
            "{}",
            reply.detail()
        );
    }
    assert_eq!(reg.get("/api/v1/search").await.json()["total"], 0);
}

/// A name keeps its kind: a model version of a link package is refused,
/// naming both kinds, and the package stays as it was.
#[tokio::test]
async fn a_new_version_cannot_change_the_packages_kind() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    let reply = reg.publish(&alice, &link("shifty", "0.1.0", "x")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let model = model_with_weights("shifty", "0.2.0", "now a model", "# shifty\n", b"w");
    let reply = reg.publish(&alice, &model).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text());
    assert!(
        reply
            .detail()
            .contains("`shifty` is a link package; a new version cannot make it a model package"),
        "{}",
        reply.detail()
    );
    let info = reg.get("/api/v1/packages/shifty").await.json();
    assert_eq!(info["kind"], "link");
    assert_eq!(info["versions"].as_array().map(Vec::len), Some(1));
    let reply = reg.publish(&alice, &link("shifty", "0.2.0", "x")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
}

/// Rows in every table of the registry's database, by table.
fn row_counts(reg: &Registry) -> Vec<(String, i64)> {
    let db = rusqlite::Connection::open(reg.data.join("registry.sqlite3")).unwrap();
    let tables: Vec<String> = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let n = db
                .query_row(&format!("SELECT COUNT(*) FROM \"{t}\""), [], |r| r.get(0))
                .unwrap();
            (t, n)
        })
        .collect()
}

/// Every kind of hostile archive (SECURITY.md, "Hostile archives") is refused
/// at publish with a 400 naming the entry, and nothing is stored.
#[tokio::test]
async fn hostile_archives_are_rejected_and_nothing_is_stored() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let toml =
        "[package]\nname = \"evil\"\nversion = \"1.0.0\"\nkind = \"link\"\ndescription = \"d\"\n";
    let rows = row_counts(&reg);
    let mut cases: Vec<(String, String, &str, Vec<u8>)> = hostile_archives(toml)
        .into_iter()
        .map(|c| (c.kind.to_string(), c.entry, c.says, c.bytes))
        .collect();
    cases.push((
        "not gzip".into(),
        String::new(),
        "archive",
        b"not gzip".to_vec(),
    ));
    for (kind, entry, says, archive) in cases {
        let reply = reg.publish_archive(&alice, &archive).await;
        let detail = reply.detail();
        println!("{kind:<40} {} {detail}", reply.status.as_u16());
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{kind}: {detail}");
        // Bytes that were not text are shown as `?`, never echoed.
        let entry = entry.replace(char::REPLACEMENT_CHARACTER, "?");
        assert!(
            detail.contains(&format!("`{entry}`")) || entry.is_empty(),
            "{kind}: the error does not name `{entry}`: {detail}"
        );
        assert!(detail.contains(says), "{kind}: {says}: {detail}");
        assert_eq!(reg.stored_blobs(), 0, "{kind}");
        assert_eq!(count_files(&reg.data.join("tmp")), 0, "{kind}");
        assert_eq!(row_counts(&reg), rows, "{kind}");
    }
    assert!(!std::path::Path::new(ESCAPE_TARGET).exists());
    assert_eq!(
        reg.get("/api/v1/packages/evil").await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!reg.data.join("index/3/e/evil").exists());
    assert_eq!(reg.get("/api/v1/search").await.json()["total"], 0);
}

#[tokio::test]
async fn oversized_uploads_get_413() {
    let reg = Registry::with_limit(64);
    let alice = reg.token("alice", &Scope::ALL);
    let reply = reg.put_blob(&alice, &[1u8; 100]).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    let archive = link("chain", "1.0.0", "a chain").packed();
    assert_eq!(
        reg.publish_archive(&alice, &archive.bytes).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    assert_eq!(reg.stored_blobs(), 0);
}

#[tokio::test]
async fn search_is_paginated_and_ranks_name_matches_first() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    for (name, description) in [
        ("lstm", "plain"),
        ("alpha", "uses an lstm inside"),
        ("lstm-peephole", "x"),
        ("zeta", "nothing"),
    ] {
        let archive = link(name, "0.1.0", description).packed();
        assert_eq!(
            reg.publish_archive(&alice, &archive.bytes).await.status,
            StatusCode::CREATED
        );
    }
    let page1 = reg.get("/api/v1/search?q=lstm&per_page=2").await.json();
    assert_eq!(page1["total"], 3);
    let names: Vec<_> = page1["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, ["lstm", "lstm-peephole"]);
    let page2 = reg
        .get("/api/v1/search?q=lstm&per_page=2&page=2")
        .await
        .json();
    assert_eq!(page2["packages"][0]["name"], "alpha");
    assert_eq!(page2["packages"].as_array().unwrap().len(), 1);
    assert_eq!(reg.get("/api/v1/search").await.json()["total"], 4);
    assert_eq!(reg.get("/api/v1/search?q=100%25").await.json()["total"], 0);
}

/// Issue #15: a page past the last one is empty but says so (`last_page`),
/// rather than `total: 3` beside no packages and nothing else.
#[tokio::test]
async fn a_search_page_past_the_end_names_the_last_page() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    for name in ["lstm-a", "lstm-b", "lstm-c"] {
        let archive = link(name, "0.1.0", "x").packed();
        assert_eq!(
            reg.publish_archive(&alice, &archive.bytes).await.status,
            StatusCode::CREATED
        );
    }
    let page = reg.get("/api/v1/search?q=lstm&per_page=2").await.json();
    assert_eq!(page["page"], 1, "{page}");
    assert_eq!(page["per_page"], 2);
    assert_eq!(page["last_page"], 2);
    let past = reg
        .get("/api/v1/search?q=lstm&per_page=2&page=99")
        .await
        .json();
    assert_eq!(past["packages"].as_array().unwrap().len(), 0, "{past}");
    assert_eq!(past["total"], 3);
    assert_eq!(past["page"], 99);
    assert_eq!(past["last_page"], 2);
    let none = reg.get("/api/v1/search?q=nothing-here").await.json();
    assert_eq!(none["total"], 0);
    assert_eq!(none["last_page"], 1);
}

/// Issue #15: the info answer carries, per version, license, inputs,
/// outputs, metrics, yanked and who signed it (key and key id, or null), and
/// the shown version's license, inputs, outputs and metrics at the top.
#[tokio::test]
async fn info_names_license_io_metrics_and_each_versions_signer() {
    use zoo_format::signing::{SecretKey, sign_entry};
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    assert!(reg.put_blob(&alice, WEIGHTS).await.status.is_success());
    let key = SecretKey::generate().unwrap();
    let archive = model_package("shapes", "1.0.0").packed();
    let sig = sign_entry(&key, &archive.index_entry());
    let reply = reg
        .request(
            Method::PUT,
            "/api/v1/packages/new",
            Some(&alice),
            archive.bytes.clone(),
            &[("zoo-signing-key", &sig.key), ("zoo-signature", &sig.sig)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.detail());
    // 1.1.0: unsigned, another license, then yanked.
    let dir = model_package("shapes", "1.1.0");
    dir.edit_manifest(|toml| toml.replace("license = \"MIT\"", "license = \"Apache-2.0\""));
    let reply = reg.publish_archive(&alice, &dir.packed().bytes).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.detail());
    let reply = reg
        .request(
            Method::DELETE,
            "/api/v1/packages/shapes/1.1.0/yank",
            Some(&alice),
            Vec::new(),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);

    let info = reg.get("/api/v1/packages/shapes").await.json();
    let (newest, older) = (&info["versions"][0], &info["versions"][1]);
    assert_eq!(newest["version"], "1.1.0");
    assert_eq!(newest["yanked"], true);
    assert_eq!(newest["license"], "Apache-2.0");
    assert_eq!(newest["signed_by"], Value::Null);
    assert_eq!(older["version"], "1.0.0");
    assert_eq!(older["yanked"], false);
    assert_eq!(older["license"], "MIT");
    let public: zoo_format::signing::PublicKey = sig.key.parse().unwrap();
    assert_eq!(
        older["signed_by"],
        serde_json::json!({"key": sig.key, "key_id": public.fingerprint()})
    );
    let inputs = serde_json::json!([{"name": "data", "shape": [1, 3, 8, 8], "dtype": "f32"}]);
    let outputs = serde_json::json!([{"name": "prob", "labels": "labels.txt"}]);
    let metrics =
        serde_json::json!([{"name": "accuracy", "dataset": "synthetic-shapes", "value": 0.97}]);
    for v in [newest, older] {
        assert_eq!(v["inputs"], inputs, "{v}");
        assert_eq!(v["outputs"], outputs, "{v}");
        assert_eq!(v["metrics"], metrics, "{v}");
    }
    // The top level describes the shown version: 1.0.0, 1.1.0 being yanked.
    assert_eq!(info["version"], "1.0.0");
    assert_eq!(info["license"], "MIT");
    assert_eq!(info["inputs"], inputs);
    assert_eq!(info["outputs"], outputs);
    assert_eq!(info["metrics"], metrics);

    // A link: no license stated, no inputs or outputs.
    let archive = link("plain-link", "0.1.0", "x").packed();
    assert_eq!(
        reg.publish_archive(&alice, &archive.bytes).await.status,
        StatusCode::CREATED
    );
    let info = reg.get("/api/v1/packages/plain-link").await.json();
    assert_eq!(info["license"], Value::Null);
    assert_eq!(info["inputs"], serde_json::json!([]));
    assert_eq!(info["versions"][0]["outputs"], serde_json::json!([]));
    assert_eq!(info["versions"][0]["signed_by"], Value::Null);
}

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let reg = Registry::new();
    let reply = reg.get("/nope").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(!reply.detail().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_of_one_version_record_it_once() {
    let reg = std::sync::Arc::new(Registry::new());
    let alice = reg.token("alice", &Scope::ALL);
    let archive = link("race", "1.0.0", "a race").packed();
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (reg, alice, bytes) = (reg.clone(), alice.clone(), archive.bytes.clone());
            tokio::spawn(async move { reg.publish_archive(&alice, &bytes).await.status })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CREATED)
            .count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{statuses:?}"
    );
    let index = reg.get("/index/ra/ce/race").await;
    assert_eq!(entry_lines(&index.body).lines().count(), 1);
    assert_eq!(
        std::fs::read(reg.data.join("index/ra/ce/race")).unwrap(),
        index.body
    );
}

#[tokio::test]
async fn data_survives_a_restart_and_index_files_are_rebuilt() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let archive = link("keep", "1.0.0", "kept").packed();
    assert_eq!(
        reg.publish_archive(&alice, &archive.bytes).await.status,
        StatusCode::CREATED
    );
    let document = reg.get("/index/ke/ep/keep").await.body;
    std::fs::remove_file(reg.data.join("index/ke/ep/keep")).unwrap();

    let reopened = open_state(Config {
        data_dir: reg.data.clone(),
        base_url: "http://registry.test".into(),
        max_package_size: 1 << 20,
        cargo_auth_required: false,
    })
    .unwrap();
    let rebuilt = std::fs::read(reg.data.join("index/ke/ep/keep")).unwrap();
    assert_eq!(entry_lines(&rebuilt), entry_lines(&document));
    let key = zoo_registry::index::signing::load_key(&reg.data)
        .unwrap()
        .unwrap();
    signature_of(&rebuilt)
        .verify(&key.public(), "keep", &entry_lines(&rebuilt))
        .unwrap();
    let app = router(reopened);
    let response = app
        .oneshot(
            Request::get("/api/v1/packages/keep")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The entry lines of a signed index document (without the signature line).
fn entry_lines(document: &[u8]) -> String {
    let text = std::str::from_utf8(document).unwrap();
    zoo_format::signing::split_signed(text)
        .unwrap()
        .0
        .to_string()
}

/// The registry's signature line of an index document.
fn signature_of(document: &[u8]) -> zoo_format::signing::SignedIndex {
    let text = std::str::from_utf8(document).unwrap();
    zoo_format::signing::split_signed(text).unwrap().1.unwrap()
}

#[tokio::test]
async fn signed_publishes_are_checked_recorded_and_served() {
    use zoo_format::signing::{SecretKey, sign_entry, sign_package};
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let key = SecretKey::generate().unwrap();
    let archive = link("signed", "1.0.0", "signed").packed();
    let good = sign_package(&key, "signed", "1.0.0", &archive.sha256);
    let send = |headers: Vec<(&'static str, String)>| {
        let headers: Vec<(&str, String)> = headers;
        let reg = &reg;
        let alice = &alice;
        let bytes = archive.bytes.clone();
        async move {
            let pairs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            reg.request(
                Method::PUT,
                "/api/v1/packages/new",
                Some(alice),
                bytes,
                &pairs,
            )
            .await
        }
    };
    // A signature over another version, another archive, or half a header pair.
    let wrong_version = sign_package(&key, "signed", "1.0.1", &archive.sha256);
    let wrong_archive = sign_package(&key, "signed", "1.0.0", &"0".repeat(64));
    // A whole-entry (v2) signature over another file list.
    let mut other_files = archive.index_entry();
    other_files.files[0].size += 1;
    let wrong_files = sign_entry(&key, &other_files);
    for (sig, why) in [
        (&wrong_version, "version"),
        (&wrong_archive, "archive"),
        (&wrong_files, "file list"),
    ] {
        let reply = send(vec![
            ("zoo-signing-key", sig.key.clone()),
            ("zoo-signature", sig.sig.clone()),
        ])
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{why}");
        assert!(reply.detail().contains("signature"), "{}", reply.detail());
    }
    let reply = send(vec![("zoo-signing-key", good.key.clone())]).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.detail().contains("zoo-signature"),
        "{}",
        reply.detail()
    );
    assert_eq!(
        reg.get("/index/si/gn/signed").await.status,
        StatusCode::NOT_FOUND
    );

    let reply = send(vec![
        ("zoo-signing-key", good.key.clone()),
        ("zoo-signature", good.sig.clone()),
    ])
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.detail());
    let document = reg.get("/index/si/gn/signed").await.body;
    let entries =
        zoo_format::index::parse_document(std::str::from_utf8(&document).unwrap()).unwrap();
    assert_eq!(entries[0].signature.as_ref(), Some(&good));
    let info = reg.get("/api/v1/packages/signed").await.json();
    assert_eq!(info["versions"][0]["signature"]["key"], good.key);
    // The registry signs the document with the key it publishes.
    let config = reg.get("/index/config.json").await.json();
    let registry_key: zoo_format::signing::PublicKey =
        config["key"].as_str().unwrap().parse().unwrap();
    signature_of(&document)
        .verify(&registry_key, "signed", &entry_lines(&document))
        .unwrap();
    // ...and config.json's download template and API base with it.
    let message = zoo_format::signing::config_message(
        config["dl"].as_str().unwrap(),
        config["api"].as_str().unwrap(),
    );
    registry_key
        .verify(&message, config["signature"].as_str().unwrap())
        .unwrap();
}

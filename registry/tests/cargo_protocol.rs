//! The Cargo registry under `/cargo/`, driven by the real `cargo` against
//! the real `zoo-registry` on 127.0.0.1: publish, depend, update, yank,
//! owners, search, and the registry's refusals as cargo shows them.
//! The test crates have no crates.io dependencies, so nothing leaves the host.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use zoo_e2e::cargo::Cargo;

fn start(data: &Path, extra: &[&str]) -> zoo_e2e::Listening {
    zoo_e2e::serve(data, extra)
}

/// Creates a user with every scope and returns their token.
fn add_user(data: &Path, login: &str) -> String {
    let out = zoo_e2e::registry_admin(data, &["user", "add", login, "--init"]);
    out.ok().trim().to_string()
}

/// A raw HTTP/1.1 exchange: (status line + headers, body).
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (String, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8_lossy(&reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

/// A GET without headers: (status line + headers, body).
fn get(addr: &str, path: &str) -> (String, String) {
    http(addr, "GET", path, &[], b"")
}

fn header<'a>(head: &'a str, name: &str) -> &'a str {
    head.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
        .unwrap_or("")
}

/// Where the `.crate` of peephole-demo 0.1.0 downloads from.
const DOWNLOAD_010: &str = "/cargo/api/v1/crates/peephole-demo/0.1.0/download";

const PUBLISH: &[&str] = &[
    "publish",
    "--registry",
    "zoo",
    "--no-verify",
    "--allow-dirty",
];

/// Writes the library crate `peephole-demo` at `version`.
fn write_library(dir: &Path, version: &str) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "peephole-demo"
version = "{version}"
edition = "2021"
description = "A peephole LSTM gate, published to zoo's Cargo registry"
license = "MIT"
publish = ["zoo"]

[dependencies]
"#
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        format!(
            r#"//! A peephole gate: sigmoid(x + w * c).
pub const VERSION: &str = "{version}";

pub fn peephole_gate(x: f32, c: f32, w: f32) -> f32 {{
    1.0 / (1.0 + (-(x + w * c)).exp())
}}
"#
        ),
    )
    .unwrap();
}

/// Writes the binary crate `demo-app` depending on `peephole-demo` from zoo.
fn write_app(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        r#"[package]
name = "demo-app"
version = "0.1.0"
edition = "2021"
publish = false

[dependencies]
peephole-demo = { version = "0.1", registry = "zoo" }
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        r#"fn main() {
    let gate = peephole_demo::peephole_gate(0.0, 1.0, 0.0);
    println!("peephole-demo {} gate {gate}", peephole_demo::VERSION);
}
"#,
    )
    .unwrap();
}

/// The version of `peephole-demo` that `Cargo.lock` in `dir` pins.
fn locked_version(dir: &Path) -> String {
    let lock = std::fs::read_to_string(dir.join("Cargo.lock")).unwrap();
    let block = lock
        .split("[[package]]")
        .find(|b| b.contains("name = \"peephole-demo\""))
        .unwrap_or_else(|| panic!("{lock}"));
    assert!(
        block.contains("source = \"sparse+http://127.0.0.1:"),
        "{block}"
    );
    block
        .lines()
        .find_map(|l| l.strip_prefix("version = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string()
}

fn sha256_file(path: &Path) -> String {
    zoo_format::checksum::sha256_file(path).unwrap().0
}

/// The `.crate` file `cargo publish` built (newer cargo keeps it in `tmp-crate/`).
fn packaged(target: &Path, version: &str) -> PathBuf {
    let file = format!("peephole-demo-{version}.crate");
    [
        target.join("package").join(&file),
        target.join("package/tmp-crate").join(&file),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .unwrap_or_else(|| panic!("cargo left no {file} under {}", target.display()))
}

#[test]
fn cargo_publishes_depends_updates_and_yanks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    let alice = add_user(&data, "alice");
    let bob = add_user(&data, "bob");
    let server = start(&data, &[]);
    let addr = server.addr.clone();
    let cargo = Cargo::new(&server.url, Path::new(env!("CARGO_TARGET_TMPDIR")));
    let (lib, app) = (root.join("peephole-demo"), root.join("demo-app"));

    // config.json names the download and API locations.
    let (head, config) = get(&addr, "/cargo/index/config.json");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let config: serde_json::Value = serde_json::from_str(&config).unwrap();
    assert_eq!(config["api"], format!("http://{addr}/cargo"));
    assert_eq!(config["dl"], format!("http://{addr}/cargo/api/v1/crates"));
    assert!(config.get("auth-required").is_none());

    // Without a token cargo refuses by itself; the registry refuses a bad
    // token and a request without one with its own message.
    write_library(&lib, "0.1.0");
    let stderr = cargo.run(&lib, PUBLISH, None).fails();
    assert!(stderr.contains("token"), "{stderr}");
    let stderr = cargo
        .run(
            &lib,
            PUBLISH,
            Some(&format!("zoo_{}_{}", "0".repeat(16), "0".repeat(64))),
        )
        .fails();
    assert!(
        stderr.contains("the API token is invalid or has been revoked"),
        "{stderr}"
    );
    let (head, body) = http(&addr, "PUT", "/cargo/api/v1/crates/new", &[], b"");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(body.contains("needs an API token"), "{body}");

    // Publish 0.1.0; the first publisher owns the name.
    cargo.run(&lib, PUBLISH, Some(&alice)).ok();
    let crate_010 = packaged(cargo.target.path(), "0.1.0");
    let index_file = data.join("cargo-index/pe/ep/peephole-demo");
    let line: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&index_file).unwrap().trim()).unwrap();
    assert_eq!(line["name"], "peephole-demo");
    assert_eq!(line["vers"], "0.1.0");
    assert_eq!(line["cksum"], sha256_file(&crate_010));
    assert_eq!(line["yanked"], false);

    // The index answers with an ETag and 304 for an unchanged document.
    let (head, served) = get(&addr, "/cargo/index/pe/ep/peephole-demo");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(served, std::fs::read_to_string(&index_file).unwrap());
    let etag = header(&head, "etag").to_string();
    let (head, _) = http(
        &addr,
        "GET",
        "/cargo/index/pe/ep/peephole-demo",
        &[("If-None-Match", &etag)],
        b"",
    );
    assert!(head.starts_with("HTTP/1.1 304"), "{head}");
    let (head, _) = get(&addr, "/cargo/index/pe/ep/peephole_demo");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");

    // A second crate depends on it through `registry = "zoo"`, builds and runs.
    write_app(&app);
    let stdout = cargo.run(&app, &["run", "-q"], None).ok();
    assert_eq!(stdout.trim(), "peephole-demo 0.1.0 gate 0.5");
    assert_eq!(locked_version(&app), "0.1.0");

    // 0.1.1 is taken by `cargo update`.
    write_library(&lib, "0.1.1");
    cargo.run(&lib, PUBLISH, Some(&alice)).ok();
    cargo.run(&app, &["update"], None).ok();
    assert_eq!(locked_version(&app), "0.1.1");
    let stdout = cargo.run(&app, &["run", "-q"], None).ok();
    assert_eq!(stdout.trim(), "peephole-demo 0.1.1 gate 0.5");

    // Versions are immutable: the registry refuses the same version again
    // (cargo checks its index first, so this goes over raw HTTP).
    let crate_011 = std::fs::read(packaged(cargo.target.path(), "0.1.1")).unwrap();
    let metadata = br#"{"name":"peephole-demo","vers":"0.1.1","deps":[],"features":{}}"#;
    let mut body = (metadata.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(metadata);
    body.extend_from_slice(&(crate_011.len() as u32).to_le_bytes());
    body.extend_from_slice(&crate_011);
    let (head, reply) = http(
        &addr,
        "PUT",
        "/cargo/api/v1/crates/new",
        &[("Authorization", &alice)],
        &body,
    );
    assert!(head.starts_with("HTTP/1.1 409"), "{head}");
    assert!(
        reply.contains("already uploaded; versions are immutable"),
        "{reply}"
    );
    let (head, reply) = http(
        &addr,
        "PUT",
        "/cargo/api/v1/crates/new",
        &[("Authorization", &alice)],
        &body[..body.len() - 1],
    );
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");
    assert!(reply.contains("malformed publish request"), "{reply}");

    // `Peephole_Demo` is the same name (case and `-`/`_` do not count).
    let other = root.join("spelling");
    write_library(&other, "0.2.0");
    let manifest = std::fs::read_to_string(other.join("Cargo.toml")).unwrap();
    std::fs::write(
        other.join("Cargo.toml"),
        manifest.replace("name = \"peephole-demo\"", "name = \"Peephole_Demo\""),
    )
    .unwrap();
    let stderr = cargo.run(&other, PUBLISH, Some(&alice)).fails();
    assert!(
        stderr.contains("this registry knows the crate as `peephole-demo`"),
        "{stderr}"
    );

    // Yanking 0.1.1: a fresh resolution skips it, the existing lock still builds.
    let stderr = cargo
        .run(
            &lib,
            &[
                "yank",
                "peephole-demo",
                "--version",
                "0.1.1",
                "--registry",
                "zoo",
            ],
            Some(&alice),
        )
        .succeeded()
        .stderr;
    assert!(stderr.contains("Yank"), "{stderr}");
    let yanked = std::fs::read_to_string(&index_file).unwrap();
    assert!(
        yanked.lines().nth(1).unwrap().contains(r#""yanked":true"#),
        "{yanked}"
    );
    cargo.run(&app, &["build", "--locked"], None).ok();
    assert_eq!(locked_version(&app), "0.1.1");
    let fresh = root.join("fresh-app");
    write_app(&fresh);
    cargo.run(&fresh, &["generate-lockfile"], None).ok();
    assert_eq!(locked_version(&fresh), "0.1.0");

    // A non-owner is refused with the registry's message, until added.
    write_library(&lib, "0.1.2");
    let stderr = cargo.run(&lib, PUBLISH, Some(&bob)).fails();
    assert!(
        stderr.contains("`bob` is not an owner of crate `peephole-demo`"),
        "{stderr}"
    );
    cargo
        .run(
            &lib,
            &[
                "owner",
                "--add",
                "bob",
                "--registry",
                "zoo",
                "peephole-demo",
            ],
            Some(&alice),
        )
        .ok();
    let owners = cargo
        .run(
            &lib,
            &["owner", "--list", "--registry", "zoo", "peephole-demo"],
            Some(&bob),
        )
        .ok();
    assert!(
        owners.contains("alice") && owners.contains("bob"),
        "{owners}"
    );
    cargo.run(&lib, PUBLISH, Some(&bob)).ok();

    // Search shows the highest version that is not yanked.
    let found = cargo
        .run(&lib, &["search", "--registry", "zoo", "peephole"], None)
        .ok();
    assert!(found.contains("peephole-demo = \"0.1.2\""), "{found}");
    assert!(found.contains("A peephole LSTM gate"), "{found}");

    // The .crate downloads from the content-addressed blob store.
    let (head, _) = get(&addr, DOWNLOAD_010);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(
        header(&head, "content-length"),
        std::fs::metadata(&crate_010).unwrap().len().to_string()
    );
    assert_eq!(
        header(&head, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert!(header(&head, "etag").starts_with('"'), "{head}");
}

#[test]
fn private_cargo_registry_needs_a_token_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let data = root.join("data");
    let alice = add_user(&data, "alice");
    let server = start(&data, &["--cargo-auth-required"]);
    let addr = server.addr.clone();
    let cargo = Cargo::new(&server.url, Path::new(env!("CARGO_TARGET_TMPDIR")));

    let (head, body) = get(&addr, "/cargo/index/config.json");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert_eq!(header(&head, "www-authenticate"), "Bearer");
    assert!(body.contains("needs an API token"), "{body}");
    let (head, body) = http(
        &addr,
        "GET",
        "/cargo/index/config.json",
        &[("Authorization", &alice)],
        b"",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.contains(r#""auth-required":true"#), "{body}");

    let lib = root.join("peephole-demo");
    write_library(&lib, "0.1.0");
    cargo.run(&lib, PUBLISH, Some(&alice)).ok();
    let (head, _) = get(&addr, "/cargo/index/pe/ep/peephole-demo");
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let (head, _) = get(&addr, DOWNLOAD_010);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    // What a token fetches must stay out of shared caches.
    for path in ["/cargo/index/pe/ep/peephole-demo", DOWNLOAD_010] {
        let (head, _) = http(&addr, "GET", path, &[("Authorization", &alice)], b"");
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            header(&head, "cache-control").starts_with("private"),
            "{head}"
        );
    }

    // cargo sends the token for the index and the download.
    let app = root.join("demo-app");
    write_app(&app);
    let stderr = cargo.run(&app, &["fetch"], None).fails();
    assert!(stderr.contains("token"), "{stderr}");
    cargo.run(&app, &["fetch"], Some(&alice)).ok();
    assert_eq!(locked_version(&app), "0.1.0");
}

/// A cargo publish body: metadata for `name` `vers`, then the `.crate`.
fn publish_body(name: &str, vers: &str, krate: &[u8]) -> Vec<u8> {
    let metadata = format!(r#"{{"name":"{name}","vers":"{vers}","deps":[],"features":{{}}}}"#);
    let mut body = (metadata.len() as u32).to_le_bytes().to_vec();
    body.extend_from_slice(metadata.as_bytes());
    body.extend_from_slice(&(krate.len() as u32).to_le_bytes());
    body.extend_from_slice(krate);
    body
}

/// SECURITY.md, "Hostile .crate files": every kind is refused with a 400
/// naming the entry, and nothing is stored; a well-formed crate of the same
/// name and version then publishes.
#[test]
fn hostile_crate_files_are_refused_and_nothing_is_stored() {
    use zoo_format::archive::testing::{cargo_toml, crate_with, hostile_crates};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let alice = add_user(&data, "alice");
    let server = start(&data, &[]);
    let addr = server.addr.clone();
    let publish = |krate: &[u8]| {
        http(
            &addr,
            "PUT",
            "/cargo/api/v1/crates/new",
            &[("Authorization", &alice)],
            &publish_body("hostile", "0.1.0", krate),
        )
    };
    for case in hostile_crates("hostile", "0.1.0") {
        let (head, reply) = publish(&case.bytes);
        println!("{:<45} {reply}", case.kind);
        assert!(head.starts_with("HTTP/1.1 400"), "{}: {head}", case.kind);
        assert!(
            case.entry.is_empty() || reply.contains(&format!("`{}`", case.entry)),
            "{}: the error does not name `{}`: {reply}",
            case.kind,
            case.entry
        );
        assert!(reply.contains(case.says), "{}: {reply}", case.kind);
        assert_eq!(
            zoo_e2e::count_files(&data.join("blobs")),
            0,
            "{}",
            case.kind
        );
        assert_eq!(zoo_e2e::count_files(&data.join("tmp")), 0, "{}", case.kind);
        let (head, _) = get(&addr, "/cargo/index/ho/st/hostile");
        assert!(head.starts_with("HTTP/1.1 404"), "{}: {head}", case.kind);
    }
    let good = crate_with("hostile", "0.1.0", &cargo_toml("hostile", "0.1.0"), &[]);
    let (head, reply) = publish(&good);
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {reply}");
}

/// A `.zoo` archive of a link package `name` `vers` (no external files).
fn zoo_archive(name: &str, vers: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("zoo.toml"),
        format!(
            "[package]\nname = \"{name}\"\nversion = \"{vers}\"\nkind = \"link\"\ndescription = \"d\"\n"
        ),
    )
    .unwrap();
    zoo_format::archive::pack(dir.path(), &Default::default())
        .unwrap()
        .bytes
}

/// Issue #17 item 11 over the wire: `zoo publish` of a Link creates a zoo
/// package and a crate under one name, so neither half may be taken by
/// someone else first or after, and owners added through cargo own the
/// zoo package too.
#[test]
fn neither_half_of_a_link_name_can_be_squatted() {
    use zoo_format::archive::testing::{cargo_toml, crate_with};
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let alice = add_user(&data, "alice");
    let mallory = add_user(&data, "mallory");
    add_user(&data, "bob");
    let server = start(&data, &[]);
    let addr = server.addr.clone();
    let zoo_publish = |token: &str, name: &str| {
        http(
            &addr,
            "PUT",
            "/api/v1/packages/new",
            &[("Authorization", token)],
            &zoo_archive(name, "1.0.0"),
        )
    };
    let cargo_publish = |token: &str, name: &str| {
        let krate = crate_with(name, "0.1.0", &cargo_toml(name, "0.1.0"), &[]);
        http(
            &addr,
            "PUT",
            "/cargo/api/v1/crates/new",
            &[("Authorization", token)],
            &publish_body(name, "0.1.0", &krate),
        )
    };

    // The zoo half first: the crate name is not mallory's to take.
    let (head, reply) = zoo_publish(&alice, "gate-link");
    assert!(head.starts_with("HTTP/1.1 201"), "{head} {reply}");
    let (head, reply) = cargo_publish(&mallory, "gate_link");
    assert!(head.starts_with("HTTP/1.1 403"), "{head} {reply}");
    assert!(reply.contains("already a zoo package"), "{reply}");
    let (head, _) = get(&addr, "/cargo/index/ga/te/gate_link");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    let (head, reply) = cargo_publish(&alice, "gate-link");
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {reply}");

    // Owners added through cargo own the zoo package as well.
    let (head, reply) = http(
        &addr,
        "PUT",
        "/cargo/api/v1/crates/gate-link/owners",
        &[("Authorization", &alice)],
        br#"{"users":["bob"]}"#,
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {reply}");
    let (_, reply) = get(&addr, "/api/v1/packages/gate-link/owners");
    assert!(reply.contains("\"bob\""), "{reply}");

    // The crate half first: the zoo package name is not mallory's either.
    let (head, reply) = cargo_publish(&alice, "other-link");
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {reply}");
    let (head, reply) = zoo_publish(&mallory, "other_link");
    assert!(head.starts_with("HTTP/1.1 403"), "{head} {reply}");
    assert!(reply.contains("already a crate"), "{reply}");
    let (head, _) = get(&addr, "/api/v1/packages/other-link");
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert_eq!(zoo_e2e::count_files(&data.join("tmp")), 0);
}

//! Signatures end to end (SECURITY.md, "Signatures"): `zoo keygen`,
//! `zoo publish --sign`, `zoo trust`, `zoo login` pinning the registry's key,
//! and `require-signatures`. Tampering with signed packages and replaying
//! expired or older signed indexes are cases of tests/tampering.rs.

use zoo_e2e::proxy::{Proxy, http_get};
use zoo_e2e::{Registry, Zoo, write_package};

#[test]
fn signed_publish_trust_and_required_signatures() {
    let registry = Registry::start();
    let token = registry.add_user("alice");
    let work = tempfile::tempdir().unwrap();

    // The publisher: a key pair, then signed and unsigned publishes.
    let alice = Zoo::new(&registry.url, Some(&token));
    let public = alice.run(&["keygen"]).ok();
    let public = public.lines().last().unwrap().trim().to_string();
    assert!(public.starts_with("ed25519:"), "{public}");
    let err = alice.run(&["keygen"]).fails();
    assert!(err.contains("already exists"), "{err}");
    let signed = write_package(work.path(), "signed", "1.0.0", &[], &[("a.txt", b"a")]);
    let out = alice
        .run(&["publish", "--sign", signed.to_str().unwrap()])
        .ok();
    assert!(out.contains(&format!("signed with {public}")), "{out}");
    let plain = write_package(work.path(), "plain", "1.0.0", &[], &[("b.txt", b"b")]);
    alice.run(&["publish", plain.to_str().unwrap()]).ok();
    let info: serde_json::Value =
        serde_json::from_str(&alice.run(&["info", "signed", "--json"]).ok()).unwrap();
    assert_eq!(info["versions"][0]["signature"]["key"], public.as_str());

    // Not required: everything installs, signed or not.
    let user = Zoo::new(&registry.url, None);
    user.run(&["install", "signed", "plain"]).ok();
    assert_eq!(user.installed().len(), 2);

    // Required: an unsigned package is refused with the reason, and so is a
    // signed one until its publisher's key is trusted.
    let strict = Zoo::new(&registry.url, None);
    let require = |args: &[&str]| {
        let out = strict
            .command(strict.user_home.path(), args)
            .env("ZOO_REQUIRE_SIGNATURES", "1")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, err) = require(&["install", "plain"]);
    assert!(
        !ok && err.contains("plain@1.0.0 is not signed, and signatures are required"),
        "{err}"
    );
    let (ok, err) = require(&["install", "signed"]);
    assert!(
        !ok && err.contains("not a trusted publisher key") && err.contains(&public),
        "{err}"
    );
    assert!(strict.installed().is_empty());
    strict
        .run(&["trust", "add", &public, "--name", "alice"])
        .ok();
    let (ok, err) = require(&["--verbose", "install", "signed"]);
    assert!(ok, "{err}");
    assert!(err.contains("signed by trusted publisher `alice`"), "{err}");
    // The same requirement from the config file.
    std::fs::write(
        strict.zoo_home().join("config.toml"),
        "require-signatures = true\n",
    )
    .unwrap();
    let err = strict.run(&["install", "plain"]).fails();
    assert!(err.contains("signatures are required"), "{err}");
    assert_eq!(strict.installed(), [("signed".into(), "1.0.0".into())]);
    assert!(strict.run(&["trust", "list"]).ok().contains("alice"));
}

#[test]
fn login_pins_the_registry_key_and_a_changed_key_is_refused() {
    let registry = Registry::start();
    let token = registry.add_user("alice");
    let work = tempfile::tempdir().unwrap();
    let dir = write_package(work.path(), "thing", "1.0.0", &[], &[]);
    let publisher = Zoo::new(&registry.url, Some(&token));
    publisher.run(&["publish", dir.to_str().unwrap()]).ok();

    let shown = std::process::Command::new(zoo_e2e::binary("zoo-registry"))
        .args(["key", "show", "--data"])
        .arg(registry.data.path())
        .output()
        .unwrap();
    let key = String::from_utf8_lossy(&shown.stdout).trim().to_string();
    let (_, config) = http_get(&format!("{}/index/config.json", registry.url));
    assert!(String::from_utf8_lossy(&config).contains(&key), "{key}");

    let user = Zoo::new(&registry.url, None);
    let out = user
        .run(&["login", "--registry", &registry.url, "--token", &token])
        .ok();
    assert!(
        out.contains(&format!("pinned the index-signing key {key}")),
        "{out}"
    );
    let pinned = std::fs::read_to_string(user.zoo_home().join("trusted-keys.toml")).unwrap();
    assert!(pinned.contains(&key), "{pinned}");
    user.run(&["install", "thing"]).ok();
    assert!(
        user.run(&["login", "--registry", &registry.url, "--token", &token])
            .ok()
            .contains("is the pinned one")
    );

    // Another key pinned explicitly (as after the registry's key changed, or
    // with someone else answering at its address): its index is refused, and
    // `zoo login` will not silently re-pin.
    let other = Zoo::new(&registry.url, None);
    let stranger = other
        .run(&["keygen"])
        .ok()
        .lines()
        .last()
        .unwrap()
        .trim()
        .to_string();
    other.run(&["trust", "registry", &stranger]).ok();
    let err = other.run(&["install", "thing"]).fails();
    assert!(
        err.contains("is refused") && err.contains("the trusted registry key is"),
        "{err}"
    );
    // `zoo info` shows nothing that `install` refuses.
    for args in [&["info", "thing"][..], &["info", "thing", "--json"]] {
        let err = other.run(args).fails();
        assert!(
            err.contains("is refused") && err.contains("the trusted registry key is"),
            "{args:?}: {err}"
        );
    }
    let err = other
        .run(&["login", "--registry", &registry.url, "--token", &token])
        .fails();
    assert!(err.contains("is pinned for it"), "{err}");
    assert!(other.installed().is_empty());
    other.run(&["trust", "registry", &key]).ok();
    other.run(&["install", "thing"]).ok();
    assert!(other.run(&["info", "thing"]).ok().contains("1.0.0"));
}

/// The registry's JSON API is not signed; `zoo info` refuses an answer that
/// its signed index contradicts (a man in the middle, a broken cache).
#[test]
fn info_refuses_api_answers_the_signed_index_contradicts() {
    let registry = Registry::start();
    let token = registry.add_user("alice");
    let work = tempfile::tempdir().unwrap();
    let dir = write_package(work.path(), "thing", "1.0.0", &[], &[("a.txt", b"a")]);
    Zoo::new(&registry.url, Some(&token))
        .run(&["publish", dir.to_str().unwrap()])
        .ok();
    let proxy = Proxy::start_signed(&registry.url, registry.signing_key());
    let user = Zoo::new(&proxy.url, None);
    assert!(user.run(&["info", "thing"]).ok().contains("1.0.0"));

    let path = "/api/v1/packages/thing";
    let (status, body) = http_get(&format!("{}{path}", registry.url));
    assert_eq!(status, 200);
    let honest: serde_json::Value = serde_json::from_slice(&body).unwrap();

    let mut other_files = honest.clone();
    other_files["versions"][0]["files"][0]["sha256"] = "00".repeat(32).into();
    proxy.replace(path, serde_json::to_vec(&other_files).unwrap());
    let err = user.run(&["info", "thing"]).fails();
    assert!(
        err.contains("disagree about the files of thing 1.0.0"),
        "{err}"
    );

    let mut extra = honest.clone();
    let mut invented = honest["versions"][0].clone();
    invented["version"] = "9.9.9".into();
    extra["versions"]
        .as_array_mut()
        .unwrap()
        .insert(0, invented);
    proxy.replace(path, serde_json::to_vec(&extra).unwrap());
    let err = user.run(&["info", "thing", "--json"]).fails();
    assert!(
        err.contains("lists thing 9.9.9, but its signed index has no such version"),
        "{err}"
    );
}

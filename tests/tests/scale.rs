//! The scaled-out registry, end to end with real servers on 127.0.0.1:
//! replicas sharing PostgreSQL and an S3-compatible bucket (s3s-fs), nginx
//! as a caching proxy in front of them, and export/import between backends.
//! Needs PostgreSQL, s3s-fs and nginx (`cargo xtask setup-services`).

use std::path::Path;

use zoo_e2e::services::{Nginx, free_port};
use zoo_e2e::{Registry, Shared, Zoo, binary, http, noise, sha256, write_package};

/// Above the 1 MiB threshold: travels as an external blob.
const BIG: usize = 3 << 19;

fn publish(zoo: &Zoo, dir: &Path) -> String {
    zoo.run(&["publish", dir.to_str().unwrap()]).ok()
}

#[test]
fn replicas_share_publishes_yanks_and_sessions() {
    let a = Registry::start_with(Some(Shared::start()), &[]);
    let b = a.replica(&[]);
    let token = a.add_user("alice");
    let alice_a = Zoo::new(&a.url, Some(&token));
    let alice_b = Zoo::new(&b.url, Some(&token));
    let work = tempfile::tempdir().unwrap();
    let weights = noise(BIG, 7);
    let v1 = write_package(
        work.path(),
        "Shared_Model",
        "1.0.0",
        &[],
        &[("weights.bin", &weights)],
    );
    assert!(publish(&alice_a, &v1).contains("published Shared_Model@1.0.0"));

    // Installable from the other process: index and blobs are shared.
    let user = Zoo::new(&b.url, None);
    let out = user.run(&["install", "shared-model"]).ok();
    assert!(out.contains("installed shared-model@1.0.0"), "{out}");
    let installed = user
        .zoo_home()
        .join("packages/shared-model/1.0.0/weights.bin");
    assert_eq!(std::fs::read(installed).unwrap(), weights);

    // Versions are immutable across replicas, names compare as one.
    let again = write_package(work.path(), "shared-model", "1.0.0", &[], &[]);
    let err = alice_b.run(&["publish", again.to_str().unwrap()]).fails();
    assert!(err.contains("already exists"), "{err}");

    // A yank on one is seen by both (HTTP answers come from the database).
    let v2 = write_package(work.path(), "shared-model", "1.1.0", &[], &[]);
    publish(&alice_b, &v2);
    alice_a.run(&["yank", "shared-model@1.1.0"]).ok();
    let path = "/index/sh/ar/shared-model";
    for registry in [&a, &b] {
        let doc = http("GET", &format!("{}{path}", registry.url), &[], b"").text();
        let line = doc.lines().find(|l| l.contains("\"1.1.0\"")).unwrap();
        assert!(line.contains("\"yanked\":true"), "{line}");
    }
    let fresh = Zoo::new(&b.url, None);
    let out = fresh.run(&["install", "shared-model"]).ok();
    assert!(out.contains("installed shared-model@1.0.0"), "{out}");

    // The bucket's index mirror follows the database, whichever replica wrote.
    let shared = a.shared.as_ref().unwrap();
    let mirrored = shared
        .s3
        .object_path(&shared.bucket, path.trim_start_matches('/'));
    let mirrored = std::fs::read_to_string(mirrored).unwrap();
    assert_eq!(
        mirrored,
        http("GET", &format!("{}{path}", a.url), &[], b"").text()
    );

    // A web session started on one replica is valid on the other.
    let form = format!("csrf=x1&username=alice&token={token}");
    let login = http(
        "POST",
        &format!("{}/login", a.url),
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", "zoo_login_csrf=x1"),
        ],
        form.as_bytes(),
    );
    assert_eq!(login.status, 303, "{}", login.text());
    let session = login
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .find_map(|(_, v)| v.strip_prefix("zoo_session="))
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    let cookie = format!("zoo_session={session}");
    let page = http(
        "GET",
        &format!("{}/account/tokens", b.url),
        &[("Cookie", &cookie)],
        b"",
    );
    assert_eq!(page.status, 200);
    assert!(page.text().contains("alice"));
}

#[test]
fn nginx_in_front_caches_blobs_and_revalidates_the_index() {
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let a = Registry::start_with(Some(Shared::start()), &["--base-url", &base]);
    let b = a.replica(&["--base-url", &base]);
    let nginx = Nginx::start(port, &[&a.url, &b.url]);
    let alice = Zoo::new(&nginx.url, Some(&a.add_user("alice")));
    let work = tempfile::tempdir().unwrap();
    let weights = noise(BIG, 9);
    let dir = write_package(work.path(), "cached", "1.0.0", &[], &[("w.bin", &weights)]);
    publish(&alice, &dir);

    for _ in 0..2 {
        let user = Zoo::new(&nginx.url, None);
        let out = user.run(&["install", "cached"]).ok();
        assert!(out.contains("installed cached@1.0.0"), "{out}");
    }

    // Content-addressed blobs: immutable, cached by the proxy.
    let blob = format!("{}/blobs/{}", nginx.url, sha256(&weights));
    let first = http("GET", &blob, &[], b"");
    let second = http("GET", &blob, &[], b"");
    assert_eq!(second.status, 200);
    assert_eq!(second.body, weights);
    assert!(
        first.header("cache-control").contains("immutable"),
        "{:?}",
        first.headers
    );
    assert_eq!(second.header("etag"), format!("\"{}\"", sha256(&weights)));
    assert_eq!(second.header("x-cache-status"), "HIT");
    let range = http("GET", &blob, &[("Range", "bytes=10-19")], b"");
    assert_eq!(range.status, 206);
    assert_eq!(range.body, &weights[10..20]);

    // Index documents: ETag + no-cache, so every answer is current and a
    // client holding the ETag gets 304.
    let index = format!("{}/index/ca/ch/cached", nginx.url);
    let doc = http("GET", &index, &[], b"");
    assert_eq!(doc.header("cache-control"), "no-cache");
    let etag = doc.header("etag").to_string();
    assert!(etag.starts_with('"'), "{:?}", doc.headers);
    let revalidated = http("GET", &index, &[("If-None-Match", &etag)], b"");
    assert_eq!(revalidated.status, 304);

    // A yank through the proxy is visible at once through it.
    alice.run(&["yank", "cached@1.0.0"]).ok();
    let after = http("GET", &index, &[("If-None-Match", &etag)], b"");
    assert_eq!(after.status, 200);
    assert!(after.text().contains("\"yanked\":true"));
    let late = Zoo::new(&nginx.url, None);
    let err = late.run(&["install", "cached"]).fails();
    assert!(
        err.contains("yanked") || err.contains("no version"),
        "{err}"
    );
}

/// `zoo-registry ARGS` with the given backend flags and environment.
fn registry_cmd(args: &[&str], data: &Path, shared: Option<&Shared>) -> zoo_e2e::Outcome {
    let mut cmd = std::process::Command::new(binary("zoo-registry"));
    cmd.args(args).arg("--data").arg(data);
    if let Some(shared) = shared {
        cmd.args(["--database", &shared.database_url])
            .args(["--blobs", &format!("s3://{}", shared.bucket)])
            .envs(shared.s3.env());
    }
    zoo_e2e::run_command(&mut cmd)
}

#[test]
fn export_import_moves_a_registry_from_sqlite_disk_to_postgres_s3_and_back() {
    let source = Registry::start_with(None, &[]);
    let token = source.add_user("alice");
    let alice = Zoo::new(&source.url, Some(&token));
    let work = tempfile::tempdir().unwrap();
    let weights = noise(BIG, 11);
    publish(
        &alice,
        &write_package(work.path(), "base", "1.0.0", &[], &[("w.bin", &weights)]),
    );
    publish(
        &alice,
        &write_package(work.path(), "base", "1.1.0", &[], &[]),
    );
    publish(
        &alice,
        &write_package(work.path(), "app", "0.1.0", &[("base", "^1")], &[]),
    );
    alice.run(&["yank", "base@1.1.0"]).ok();

    let dump = work.path().join("dump");
    let dump_arg = dump.to_str().unwrap();
    let out = registry_cmd(&["export", dump_arg], source.data.path(), None).ok();
    assert!(out.contains("exported 4 blob(s)"), "{out}"); // 3 archives + weights
    let err = registry_cmd(&["export", dump_arg], source.data.path(), None).fails();
    assert!(err.contains("not empty"), "{err}");

    // Into PostgreSQL + S3.
    let shared = Shared::start();
    let scratch = tempfile::tempdir().unwrap();
    let out = registry_cmd(&["import", dump_arg], scratch.path(), Some(&shared)).ok();
    assert!(out.contains("imported 4 blob(s)"), "{out}");
    let err = registry_cmd(&["import", dump_arg], scratch.path(), Some(&shared)).fails();
    assert!(err.contains("import needs an empty database"), "{err}");
    let target = Registry::start_with(Some(shared.clone()), &[]);
    let user = Zoo::new(&target.url, None);
    let out = user.run(&["install", "app"]).ok();
    assert!(out.contains("installed base@1.0.0"), "{out}"); // 1.1.0 stays yanked
    let installed = user.zoo_home().join("packages/base/1.0.0/w.bin");
    assert_eq!(std::fs::read(installed).unwrap(), weights);
    // Tokens and ownership moved too, and new rows get fresh ids.
    let alice_there = Zoo::new(&target.url, Some(&token));
    publish(
        &alice_there,
        &write_package(work.path(), "base", "1.2.0", &[], &[]),
    );
    let bob = target.add_user("bob");
    let err = Zoo::new(&target.url, Some(&bob))
        .run(&["yank", "base@1.0.0"])
        .fails();
    assert!(err.contains("not an owner"), "{err}");

    // fsck checks PostgreSQL + S3 too, and notices a damaged object.
    let fsck = registry_cmd(&["fsck"], scratch.path(), Some(&shared)).ok();
    assert!(fsck.contains("ok: no problems found"), "{fsck}");
    assert!(fsck.contains("5 blobs"), "{fsck}");
    let damaged = target.blob_path(&sha256(&weights));
    let original = std::fs::read(&damaged).unwrap();
    let mut altered = original.clone();
    altered[0] ^= 1;
    std::fs::write(&damaged, &altered).unwrap();
    let report = registry_cmd(&["fsck"], scratch.path(), Some(&shared));
    assert!(
        report.stdout.contains("PROBLEM [blob-hash]"),
        "{}",
        report.stdout
    );
    assert!(report.fails().contains("problem(s)"));
    std::fs::write(&damaged, &original).unwrap();

    // And back into SQLite + disk: fsck finds nothing wrong.
    let dump2 = work.path().join("dump2");
    registry_cmd(
        &["export", dump2.to_str().unwrap()],
        scratch.path(),
        Some(&shared),
    )
    .ok();
    let restored = tempfile::tempdir().unwrap();
    let out = registry_cmd(&["import", dump2.to_str().unwrap()], restored.path(), None).ok();
    assert!(out.contains("imported 5 blob(s)"), "{out}");
    let fsck = registry_cmd(&["fsck"], restored.path(), None).ok();
    assert!(fsck.contains("ok: no problems found"), "{fsck}");
    let restored_registry = Registry::start_in(restored, None, &[]);
    let user = Zoo::new(&restored_registry.url, None);
    let out = user.run(&["install", "base"]).ok();
    assert!(out.contains("installed base@1.2.0"), "{out}");
}

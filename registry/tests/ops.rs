//! `zoo-registry fsck` and `gc` on real data directories: a clean one
//! passes; corrupt, missing, stray and stale files are reported; gc removes
//! unreferenced old blobs and keeps referenced (zoo and cargo) ones.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use axum::http::{Method, StatusCode};
use zoo_e2e::in_process::{Registry, crate_publish_body, model};
use zoo_e2e::registry_admin;
use zoo_format::checksum::sha256_hex;
use zoo_registry::auth::Scope;
use zoo_registry::ops::{fsck::fsck, gc::gc};

const HOUR: Duration = Duration::from_secs(3600);

fn blob_path(data: &Path, sha: &str) -> PathBuf {
    data.join("blobs/sha256").join(&sha[..2]).join(sha)
}

/// Sets a file's mtime `ago` in the past.
fn age_file(path: &Path, ago: Duration) {
    let file = std::fs::File::options().append(true).open(path).unwrap();
    file.set_modified(SystemTime::now() - ago).unwrap();
}

fn kinds(report: &zoo_registry::ops::fsck::FsckReport) -> Vec<&str> {
    report.problems.iter().map(|p| p.kind).collect()
}

/// A registry with one model (archive + external weights) and one crate.
async fn populated() -> (Registry, String, String, String) {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    reg.publish_model_dependencies(&alice).await;
    let reply = reg
        .publish(&alice, &model("tiny-net", "1.0.0", "d", "# card\n"))
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let archive =
        serde_json::from_slice::<serde_json::Value>(&reply.body).unwrap()["archive_sha256"]
            .as_str()
            .unwrap()
            .to_string();
    let weights = sha256_hex(b"weights of tiny-net 1.0.0");
    let reply = reg
        .send(
            Method::PUT,
            "/cargo/api/v1/crates/new",
            &[("authorization", &alice)],
            crate_publish_body("demo-link", "0.1.0"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let cksum = reg.state.store.cargo_versions("demo-link").unwrap()[0]
        .cksum
        .clone();
    (reg, archive, weights, cksum)
}

#[tokio::test]
async fn fsck_passes_a_clean_directory_and_reports_each_kind_of_damage() {
    let (reg, archive, weights, cksum) = populated().await;
    let data = &reg.data;
    let report = fsck(data, HOUR).unwrap();
    assert!(report.ok, "{}", report.to_text());
    // The model, and the link it depends on (one archive blob more).
    assert_eq!(report.checked.versions, 2);
    assert_eq!(report.checked.crate_versions, 1);
    assert_eq!(report.checked.blobs, 4);
    assert_eq!(report.checked.index_documents, 3);

    // A corrupt blob: its content no longer matches its name.
    std::fs::write(blob_path(data, &weights), b"bit rot").unwrap();
    // A missing blob.
    std::fs::remove_file(blob_path(data, &cksum)).unwrap();
    // An index file edited by hand, and a stray one.
    std::fs::write(data.join("index/ti/ny/tiny-net"), "{}\n").unwrap();
    std::fs::create_dir_all(data.join("index/gh/os")).unwrap();
    std::fs::write(data.join("index/gh/os/ghost"), "{}\n").unwrap();
    // A misnamed blob file and an old temp file.
    let misnamed = data.join("blobs/sha256/ab/not-a-hash");
    std::fs::create_dir_all(misnamed.parent().unwrap()).unwrap();
    std::fs::write(&misnamed, b"x").unwrap();
    let temp = data.join("tmp/0123.part");
    std::fs::write(&temp, b"half an upload").unwrap();
    age_file(&temp, 2 * HOUR);

    let report = fsck(data, HOUR).unwrap();
    assert!(!report.ok);
    let text = report.to_text();
    let mut found = kinds(&report);
    found.sort();
    assert_eq!(
        found,
        [
            "blob-hash",
            "index-mismatch",
            "index-stray",
            "misplaced-blob",
            "missing-blob",
            "missing-blob",
            "stale-temp-file"
        ],
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "zoo package tiny-net@1.0.0 file weights.safetensors: blob {weights} is corrupt"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "crate demo-link@0.1.0 (.crate): blob {cksum} is missing"
        )),
        "{text}"
    );
    assert!(
        text.contains("ghost") && text.contains("0123.part"),
        "{text}"
    );
    assert!(!text.contains(&archive), "the archive is fine: {text}");

    // The binary: non-zero exit, a readable report, and --json.
    let out = registry_admin(data, &["fsck"]);
    assert!(!out.success);
    assert!(out.stdout.contains("PROBLEM [blob-hash]"), "{}", out.stdout);
    assert!(out.stderr.contains("7 problem(s)"));
    let out = registry_admin(data, &["fsck", "--json"]);
    assert!(!out.success);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(json["ok"], false);
    assert_eq!(json["problems"].as_array().unwrap().len(), 7);
    assert!(json["problems"][0]["kind"].is_string());
}

#[tokio::test]
async fn fsck_reports_rows_that_reference_missing_packages() {
    let (reg, ..) = populated().await;
    let conn = rusqlite::Connection::open(reg.data.join("registry.sqlite3")).unwrap();
    // What a buggy migration or a manual edit could do.
    conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
    conn.execute(
        "INSERT INTO owners (package_id, user_id) VALUES (999, 1)",
        [],
    )
    .unwrap();
    let report = fsck(&reg.data, HOUR).unwrap();
    assert_eq!(kinds(&report), ["database"], "{}", report.to_text());
    assert!(
        report.problems[0].detail.contains("table `owners`")
            && report.problems[0].detail.contains("`packages`"),
        "{}",
        report.to_text()
    );
}

#[tokio::test]
async fn gc_removes_old_orphans_and_temp_files_and_keeps_the_rest() {
    let (reg, archive, weights, cksum) = populated().await;
    let data = &reg.data;
    let alice = reg.token("bob", &Scope::ALL);
    // Two unreferenced uploads: one old, one fresh.
    for bytes in [&b"old orphan"[..], b"fresh orphan"] {
        let reply = reg
            .send(
                Method::PUT,
                &format!("/api/v1/blobs/{}", sha256_hex(bytes)),
                &[("authorization", &alice)],
                bytes.to_vec(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let old = sha256_hex(b"old orphan");
    let fresh = sha256_hex(b"fresh orphan");
    // Every referenced blob is old too: age alone must not get it removed.
    for sha in [&old, &archive, &weights, &cksum] {
        age_file(&blob_path(data, sha), 3 * HOUR);
    }
    let temp = data.join("index/ti/ny/.tmp-0000");
    std::fs::write(&temp, b"x").unwrap();
    age_file(&temp, 3 * HOUR);

    let dry = gc(data, HOUR, true).unwrap();
    assert_eq!(dry.removed_blobs, std::slice::from_ref(&old));
    assert_eq!(dry.removed_temp_files.len(), 1);
    assert!(blob_path(data, &old).is_file() && temp.is_file(), "dry run");

    let report = gc(data, HOUR, false).unwrap();
    assert_eq!(
        report.removed_blobs,
        std::slice::from_ref(&old),
        "{}",
        report.to_text()
    );
    assert_eq!(report.freed_bytes, b"old orphan".len() as u64);
    assert_eq!(report.young_unreferenced_blobs, 1);
    assert_eq!(report.kept_blobs, 4);
    assert!(!blob_path(data, &old).exists() && !temp.exists());
    for sha in [&fresh, &archive, &weights, &cksum] {
        assert!(blob_path(data, sha).is_file(), "{sha} must be kept");
    }
    assert!(fsck(data, HOUR).unwrap().ok);

    // Re-uploading an existing old blob refreshes it, so gc keeps it
    // for the grace period while its publish is under way.
    age_file(&blob_path(data, &fresh), 3 * HOUR);
    let reply = reg
        .send(
            Method::PUT,
            &format!("/api/v1/blobs/{fresh}"),
            &[("authorization", &alice)],
            b"fresh orphan".to_vec(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(gc(data, HOUR, false).unwrap().removed_blobs.is_empty());

    // The binary, with a zero grace period.
    let stdout = registry_admin(data, &["gc", "--grace-minutes", "0"]).ok();
    assert!(
        stdout.contains(&format!("removed blob {fresh}")),
        "{stdout}"
    );
    assert!(blob_path(data, &archive).is_file());
    let stderr = registry_admin(Path::new("/nonexistent/registry"), &["fsck"]).fails();
    assert!(stderr.contains("not a registry data directory"));
}

#[tokio::test]
async fn fsck_checks_the_signatures_of_index_files() {
    let (reg, ..) = populated().await;
    let data = &reg.data;
    let path = data.join("index/ti/ny/tiny-net");
    let signed = std::fs::read_to_string(&path).unwrap();
    let (entries, signature) = zoo_format::signing::split_signed(&signed).unwrap();
    let signature = signature.unwrap();

    // The right entries under a signature by another key, and unsigned.
    let mallory = zoo_format::signing::SecretKey::generate().unwrap();
    let forged = zoo_format::signing::SignedIndex::sign(
        &mallory,
        "tiny-net",
        signature.version + 1,
        signature.expires,
        entries,
    );
    for (document, why) in [
        (format!("{entries}{}", forged.to_line()), "signed by"),
        (entries.to_string(), "not signed"),
    ] {
        std::fs::write(&path, &document).unwrap();
        let report = fsck(data, HOUR).unwrap();
        assert_eq!(kinds(&report), ["index-signature"], "{}", report.to_text());
        assert!(report.to_text().contains(why), "{}", report.to_text());
    }
    std::fs::write(&path, &signed).unwrap();
    assert!(fsck(data, HOUR).unwrap().ok);
}

//! Hostile archives at install (SECURITY.md, "Hostile archives").
//!
//! A compromised registry serves, for a published version, a hostile archive
//! whose sha256 the (registry-signed) index entry carries: every download
//! check passes, so the client's safe extractor is what must refuse it. For
//! every kind of `zoo_format::archive::testing::hostile_archives`, `zoo
//! install` must fail naming the entry, leave ZOO_HOME's `packages/` and
//! `tmp/` as they were (no staging leftovers), write nothing outside its
//! staging dir, and keep `zoo cache verify` clean. Afterwards the real
//! archive installs. The registry-side twin is `zoo-registry`'s
//! `hostile_archives_are_rejected_and_nothing_is_stored`.
//! Prints the table SECURITY.md shows:
//! `cargo test -p zoo-e2e --test hostile_archives -- --nocapture`.

use std::path::Path;

use serde_json::Value;
use zoo_e2e::{Registry, Zoo, blob_problems, installed_state, sha256, walk, write_package};
use zoo_format::archive::testing::{ESCAPE_TARGET, hostile_archives};

/// Everything under ZOO_HOME except the caches (`blobs/`, checked by
/// `blob_problems` and `cache verify`; `index/`), the blob lock files
/// (`locks/`, kept by design) and the user's files (the registry key pinned
/// on first use lands in `trusted-keys.toml`).
fn home_outside_caches(home: &Path) -> Vec<String> {
    walk(home)
        .into_iter()
        .map(|p| p.strip_prefix(home).unwrap().display().to_string())
        .filter(|p| {
            ![
                "blobs",
                "index",
                "locks",
                "trusted-keys.toml",
                "config.toml",
            ]
            .iter()
            .any(|c| p.starts_with(c))
        })
        .collect()
}

#[test]
fn every_hostile_archive_is_refused_at_install() {
    let registry = Registry::start_with(None, &["--index-cache-ttl", "0"]);
    let work = tempfile::tempdir().unwrap();
    let alice = registry.user("alice");
    let victim = write_package(work.path(), "victim", "1.0.0", &[], &[("a.txt", b"real")]);
    let good = write_package(work.path(), "good", "1.0.0", &[], &[("g.txt", b"good")]);
    for dir in [&victim, &good] {
        alice.run(&["publish", dir.to_str().unwrap()]).ok();
    }
    let manifest = std::fs::read_to_string(victim.join("zoo.toml")).unwrap();
    let original = registry.index_line("victim", "1.0.0");

    let user = Zoo::new(&registry.url, None);
    let home = user.zoo_home();
    user.run(&["install", "good"]).ok();
    let before = installed_state(home);
    let outside_before = home_outside_caches(home);

    let cases = hostile_archives(&manifest);
    let mut failures = Vec::new();
    println!("| kind | install (client) | message |\n|---|---|---|");
    for case in &cases {
        let sha = sha256(&case.bytes);
        let blob = registry.blob_path(&sha);
        std::fs::create_dir_all(blob.parent().unwrap()).unwrap();
        std::fs::write(&blob, &case.bytes).unwrap();
        let mut entry = original.clone();
        entry["archive"]["sha256"] = Value::from(sha.clone());
        entry["archive"]["size"] = Value::from(case.bytes.len());
        registry.set_index_line("victim", "1.0.0", &entry);

        let out = user
            .command(user.user_home.path(), &["install", "victim"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let message = stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or("");
        let mut problems = Vec::new();
        if out.status.success() {
            problems.push("installed".to_string());
        }
        let names_entry = case.entry.is_empty() || stderr.contains(&format!("`{}`", case.entry));
        if !names_entry || !stderr.contains(case.says) {
            problems.push(format!(
                "the error does not name `{}` ({})",
                case.entry, case.says
            ));
        }
        if installed_state(home) != before || home_outside_caches(home) != outside_before {
            let now = home_outside_caches(home);
            let added: Vec<_> = now.iter().filter(|p| !outside_before.contains(p)).collect();
            let gone: Vec<_> = outside_before.iter().filter(|p| !now.contains(p)).collect();
            problems.push(format!("ZOO_HOME changed: added {added:?}, gone {gone:?}"));
        }
        if Path::new(ESCAPE_TARGET).exists() {
            problems.push(format!("{ESCAPE_TARGET} was written"));
        }
        problems.extend(blob_problems(home));
        let verify = user
            .command(user.user_home.path(), &["cache", "verify"])
            .output()
            .unwrap();
        if !verify.status.success()
            || !String::from_utf8_lossy(&verify.stdout).contains("0 corrupt")
        {
            problems.push(format!(
                "cache verify: {}",
                String::from_utf8_lossy(&verify.stdout)
            ));
        }
        let verdict = match (out.status.success(), problems.is_empty()) {
            (true, _) => "ACCEPTED",
            (false, true) => "refused",
            (false, false) => "refused, NOT CLEANLY",
        };
        println!("| {} | {verdict} | `{message}` |", case.kind);
        if !problems.is_empty() {
            failures.push(format!("{}: {problems:?}\n{stderr}", case.kind));
        }
        std::fs::remove_file(&blob).unwrap();
    }
    println!(
        "{} kinds, {} not refused cleanly",
        cases.len(),
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The registry serves the real archive again: it installs over the
    // cached hostile blobs.
    registry.set_index_line("victim", "1.0.0", &original);
    user.run(&["install", "victim"]).ok();
    assert_eq!(
        user.installed(),
        [
            ("good".into(), "1.0.0".into()),
            ("victim".into(), "1.0.0".into())
        ]
    );
    let installed = home.join("packages/victim/1.0.0/a.txt");
    assert_eq!(std::fs::read(installed).unwrap(), b"real");
    assert!(user.run(&["cache", "verify"]).ok().contains("0 corrupt"));
}

//! Concurrency against a real registry: parallel publishes of distinct
//! versions, and simultaneous publishes of one version (exactly one wins,
//! the other gets 409). Eight parallel installs into one store:
//! tests/tests/packages.rs, `concurrent_installs_share_one_store`.

use std::sync::{Arc, Barrier};

use zoo_e2e::{Registry, noise, wait_all_ok, write_package};
use zoo_format::archive::{PackOptions, pack};

fn indexed(url: &str, name: &str) -> Vec<String> {
    let url = format!("{url}/index/{}", zoo_format::index::index_path(name));
    let text = reqwest::blocking::get(url).unwrap().text().unwrap();
    zoo_format::index::parse_document(&text)
        .unwrap()
        .iter()
        .map(|e| e.vers.to_string())
        .collect()
}

#[test]
fn eight_parallel_publishes_of_distinct_versions_are_each_recorded_once() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();
    let dirs: Vec<_> = (0..8)
        .map(|i| {
            let weights = noise(3 << 19, 50 + i);
            write_package(
                work.path(),
                "busy",
                &format!("1.{i}.0"),
                &[],
                &[("w.bin", &weights)],
            )
        })
        .collect();
    let children: Vec<_> = dirs
        .iter()
        .map(|dir| alice.spawn_in(work.path(), &["publish", dir.to_str().unwrap()]))
        .collect();
    wait_all_ok(children);
    let mut versions = indexed(&registry.url, "busy");
    versions.sort();
    let expected: Vec<String> = (0..8).map(|i| format!("1.{i}.0")).collect();
    assert_eq!(versions, expected, "each version exactly once");
    let fsck = std::process::Command::new(zoo_e2e::binary("zoo-registry"))
        .args(["fsck", "--data"])
        .arg(registry.data.path())
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
}

#[test]
fn simultaneous_publishes_of_one_version_one_wins_one_gets_409() {
    let registry = Registry::start();
    let token = registry.add_user("alice");
    let work = tempfile::tempdir().unwrap();
    for round in 0..5 {
        let version = format!("2.0.{round}");
        // Two different archives claiming the same version.
        let archives: Vec<Vec<u8>> = (0..2)
            .map(|side| {
                let dir = work.path().join(format!("{round}-{side}"));
                let dir = write_package(
                    &dir,
                    "contested",
                    &version,
                    &[],
                    &[("side.txt", format!("side {side}").as_bytes())],
                );
                pack(&dir, &PackOptions::default()).unwrap().bytes
            })
            .collect();
        let barrier = Arc::new(Barrier::new(2));
        let threads: Vec<_> = archives
            .into_iter()
            .map(|archive| {
                let (barrier, url, token) = (barrier.clone(), registry.url.clone(), token.clone());
                std::thread::spawn(move || {
                    let client = reqwest::blocking::Client::new();
                    let request = client
                        .put(format!("{url}/api/v1/packages/new"))
                        .bearer_auth(token)
                        .body(archive);
                    barrier.wait();
                    let reply = request.send().unwrap();
                    (reply.status().as_u16(), reply.text().unwrap())
                })
            })
            .collect();
        let mut results: Vec<(u16, String)> =
            threads.into_iter().map(|t| t.join().unwrap()).collect();
        results.sort();
        assert_eq!(results[0].0, 201, "{results:?}");
        assert_eq!(results[1].0, 409, "{results:?}");
        assert!(results[1].1.contains("already exists"), "{results:?}");
        let listed = indexed(&registry.url, "contested");
        assert_eq!(
            listed.iter().filter(|v| **v == version).count(),
            1,
            "{listed:?}"
        );
    }
}

//! What a crash can leave behind is gone after the next start: upload temp
//! files in `DATA/tmp/` and `.tmp-*` files of interrupted index rewrites
//! (found by the crash harness, tests/src/crash.rs), so `fsck` passes even
//! with `--temp-age-minutes 0`.

use std::time::Duration;

use axum::http::StatusCode;
use zoo_e2e::in_process::{Registry, link};
use zoo_registry::auth::Scope;
use zoo_registry::{Config, open_state};

#[tokio::test]
async fn start_up_removes_the_temp_files_of_interrupted_writes() {
    let reg = Registry::new();
    let alice = reg.token("alice", &Scope::ALL);
    let reply = reg.publish(&alice, &link("survivor", "1.0.0", "d")).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text());
    let leftovers = [
        reg.data.join("tmp/0123456789abcdef.part"),
        reg.data.join("index/su/rv/.tmp-0123456789abcdef"),
        reg.data.join("cargo-index/.tmp-fedcba9876543210"),
    ];
    for path in &leftovers {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b"half a write").unwrap();
    }
    let report = zoo_registry::ops::fsck::fsck(&reg.data, Duration::ZERO).unwrap();
    assert_eq!(
        report
            .problems
            .iter()
            .filter(|p| p.kind == "stale-temp-file")
            .count(),
        3,
        "{}",
        report.to_text()
    );

    let state = open_state(Config {
        data_dir: reg.data.clone(),
        base_url: "http://registry.test".into(),
        max_package_size: zoo_registry::config::DEFAULT_MAX_PACKAGE_SIZE,
        cargo_auth_required: false,
    })
    .unwrap();
    for path in &leftovers {
        assert!(!path.exists(), "{} survived the restart", path.display());
    }
    let report = zoo_registry::ops::fsck::fsck(&reg.data, Duration::ZERO).unwrap();
    assert!(report.ok, "{}", report.to_text());
    assert_eq!(state.store.versions("survivor").unwrap().len(), 1);
}

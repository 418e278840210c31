//! A short loopback load test (`zoo_e2e::load`): 3 s of mixed index reads,
//! blob downloads and publishes from 16 connections; every answer must be
//! right (timings are reported by `cargo xtask bench load`, not asserted).

use std::time::Duration;

use zoo_e2e::load::{Kind, LoadOptions, run};

#[test]
fn three_seconds_of_mixed_load_without_errors() {
    let report = run(LoadOptions {
        duration: Duration::from_secs(3),
        connections: 16,
        seed_packages: 4,
        // More publishes than the long run, so that a short run has some.
        publish_per_mille: 50,
        ..LoadOptions::default()
    })
    .unwrap();
    println!("{}", report.to_markdown());
    assert_eq!(report.errors(), 0, "{}", report.to_markdown());
    assert_eq!(report.fsck_problems, 0, "{}", report.to_markdown());
    for (kind, stats) in &report.stats {
        assert!(!stats.latencies.is_empty(), "no {}", kind.name());
    }
    assert!(report.stats.iter().any(|(k, _)| *k == Kind::Publish));
}

//! Crash consistency (`zoo_e2e::crash`): `zoo install` and `zoo-registry`
//! SIGKILLed at random points; the store and the data directory verify and
//! retries succeed. CI runs 10 of each; `cargo xtask crash --runs 100` the
//! full version (`ZOO_CRASH_RUNS`, `ZOO_CRASH_SEED`).

use zoo_e2e::crash::{CrashReport, Rng, installs, publishes, seed};

fn runs() -> usize {
    std::env::var("ZOO_CRASH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(10)
}

fn check(report: CrashReport, seed: u64) {
    println!("{report}(ZOO_CRASH_SEED={seed})");
    assert!(
        report.failures.is_empty(),
        "{report}(ZOO_CRASH_SEED={seed})"
    );
}

#[test]
fn killed_installs_leave_a_verifiable_store_and_retries_succeed() {
    let seed = seed();
    check(installs(runs(), &mut Rng::new(seed)), seed);
}

#[test]
fn a_killed_registry_loses_no_acknowledged_publish_and_fsck_passes() {
    let seed = seed().rotate_left(17);
    check(publishes(runs(), &mut Rng::new(seed)), seed);
}

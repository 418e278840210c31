//! `cargo xtask crash [--runs N] [--seed S]`: the crash-consistency harness
//! (tests/src/crash.rs) with N runs each (default 100) of `zoo install`
//! and `zoo-registry` SIGKILLed at random points. CI runs the same tests
//! with 10 runs each.

use crate::cmd;
use anyhow::{Context, Result, bail};

pub fn run(args: &[String]) -> Result<()> {
    let mut runs = 100u64;
    let mut seed: Option<u64> = None;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |name: &str| -> Result<u64> {
            it.next()
                .with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--runs" => runs = value("--runs")?,
            "--seed" => seed = Some(value("--seed")?),
            other => bail!("unknown option {other:?} (expected --runs N, --seed S)"),
        }
    }
    cmd::run(cmd::cargo().args(["build", "-p", "zoo-cli", "-p", "zoo-registry", "--bins"]))?;
    let mut test = cmd::cargo();
    test.args([
        "test",
        "-p",
        "zoo-e2e",
        "--test",
        "crash",
        "--",
        "--nocapture",
    ])
    .env("ZOO_CRASH_RUNS", runs.to_string());
    if let Some(seed) = seed {
        test.env("ZOO_CRASH_SEED", seed.to_string());
    }
    cmd::run(&mut test)
}

//! `cargo xtask bench load [--seconds N] [--connections N]`: the loopback
//! load test of `zoo-registry` (tests/src/load.rs) on a release build,
//! default 60 s at 64 connections. Prints the Markdown report for
//! BENCHMARKS.md; fails on any error.

use crate::cmd;
use anyhow::Result;
use std::process::Command;

pub fn run(args: &[String]) -> Result<()> {
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "-p",
        "zoo-registry",
        "-p",
        "zoo-e2e",
        "--bin",
        "zoo-registry",
        "--bin",
        "zoo-load",
    ]))?;
    let target = cmd::target_dir();
    let load = target.join("release").join("zoo-load");
    let mut command = Command::new(load);
    if args.is_empty() {
        command.args(["--seconds", "60", "--connections", "64"]);
    }
    cmd::run(command.args(args))
}

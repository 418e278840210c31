//! `cargo xtask test`: what CI runs. Set-up, formatting, lints, then every test.

use crate::{cmd, setup};
use anyhow::Result;

pub fn run(extra: &[String]) -> Result<()> {
    setup::run()?;
    cmd::run(cmd::cargo().args(["fmt", "--all", "--", "--check"]))?;
    cmd::run(cmd::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The end-to-end tests drive the real binaries: build them first.
    cmd::run(cmd::cargo().args(["build", "--workspace", "--bins"]))?;
    cmd::run(cmd::cargo().args(["test", "--workspace"]).args(extra))?;
    Ok(())
}

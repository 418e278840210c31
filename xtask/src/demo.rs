//! `cargo xtask demo`: the main job, end to end, on this machine.

use crate::{cmd, setup};
use anyhow::Result;

pub fn run(_args: &[String]) -> Result<()> {
    setup::run()?;
    cmd::run(cmd::cargo().args(["build", "--workspace", "--bins"]))?;
    let target = cmd::root().join("target/debug");
    cmd::run(&mut std::process::Command::new(target.join("zoo")).arg("doctor"))?;
    Ok(())
}

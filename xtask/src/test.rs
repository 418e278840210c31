//! `cargo xtask test`: what CI runs. Set-up, formatting, lints, then every
//! test; then the end-to-end suite once more with the registry on PostgreSQL
//! and S3 (`ZOO_TEST_BACKEND=postgres-s3`, servers from `setup-services`).

use crate::{cmd, services, setup};
use anyhow::Result;

pub fn run(extra: &[String]) -> Result<()> {
    setup::run()?;
    services::run()?;
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
    // The ONNX importer's large fixtures (torchvision models against ONNX
    // Runtime) are made here, never skipped: the tests fail without them.
    let onnx_large = crate::python::onnx_large_fixtures()?;
    cmd::run(
        cmd::cargo()
            .args(["test", "--workspace"])
            .args(extra)
            .env("ZOO_ONNX_LARGE_FIXTURES", onnx_large),
    )?;
    cmd::run(
        cmd::cargo()
            .args(["test", "-p", "zoo-e2e", "--test", "packages"])
            .env("ZOO_TEST_BACKEND", "postgres-s3")
            .env("ZOO_S3S_FS", services::s3s_fs_path()),
    )?;
    Ok(())
}

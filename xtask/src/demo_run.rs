//! The demo's last step: run what was installed, as a user would.

use crate::cmd;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

/// Runs each installed model on the example inputs its package ships
/// (`examples/` in the package folder), and the Caffe import on an .npy input.
pub fn run_models(zoo: &dyn Fn(&[&str]) -> Command, root: &Path, work: &Path) -> Result<()> {
    for entry in std::fs::read_dir(root.join("models")).context("reading models/")? {
        let dir = entry?.path();
        let examples = dir.join("examples");
        let Some(name) = dir.file_name().map(|n| n.to_string_lossy().into_owned()) else {
            continue;
        };
        if !dir.join("zoo.toml").is_file() || !examples.is_dir() {
            continue;
        }
        let mut files: Vec<_> = std::fs::read_dir(&examples)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        files.sort();
        for file in files {
            println!("\n$ zoo run {name} {}", file.display());
            cmd::run(zoo(&["run", &name]).arg(&file))?;
        }
    }
    // The Caffe import: a deterministic 2x4x8x8 input, two named blobs out.
    let input = work.join("caffe-input.npy");
    let values: Vec<f32> = (0..2 * 4 * 8 * 8)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    write_npy_f32(&input, &[2, 4, 8, 8], &values)?;
    let output = work.join("caffe-prob.npy");
    println!("\n$ zoo run caffe-demo-net --input data=... --output prob=...");
    cmd::run(
        zoo(&["run", "caffe-demo-net", "--input"])
            .arg(format!("data={}", input.display()))
            .arg("--output")
            .arg(format!("prob={}", output.display())),
    )?;
    Ok(())
}

/// A little-endian f32 .npy file, so xtask needs no numpy or tensor crate.
fn write_npy_f32(path: &Path, shape: &[usize], values: &[f32]) -> Result<()> {
    let bytes = zoo_format::npy::f32_bytes(shape, values);
    std::fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

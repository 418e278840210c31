//! `cargo xtask setup`: libtorch from PyPI (`torch==2.11.0`) in a git-ignored
//! `.venv`, and `.venv/torch` pointing at its package folder (what
//! `.cargo/config.toml` gives torch-sys as LIBTORCH). A second run only checks.

use crate::cmd;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const TORCH_VERSION: &str = "2.11.0";

/// Makes sure libtorch is installed; returns the torch package folder.
pub fn run() -> Result<PathBuf> {
    let root = cmd::root();
    let venv = root.join(".venv");
    let link = venv.join("torch");
    if installed_version(&link).as_deref() == Some(TORCH_VERSION) {
        eprintln!(
            "libtorch {TORCH_VERSION} is installed at {}",
            link.display()
        );
        return Ok(link);
    }
    if !venv.join("bin/python").exists() {
        let python = find_python()?;
        cmd::run(Command::new(&python).args(["-m", "venv"]).arg(&venv))?;
    }
    let pip = venv.join("bin/pip");
    cmd::run(
        Command::new(&pip)
            .args([
                "install",
                "--disable-pip-version-check",
                "--quiet",
                "--no-cache-dir",
            ])
            .arg(format!("torch=={TORCH_VERSION}")),
    )?;
    let site_torch = cmd::output(Command::new(venv.join("bin/python")).args([
        "-c",
        "import os, torch; print(os.path.dirname(torch.__file__))",
    ]))
    .context("torch was installed but cannot be imported")?;
    let site_torch = PathBuf::from(site_torch.trim());
    if link.symlink_metadata().is_ok() {
        std::fs::remove_file(&link).with_context(|| format!("removing {}", link.display()))?;
    }
    std::os::unix::fs::symlink(&site_torch, &link)
        .with_context(|| format!("linking {} to {}", link.display(), site_torch.display()))?;
    match installed_version(&link) {
        Some(v) if v == TORCH_VERSION => {
            eprintln!("libtorch {v} installed at {}", link.display());
            Ok(link)
        }
        other => bail!(
            "expected torch {TORCH_VERSION} at {}, found {:?}",
            link.display(),
            other
        ),
    }
}

/// The version recorded by the torch wheel, if libtorch is complete there.
fn installed_version(torch: &Path) -> Option<String> {
    if !torch.join("lib/libtorch_cpu.so").exists() {
        return None;
    }
    let text = std::fs::read_to_string(torch.join("version.py")).ok()?;
    let line = text.lines().find(|l| l.starts_with("__version__"))?;
    let value = line.split(['\'', '"']).nth(1)?;
    Some(value.split('+').next().unwrap_or(value).to_string())
}

fn find_python() -> Result<String> {
    for candidate in ["python3.11", "python3.12", "python3"] {
        if Command::new(candidate)
            .args(["-c", "import sys; assert sys.version_info >= (3, 10)"])
            .status()
            .is_ok_and(|s| s.success())
        {
            return Ok(candidate.to_string());
        }
    }
    bail!("no python3 (>= 3.10) on PATH: it is needed once, to install torch from PyPI")
}

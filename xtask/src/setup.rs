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
    install_torch_without_triton(&venv)?;
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

/// Installs torch and the dependencies it declares, except Triton: zoo
/// never compiles kernels (no `torch.compile`), `import torch` does not need
/// it, and its 640 MB are the disk a small CI machine lacks.
fn install_torch_without_triton(venv: &Path) -> Result<()> {
    let python = venv.join("bin/python");
    let torch = format!("torch=={TORCH_VERSION}");
    crate::python::pip_install(&python, &["--no-deps", &torch])?;
    // Requirement strings as the wheel declares them (PEP 508, markers and
    // pins included); pip evaluates the markers.
    let listed = cmd::output(Command::new(&python).args([
        "-c",
        "import importlib.metadata as m; print('\\n'.join(m.requires('torch') or []))",
    ]))
    .context("reading the requirements torch declares")?;
    let needed = runtime_requirements(&listed);
    if needed.is_empty() {
        bail!("torch {TORCH_VERSION} declares no requirements: its metadata is unreadable");
    }
    let needed: Vec<&str> = needed.iter().map(String::as_str).collect();
    crate::python::pip_install(&python, &needed)
}

/// torch's declared requirements without extras and without Triton.
fn runtime_requirements(listed: &str) -> Vec<String> {
    listed
        .lines()
        .map(str::trim)
        .filter(|r| !r.is_empty() && !r.contains("extra =="))
        .filter(|r| {
            let name: String = r
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .collect();
            !name.eq_ignore_ascii_case("triton")
        })
        .map(str::to_string)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::runtime_requirements;

    #[test]
    fn triton_and_extras_are_left_out() {
        let listed = "filelock\ntyping-extensions>=4.10.0\n\
                      nvidia-cublas==13.1.0.3; platform_system == \"Linux\"\n\
                      triton==3.7.0; platform_system == \"Linux\"\n\
                      opt-einsum>=3.3; extra == \"opt-einsum\"\n";
        assert_eq!(
            runtime_requirements(listed),
            vec![
                "filelock",
                "typing-extensions>=4.10.0",
                "nvidia-cublas==13.1.0.3; platform_system == \"Linux\"",
            ]
        );
    }
}

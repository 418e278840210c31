//! Python reference environments: Chainer 7.8.1 for golden files, with the
//! pins that make it import (numpy<2, protobuf 3.20.3; see chainer.md).

use crate::cmd;
use anyhow::{Result, bail};
use std::path::PathBuf;
use std::process::Command;

/// The golden-file generators, each run from the workspace root; each writes
/// its own small npz/caffemodel files next to itself.
const GENERATORS: &[&str] = &[
    "crates/zoo-nn/tests/fixtures/generate.py",
    "crates/zoo-caffe/tests/fixtures/generate.py",
    "models/tests/fixtures/generate.py",
];

/// Creates (once) `.venv-chainer` and returns its python.
pub fn chainer_python() -> Result<PathBuf> {
    let root = cmd::root();
    let venv = root.join(".venv-chainer");
    let python = venv.join("bin/python");
    let ready = Command::new(&python)
        .args([
            "-c",
            "import chainer, numpy; assert chainer.__version__ == '7.8.1'",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if ready {
        return Ok(python);
    }
    cmd::run(Command::new("python3").args(["-m", "venv"]).arg(&venv))?;
    let pip = venv.join("bin/pip");
    cmd::run(Command::new(&pip).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "setuptools<70",
        "wheel",
    ]))?;
    cmd::run(Command::new(&pip).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-build-isolation",
        "chainer==7.8.1",
        "numpy<2",
        "protobuf==3.20.3",
        "pillow",
    ]))?;
    Ok(python)
}

/// `cargo xtask fixtures [FILTER]`: regenerates the golden files whose
/// generator path contains FILTER (all of them without one).
pub fn fixtures(args: &[String]) -> Result<()> {
    let python = chainer_python()?;
    let filter = args.first().map(String::as_str).unwrap_or("");
    let root = cmd::root();
    let mut ran = 0;
    for script in GENERATORS.iter().filter(|s| s.contains(filter)) {
        if root.join(script).exists() {
            cmd::run(Command::new(&python).arg(script).current_dir(&root))?;
            ran += 1;
        }
    }
    if ran == 0 {
        bail!("no fixture generator matches {filter:?}");
    }
    Ok(())
}

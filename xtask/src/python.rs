//! Python reference environments: Chainer 7.8.1 for golden files, with the
//! pins that make it import (numpy<2, protobuf 3.20.3; see chainer.md); ONNX
//! Runtime for the ONNX importer's fixtures (`.venv-onnx`, reusing `.venv`'s
//! torch 2.11.0 and torchvision instead of a second copy).

use crate::cmd;
use anyhow::{Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The golden-file generators, each run from the workspace root; each writes
/// its own small npz/caffemodel/onnx files next to itself.
const GENERATORS: &[&str] = &[
    "crates/zoo-nn/tests/fixtures/generate.py",
    "crates/zoo-caffe/tests/fixtures/generate.py",
    "models/tests/fixtures/generate.py",
    ONNX_GENERATOR,
];

const ONNX_GENERATOR: &str = "crates/zoo-onnx/tests/fixtures/generate.py";

/// The torchvision release built for torch 2.11.0.
pub const TORCHVISION: &str = "torchvision==0.26.0";

/// The ONNX fixture venv's packages, pinned so that goldens are reproducible.
const ONNX_PACKAGES: &[&str] = &["onnx==1.23.2", "onnxruntime==1.32.0", "onnxscript==0.7.2"];

/// `python -m pip install --quiet ARGS`.
pub fn pip_install(python: &Path, args: &[&str]) -> Result<()> {
    cmd::run(
        Command::new(python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                // Wheels are installed once per checkout; a cache of them
                // would only cost CI disk.
                "--no-cache-dir",
            ])
            .args(args),
    )
}

/// Where the large (torchvision) ONNX fixtures are generated and cached;
/// the zoo-onnx tests read `ZOO_ONNX_LARGE_FIXTURES`, else this folder.
pub fn onnx_large_dir() -> PathBuf {
    cmd::root().join(".cache/onnx-fixtures")
}

/// Creates (once) `.venv-onnx` and returns its python: onnx and ONNX Runtime
/// from PyPI, torch and torchvision from `.venv` through a `.pth` file.
pub fn onnx_python() -> Result<PathBuf> {
    let root = cmd::root();
    let venv = root.join(".venv-onnx");
    let python = venv.join("bin/python");
    let check = "import onnx, onnxruntime, onnxscript, torch, torchvision; \
                 assert torch.__version__.startswith('2.11.0'), torch.__version__";
    let ready = |python: &PathBuf| {
        Command::new(python)
            .args(["-c", check])
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    let base = root.join(".venv/bin/python");
    if !base.exists() {
        bail!(
            "{} is missing: run `cargo xtask setup` first (it installs torch 2.11.0)",
            base.display()
        );
    }
    let site = Command::new(&base)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()?;
    let site = String::from_utf8(site.stdout)?.trim().to_owned();
    cmd::run(Command::new(&base).args(["-m", "venv"]).arg(&venv))?;
    let own_site = Command::new(&python)
        .args([
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
        ])
        .output()?;
    let own_site = PathBuf::from(String::from_utf8(own_site.stdout)?.trim());
    std::fs::write(own_site.join("zoo-torch.pth"), format!("{site}\n"))?;
    pip_install(&python, ONNX_PACKAGES)?;
    // torchvision's wheel would pull its own torch: taken without
    // dependencies, it uses `.venv`'s torch 2.11.0 through the `.pth` file.
    pip_install(&python, &["--no-deps", TORCHVISION, "pillow"])?;
    if !ready(&python) {
        bail!(
            "{}: onnx, onnxruntime, torch 2.11.0 or torchvision does not import",
            venv.display()
        );
    }
    Ok(python)
}

/// Generates the large ONNX fixtures (torchvision models) into
/// [`onnx_large_dir`] when missing; the generator skips those present.
pub fn onnx_large_fixtures() -> Result<PathBuf> {
    onnx_large_fixtures_of(&[])
}

/// [`onnx_large_fixtures`] for the torchvision models `names` alone (all of
/// them when empty), e.g. `resnet18`.
pub fn onnx_large_fixtures_of(names: &[&str]) -> Result<PathBuf> {
    let python = onnx_python()?;
    let dir = onnx_large_dir();
    cmd::run(
        Command::new(&python)
            .arg(ONNX_GENERATOR)
            .arg("--large")
            .arg(&dir)
            .args(names)
            .current_dir(cmd::root()),
    )?;
    Ok(dir)
}

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
/// generator path contains FILTER (all of them without one); `onnx-large`
/// makes the large ONNX fixtures instead.
pub fn fixtures(args: &[String]) -> Result<()> {
    let filter = args.first().map(String::as_str).unwrap_or("");
    if filter == "onnx-large" {
        return onnx_large_fixtures().map(|_| ());
    }
    let root = cmd::root();
    let mut ran = 0;
    for script in GENERATORS.iter().filter(|s| s.contains(filter)) {
        if root.join(script).exists() {
            let python = if *script == ONNX_GENERATOR {
                onnx_python()?
            } else {
                chainer_python()?
            };
            cmd::run(Command::new(&python).arg(script).current_dir(&root))?;
            ran += 1;
        }
    }
    if ran == 0 {
        bail!("no fixture generator matches {filter:?}");
    }
    Ok(())
}

//! `cargo xtask fuzz [SECONDS] [TARGET…] [--smoke]`: runs the cargo-fuzz
//! targets for SECONDS each (default 30), seeded with committed inputs:
//!
//! - crates/zoo-caffe/fuzz: `caffemodel`, `prototxt` (the Caffe fixtures);
//! - crates/zoo-format/fuzz: `manifest`, `archive`, `index` (`seeds/`);
//! - crates/zoo-nn/fuzz: `npy`, `npz`, `safetensors` (`seeds/`, the golden
//!   npz files); built without a sanitizer, as it links libtorch;
//! - crates/zoo-onnx/fuzz: `onnx` (`seeds/`, the ONNX fixtures).
//!
//! TARGETs pick some (default: all). Needs a nightly toolchain and
//! cargo-fuzz (installed with `cargo install cargo-fuzz` when missing);
//! without them, or with --smoke, each crate's stable `smoke` binary runs a
//! bounded seeded mutation run of the same functions instead. Inputs that
//! crash go to `<crate>/fuzz/artifacts/<target>/`: copy each into
//! `<crate>/fuzz/regressions/<target>/` (zoo-format, zoo-nn, zoo-onnx) so that the CI
//! smoke tests replay it.

use crate::cmd;
use anyhow::{Context, Result, bail};
use std::path::Path;
use std::process::Command;

/// A fuzz crate: its directory, targets and extra seed directories.
struct FuzzCrate {
    dir: &'static str,
    targets: &'static [&'static str],
    /// `cargo fuzz --sanitizer` (`none` where a C++ library is linked).
    sanitizer: &'static str,
}

const CRATES: &[FuzzCrate] = &[
    FuzzCrate {
        dir: "crates/zoo-caffe/fuzz",
        targets: &["caffemodel", "prototxt"],
        sanitizer: "address",
    },
    FuzzCrate {
        dir: "crates/zoo-format/fuzz",
        targets: &["manifest", "archive", "index"],
        sanitizer: "address",
    },
    FuzzCrate {
        dir: "crates/zoo-nn/fuzz",
        targets: &["npy", "npz", "safetensors"],
        sanitizer: "none",
    },
    FuzzCrate {
        dir: "crates/zoo-onnx/fuzz",
        targets: &["onnx"],
        sanitizer: "address",
    },
];

pub fn run(args: &[String]) -> Result<()> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let mut seconds = 30u64;
    let mut wanted: Vec<&str> = Vec::new();
    for arg in args.iter().filter(|a| !a.starts_with("--")) {
        match arg.parse() {
            Ok(n) => seconds = n,
            Err(_) => wanted.push(arg),
        }
    }
    let known: Vec<&str> = CRATES
        .iter()
        .flat_map(|c| c.targets.iter().copied())
        .collect();
    if let Some(unknown) = wanted.iter().find(|w| !known.contains(w)) {
        bail!(
            "unknown fuzz target {unknown:?}; targets: {}",
            known.join(", ")
        );
    }
    let selected = |target: &str| wanted.is_empty() || wanted.contains(&target);
    if !smoke && libfuzzer_available() {
        for krate in CRATES {
            for target in krate.targets.iter().filter(|t| selected(t)) {
                libfuzzer(krate, target, seconds)?;
            }
        }
        return Ok(());
    }
    eprintln!(
        "xtask fuzz: {}: running the stable mutation smoke runs instead of libFuzzer",
        if smoke {
            "--smoke given"
        } else {
            "no nightly toolchain or cargo-fuzz"
        }
    );
    let iterations = (seconds * 2_000).to_string();
    for krate in CRATES {
        if krate.targets.iter().any(|t| selected(t)) {
            cmd::run(
                Command::new("cargo")
                    .current_dir(cmd::root().join(krate.dir))
                    .args([
                        "run",
                        "--release",
                        "--no-default-features",
                        "--bin",
                        "smoke",
                        "--",
                    ])
                    .arg(&iterations),
            )?;
        }
    }
    Ok(())
}

fn succeeds(cmd: &mut Command) -> bool {
    cmd.output().is_ok_and(|o| o.status.success())
}

fn libfuzzer_available() -> bool {
    if !succeeds(Command::new("cargo").args(["+nightly", "--version"])) {
        return false;
    }
    if succeeds(Command::new("cargo").args(["fuzz", "--version"])) {
        return true;
    }
    eprintln!("xtask fuzz: cargo-fuzz is missing; trying `cargo install cargo-fuzz --locked`");
    cmd::run(Command::new("cargo").args(["install", "cargo-fuzz", "--locked"])).is_ok()
}

/// Copies the files of `from` with extension `ext` (any, when empty) into `to`.
fn copy_seeds(from: &Path, ext: &str, to: &Path) -> Result<()> {
    for entry in std::fs::read_dir(from).into_iter().flatten() {
        let path = entry?.path();
        let matches = ext.is_empty() || path.extension().is_some_and(|e| e == ext);
        if let Some(name) = path.file_name()
            && path.is_file()
            && matches
        {
            std::fs::copy(&path, to.join(name))?;
        }
    }
    Ok(())
}

fn libfuzzer(krate: &FuzzCrate, target: &str, seconds: u64) -> Result<()> {
    let dir = cmd::root().join(krate.dir);
    let corpus = dir.join("corpus").join(target);
    std::fs::create_dir_all(&corpus).with_context(|| corpus.display().to_string())?;
    copy_seeds(&dir.join("seeds").join(target), "", &corpus)?;
    copy_seeds(&dir.join("regressions").join(target), "", &corpus)?;
    match target {
        "caffemodel" | "prototxt" => {
            copy_seeds(&dir.join("../tests/fixtures"), target, &corpus)?;
        }
        "npz" => copy_seeds(&dir.join("../tests/fixtures/golden"), "npz", &corpus)?,
        "onnx" => copy_seeds(&dir.join("../tests/fixtures/ops"), "onnx", &corpus)?,
        _ => {}
    }
    cmd::run(
        Command::new("cargo")
            .current_dir(&dir)
            .args([
                "+nightly",
                "fuzz",
                "run",
                "-O",
                "-s",
                krate.sanitizer,
                target,
            ])
            .arg(&corpus)
            .args([
                "--",
                &format!("-max_total_time={seconds}"),
                "-print_final_stats=1",
            ]),
    )
}

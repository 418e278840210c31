//! `cargo xtask fuzz [SECONDS] [--smoke]`: runs each cargo-fuzz target of
//! crates/zoo-caffe/fuzz (caffemodel reader, prototxt parser) for SECONDS
//! (default 30), seeded with the committed fixtures. Needs a nightly
//! toolchain and cargo-fuzz (installed with `cargo install cargo-fuzz` when
//! missing); without them, or with --smoke, it falls back to a bounded
//! seeded mutation run of the same target functions on stable Rust.

use crate::cmd;
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;

const TARGETS: &[(&str, &str)] = &[("caffemodel", "caffemodel"), ("prototxt", "prototxt")];

pub fn run(args: &[String]) -> Result<()> {
    let smoke = args.iter().any(|a| a == "--smoke");
    let seconds: u64 = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(|a| a.parse().context("SECONDS must be a whole number"))
        .transpose()?
        .unwrap_or(30);
    let dir = cmd::root().join("crates/zoo-caffe/fuzz");
    if !smoke && libfuzzer_available() {
        return libfuzzer(&dir, seconds);
    }
    eprintln!(
        "xtask fuzz: {}: running the stable mutation smoke run instead of libFuzzer",
        if smoke {
            "--smoke given"
        } else {
            "no nightly toolchain or cargo-fuzz"
        }
    );
    let iterations = (seconds * 2_000).to_string();
    cmd::run(
        Command::new("cargo")
            .current_dir(&dir)
            .args([
                "run",
                "--release",
                "--no-default-features",
                "--bin",
                "smoke",
                "--",
            ])
            .arg(iterations),
    )
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

fn libfuzzer(dir: &Path, seconds: u64) -> Result<()> {
    let fixtures = cmd::root().join("crates/zoo-caffe/tests/fixtures");
    for (target, ext) in TARGETS {
        let corpus = dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).with_context(|| corpus.display().to_string())?;
        for entry in std::fs::read_dir(&fixtures)? {
            let path = entry?.path();
            if let Some(name) = path.file_name()
                && path.extension().is_some_and(|e| e == *ext)
            {
                std::fs::copy(&path, corpus.join(name))?;
            }
        }
        cmd::run(
            Command::new("cargo")
                .current_dir(dir)
                .args(["+nightly", "fuzz", "run", target])
                .arg(&corpus)
                .args(["--", &format!("-max_total_time={seconds}")]),
        )?;
    }
    Ok(())
}

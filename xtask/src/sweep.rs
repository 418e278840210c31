//! `cargo xtask sweep onnx [NAME ...]`: the ONNX importer on the models
//! people export today. `crates/zoo-onnx/bench/sweep.py` builds image and
//! language architectures from torchvision, timm and Hugging Face
//! transformers with seeded random weights and exports them with torch 2.11
//! (TorchScript-based exporter at opset 17; some also through the default
//! dynamo exporter), each with ONNX Runtime's answer to a fixed input. Each
//! export is then imported with the release `zoo import onnx` and checked by
//! `zoo verify` against ONNX Runtime's answer (the package's golden file
//! replaced by it), within the importer's 1e-4 relative tolerance.
//!
//! timm and transformers go into `.cache/onnx-sweep/site` (pinned, beside
//! `.venv-onnx`'s torch and ONNX Runtime); the exports are cached in
//! `.cache/onnx-sweep/models`. Prints a markdown table, writes it to
//! `target/onnx-sweep/results.md` (a full sweep also into
//! docs/onnx-models.md), and fails when any exported model does not import
//! or verify. Not part of `cargo xtask test` (about 15 minutes
//! from cold on 2 cores); the per-operator fixtures and the large ones there
//! cover what the sweep found.

use crate::{cmd, python};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The sweep's extra libraries, pinned.
const TRANSFORMERS: &str = "transformers==4.57.1";
const TIMM: &str = "timm==1.0.22";
const SCRIPT: &str = "crates/zoo-onnx/bench/sweep.py";
/// Where a full sweep's table goes (its "results" section).
const DOC: &str = "docs/onnx-models.md";

pub fn run(args: &[String]) -> Result<()> {
    match args.split_first() {
        Some((what, names)) if what == "onnx" => onnx(names),
        _ => bail!("usage: cargo xtask sweep onnx [NAME ...] (names from {SCRIPT})"),
    }
}

struct Row {
    name: String,
    source: String,
    outcome: Outcome,
}

enum Outcome {
    ExportFailed(String),
    ImportFailed(String),
    Verified { seconds: f64, difference: f64 },
    VerifyFailed(String),
}

fn onnx(names: &[String]) -> Result<()> {
    let python = python::onnx_python()?;
    let cache = cmd::root().join(".cache/onnx-sweep");
    let site = site_packages(&python, &cache.join("site"))?;
    let models = cache.join("models");
    cmd::run(
        Command::new(&python)
            .arg(cmd::root().join(SCRIPT))
            .arg(&models)
            .args(names)
            .env("PYTHONPATH", &site),
    )?;
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "zoo-cli", "-p", "zoo-torch-cli"]))?;
    let zoo = cmd::target_dir().join("release/zoo");
    let out_dir = cmd::target_dir().join("onnx-sweep");
    let work = out_dir.join("work");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work)?;

    let exports = std::fs::read_to_string(models.join("exports.tsv"))
        .with_context(|| format!("{}: the exporter wrote no list", models.display()))?;
    let mut rows = Vec::new();
    for line in exports.lines().filter(|l| !l.trim().is_empty()) {
        let fields: Vec<&str> = line.split('\t').collect();
        let [name, source, status, message] = fields.as_slice() else {
            bail!("exports.tsv: unexpected line {line:?}");
        };
        let outcome = if *status == "ok" {
            check(&zoo, &models, &work, name)?
        } else {
            Outcome::ExportFailed(message.to_string())
        };
        eprintln!("{name}: {}", outcome.short());
        rows.push(Row {
            name: name.to_string(),
            source: source.to_string(),
            outcome,
        });
    }
    let _ = std::fs::remove_dir_all(&work);
    let text = markdown(&rows);
    print!("{text}");
    std::fs::write(out_dir.join("results.md"), &text)?;
    if names.is_empty() {
        let date = cmd::output(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))?;
        let section = format!(
            "## results\n\nMeasured {} by `cargo xtask sweep onnx` (torch 2.11.0, timm 1.0.22, transformers 4.57.1).\n\n{text}",
            date.trim()
        );
        crate::bench::replace_generated_section(&cmd::root().join(DOC), "results", &section)?;
    }
    let failed: Vec<&str> = rows
        .iter()
        .filter(|r| {
            matches!(
                r.outcome,
                Outcome::ImportFailed(_) | Outcome::VerifyFailed(_)
            )
        })
        .map(|r| r.name.as_str())
        .collect();
    if !failed.is_empty() {
        bail!(
            "{} exported models did not import or verify: {}",
            failed.len(),
            failed.join(", ")
        );
    }
    Ok(())
}

/// Installs the pinned libraries into `dir` once (marked by a file naming
/// them) and returns it for PYTHONPATH.
fn site_packages(python: &Path, dir: &Path) -> Result<PathBuf> {
    let marker = dir.join(".zoo-sweep-packages");
    let wanted = format!("{TRANSFORMERS} {TIMM}");
    if std::fs::read_to_string(&marker).is_ok_and(|text| text.trim() == wanted) {
        return Ok(dir.to_path_buf());
    }
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let target = dir
        .to_str()
        .with_context(|| format!("{}: not UTF-8", dir.display()))?;
    let pip = |args: &[&str]| python::pip_install(python, &[&["--target", target], args].concat());
    // transformers with its dependencies (none of them torch); timm without
    // its own, which are torch, torchvision (`.venv-onnx` has them) and
    // what transformers brought.
    pip(&[TRANSFORMERS])?;
    pip(&["--no-deps", TIMM])?;
    std::fs::write(&marker, &wanted)?;
    Ok(dir.to_path_buf())
}

/// Imports `name` and verifies it against ONNX Runtime's answer.
fn check(zoo: &Path, models: &Path, work: &Path, name: &str) -> Result<Outcome> {
    let package = work.join(name);
    let started = Instant::now();
    // The fixed input is the one ONNX Runtime answered, as a user gives a
    // real one (`--golden-input`); the answer itself replaces golden.npz.
    let given = format!("x={}", models.join(format!("{name}.input.npy")).display());
    let import = Command::new(zoo)
        .args(["import", "onnx", "--quiet", "--golden-input", &given])
        .arg(models.join(format!("{name}.onnx")))
        .arg("-o")
        .arg(&package)
        .output()
        .context("starting zoo import onnx")?;
    let seconds = started.elapsed().as_secs_f64();
    if !import.status.success() {
        return Ok(Outcome::ImportFailed(first_line(&import.stderr)));
    }
    std::fs::copy(
        models.join(format!("{name}.npz")),
        package.join("golden.npz"),
    )?;
    let verify = Command::new(zoo)
        .arg("verify")
        .arg(&package)
        .output()
        .context("starting zoo verify")?;
    let _ = std::fs::remove_dir_all(&package);
    let stdout = String::from_utf8_lossy(&verify.stdout);
    let difference = stdout
        .lines()
        .filter_map(|l| l.split("max relative difference ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
        .fold(None, |worst: Option<f64>, d| {
            Some(worst.map_or(d, |w| w.max(d)))
        });
    Ok(match (verify.status.success(), difference) {
        (true, Some(difference)) => Outcome::Verified {
            seconds,
            difference,
        },
        _ => Outcome::VerifyFailed(format!(
            "{} {}",
            first_line(&verify.stdout),
            first_line(&verify.stderr)
        )),
    })
}

fn first_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().next().unwrap_or("").trim();
    line.chars().take(240).collect()
}

impl Outcome {
    fn short(&self) -> String {
        match self {
            Outcome::ExportFailed(m) => format!("export failed: {m}"),
            Outcome::ImportFailed(m) => format!("IMPORT FAILED: {m}"),
            Outcome::Verified {
                seconds,
                difference,
            } => format!("{difference:.1e} of ONNX Runtime (import {seconds:.2} s)"),
            Outcome::VerifyFailed(m) => format!("VERIFY FAILED: {m}"),
        }
    }
}

fn markdown(rows: &[Row]) -> String {
    let verified = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Verified { .. }))
        .count();
    let exported = rows
        .iter()
        .filter(|r| !matches!(r.outcome, Outcome::ExportFailed(_)))
        .count();
    let mut text = format!(
        "{verified} of {exported} exported models import and match ONNX Runtime within 1e-4 ({} tried).\n\n\
         | model | from | result | max relative difference | import (s) |\n|---|---|---|---|---|\n",
        rows.len()
    );
    for row in rows {
        let (result, difference, seconds) = match &row.outcome {
            Outcome::Verified {
                seconds,
                difference,
            } => (
                "OK".to_string(),
                format!("{difference:.1e}"),
                format!("{seconds:.2}"),
            ),
            Outcome::ExportFailed(m) => (
                format!("not exported: {}", escape(m)),
                String::new(),
                String::new(),
            ),
            Outcome::ImportFailed(m) => (
                format!("**import failed**: {}", escape(m)),
                String::new(),
                String::new(),
            ),
            Outcome::VerifyFailed(m) => (
                format!("**verify failed**: {}", escape(m)),
                String::new(),
                String::new(),
            ),
        };
        text.push_str(&format!(
            "| {} | {} | {result} | {difference} | {seconds} |\n",
            row.name, row.source
        ));
    }
    text
}

fn escape(text: &str) -> String {
    text.replace('|', "\\|").chars().take(160).collect()
}

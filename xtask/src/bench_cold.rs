//! `cargo xtask bench cold-run [--runs N]`: the headline's cold start, side
//! by side in one run. zoo: `zoo run DIR IMAGE --json` (release build) on
//! the `vgg16` package that `zoo import caffe --like models/vgg16` makes
//! from the synthetic 553 MB VGG16-shaped caffemodel. Peer: a fresh
//! `python models/bench/cold_run.py DIR IMAGE`, loading the same
//! weights.safetensors into torchvision 0.26's VGG16 (PyTorch eager, the
//! .venv's torch 2.11) and classifying the same image with the same
//! preprocessing. Each is a new process from start to printed labels;
//! runs alternate; medians and the ratio go into the "cold-run" section of
//! BENCHMARKS.md.

use crate::cmd;
use anyhow::{Context, Result, bail};
use std::process::Command;
use std::time::Instant;

pub fn run(args: &[String]) -> Result<()> {
    let runs = match args {
        [] => 5,
        [flag, n] if flag == "--runs" => n.parse().context("--runs N")?,
        _ => bail!("usage: cargo xtask bench cold-run [--runs N]"),
    };
    crate::setup::run()?;
    let root = cmd::root();
    let python = root.join(".venv/bin/python");
    let peer_ready = Command::new(&python)
        .args(["-c", "import numpy, torchvision, safetensors, PIL"])
        .status()
        .is_ok_and(|s| s.success());
    if !peer_ready {
        cmd::run(Command::new(root.join(".venv/bin/pip")).args([
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            crate::python::TORCHVISION,
            "numpy",
            "safetensors",
            "pillow",
        ]))?;
    }
    cmd::run(cmd::cargo().args(["build", "--release", "-p", "zoo-cli", "-p", "zoo-torch-cli"]))?;
    let target = cmd::target_dir();
    let zoo = target.join("release/zoo");

    let caffemodel = crate::bench_caffe::synthetic_vgg16()?;
    let package = root.join(".cache/zoo-caffe/cold-run/vgg16");
    if !package.join("zoo.toml").is_file() {
        let _ = std::fs::remove_dir_all(&package);
        if let Some(parent) = package.parent() {
            std::fs::create_dir_all(parent)?;
        }
        cmd::run(crate::bench_caffe::import_vgg16(
            &mut Command::new(&zoo),
            &root,
            &caffemodel,
            &package,
        ))?;
    }
    let image = root.join("models/vgg-mini/examples/0-diamond.png");
    let peer = root.join("models/bench/cold_run.py");

    let mut zoo_times = Vec::new();
    let mut peer_times = Vec::new();
    let mut labels = (String::new(), String::new());
    // One unmeasured run each puts the files in the page cache for both.
    for round in 0..=runs {
        let (seconds, top) = timed_top1(
            Command::new(&zoo)
                .arg("run")
                .arg(&package)
                .arg(&image)
                .arg("--json"),
        )?;
        if round > 0 {
            zoo_times.push(seconds);
        }
        labels.0 = top;
        let (seconds, top) =
            timed_top1(Command::new(&python).arg(&peer).arg(&package).arg(&image))?;
        if round > 0 {
            peer_times.push(seconds);
        }
        labels.1 = top;
    }
    let zoo_median = median(&mut zoo_times);
    let peer_median = median(&mut peer_times);
    let ratio = zoo_median / peer_median;
    let text = format!(
        "## cold-run\n\n\
         `cargo xtask bench cold-run --runs {runs}`: process start to printed top-5 labels for \
         one 224×224 image, on the `vgg16` package imported with `--like models/vgg16` from the \
         synthetic VGG16-shaped caffemodel (553 MB of weights, synthetic values). zoo: release \
         `zoo run DIR IMAGE --json`. Peer: `python models/bench/cold_run.py` (torchvision 0.26 \
         VGG16, PyTorch 2.11 eager, the same weights.safetensors via the safetensors package, \
         the same preprocessing). Fresh processes, alternating, page cache warm, medians of \
         {runs}; shared 2-core machine.\n\n\
         | | median (s) | top-1 label |\n|---|---|---|\n\
         | zoo run | {zoo_median:.2} | {} |\n\
         | PyTorch + torchvision | {peer_median:.2} | {} |\n\n\
         **zoo / PyTorch: {ratio:.2}×** (issue #14's goal: ≤ 0.5×). Same top-1 label: {}.\n\n",
        labels.0,
        labels.1,
        if labels.0 == labels.1 { "yes" } else { "no" },
    );
    print!("{text}");
    crate::bench::replace_generated_section(&root.join("BENCHMARKS.md"), "cold-run", &text)
}

/// Runs `command`, returning its wall time and the first label of its JSON
/// (`zoo run --json` prints an array of results, the peer one result).
fn timed_top1(command: &mut Command) -> Result<(f64, String)> {
    let started = Instant::now();
    let out = command
        .output()
        .with_context(|| format!("starting {command:?}"))?;
    let seconds = started.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!(
            "{command:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let label = first_label(&text).with_context(|| format!("no label in {text}"))?;
    Ok((seconds, label))
}

/// The first `"label": "…"` value of a JSON text (xtask stays free of a JSON crate).
fn first_label(text: &str) -> Option<String> {
    let start = text.find("\"label\"")? + "\"label\"".len();
    let rest = text[start..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_label_is_read_from_either_shape() {
        let zoo = r#"[{"file":"x.png","top":[{"class":3,"label":"king crab","probability":0.5}]}]"#;
        assert_eq!(first_label(zoo).as_deref(), Some("king crab"));
        let peer = r#"{"top": [{"label": "plunger", "probability": 0.9}]}"#;
        assert_eq!(first_label(peer).as_deref(), Some("plunger"));
        assert_eq!(first_label("{}"), None);
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0]), 4.0);
    }
}

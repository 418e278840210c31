//! `cargo xtask bench models [--threads N] [--runs N]`: zoo's VGG16 forward
//! (1×3×224×224) and peephole LSTM (seq 100, batch 32, 256 → 256), CPU,
//! inference, against PyTorch eager (VGG16 in plain torch.nn, nn.LSTM; the
//! .venv's torch) and Chainer 7.8.1 (VGG16Layers, StatefulPeepholeLSTM;
//! .venv-chainer), one run on the same machine. Prints the times and ratios
//! and writes them into the "models" section of BENCHMARKS.md.

use crate::{cmd, python};
use anyhow::{Context, Result, bail};
use serde_json_lite::Json;
use std::path::{Path, PathBuf};
use std::process::Command;

mod serde_json_lite {
    //! The peers print flat JSON objects of numbers; xtask stays dependency-free.
    pub struct Json(pub Vec<(String, f64)>);
    impl Json {
        pub fn parse(line: &str) -> Json {
            let body = line.trim().trim_start_matches('{').trim_end_matches('}');
            Json(
                body.split(',')
                    .filter_map(|pair| {
                        let (k, v) = pair.split_once(':')?;
                        Some((
                            k.trim().trim_matches('"').to_string(),
                            v.trim().parse().ok()?,
                        ))
                    })
                    .collect(),
            )
        }
        pub fn get(&self, key: &str) -> Option<f64> {
            self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
        }
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let mut threads = 2;
    let mut runs = 5;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--threads" => threads = it.next().context("--threads needs a value")?.parse()?,
            "--runs" => runs = it.next().context("--runs needs a value")?.parse()?,
            other => bail!("unknown option {other:?} (expected --threads N, --runs N)"),
        }
    }
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "-p",
        "zoo-models",
        "--bin",
        "zoo-bench",
    ]))?;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| cmd::root().join("target"));
    let (t, r) = (threads.to_string(), runs.to_string());
    let zoo = Json::parse(&cmd::output(
        Command::new(target.join("release/zoo-bench")).args([&t, &r]),
    )?);
    let script = cmd::root().join("models/bench/peers.py");
    let torch_python = cmd::root().join(".venv/bin/python");
    let torch = Json::parse(&cmd::output(
        Command::new(&torch_python)
            .arg(&script)
            .args(["torch", &t, &r]),
    )?);
    let chainer_python = python::chainer_python()?;
    let chainer = Json::parse(&cmd::output(
        Command::new(&chainer_python)
            .arg(&script)
            .args(["chainer", &t, &r])
            .env("OMP_NUM_THREADS", &t),
    )?);
    let value = |json: &Json, key: &str| json.get(key).with_context(|| format!("{key} missing"));
    let rows = [
        (
            "VGG16 forward 1x3x224x224",
            value(&zoo, "vgg16_forward_s")?,
            "PyTorch eager (torch.nn VGG16)",
            value(&torch, "vgg16_forward_s")?,
            "Chainer VGG16Layers",
            value(&chainer, "vgg16_forward_s")?,
        ),
        (
            "Peephole LSTM seq 100, batch 32, H 256",
            value(&zoo, "peephole_lstm_s")?,
            "PyTorch nn.LSTM (no peepholes, fused)",
            value(&torch, "lstm_s")?,
            "Chainer StatefulPeepholeLSTM",
            value(&chainer, "peephole_lstm_s")?,
        ),
    ];
    let mut text = format!(
        "## models\n\n`cargo xtask bench models` (CPU, {threads} threads, inference, median of {runs} runs after a warm-up; one run on the same machine). Ratio = peer time / zoo time (> 1: zoo is faster).\n\n| workload | zoo | peer | peer time | ratio |\n|---|---|---|---|---|\n"
    );
    for (name, zoo_s, torch_name, torch_s, chainer_name, chainer_s) in rows {
        text += &format!(
            "| {name} | {zoo_s:.4} s | {torch_name} | {torch_s:.4} s | {:.2} |\n",
            torch_s / zoo_s
        );
        text += &format!(
            "| {name} | {zoo_s:.4} s | {chainer_name} | {chainer_s:.4} s | {:.2} |\n",
            chainer_s / zoo_s
        );
    }
    print!("{text}");
    write_section(&cmd::root().join("BENCHMARKS.md"), &text)
}

/// Replaces the "## models" section of BENCHMARKS.md (up to the next "## ") or appends it.
fn write_section(path: &Path, section: &str) -> Result<()> {
    let old = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n\n".into());
    let new = match old.find("## models\n") {
        Some(start) => {
            let rest = &old[start + 1..];
            let end = rest.find("\n## ").map_or(old.len(), |i| start + 1 + i + 1);
            format!("{}{}{}", &old[..start], section, &old[end..])
        }
        None => format!("{}\n\n{}", old.trim_end(), section),
    };
    std::fs::write(path, new).with_context(|| path.display().to_string())
}

//! `cargo xtask bench models [--threads N] [--runs N] [--rounds N]`: zoo's VGG16 forward
//! (1×3×224×224) and peephole LSTM (seq 100, batch 32, 256 → 256), CPU,
//! inference, against PyTorch eager (VGG16 in plain torch.nn, nn.LSTM; the
//! .venv's torch) and Chainer 7.8.1 (VGG16Layers, StatefulPeepholeLSTM;
//! .venv-chainer), one run on the same machine. Prints the times and ratios
//! and writes them into the "models" section of BENCHMARKS.md.

use crate::{cmd, python};
use anyhow::{Context, Result, bail};
use serde_json_lite::Json;
use std::process::Command;

pub mod serde_json_lite {
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
        /// Key by key, the median over several runs' objects (keys of the first).
        pub fn median(all: &[Json]) -> Json {
            let keys = all.first().map(|j| j.0.clone()).unwrap_or_default();
            Json(
                keys.into_iter()
                    .filter_map(|(key, _)| {
                        let mut values: Vec<f64> = all.iter().filter_map(|j| j.get(&key)).collect();
                        values.sort_by(f64::total_cmp);
                        Some((key, *values.get(values.len() / 2)?))
                    })
                    .collect(),
            )
        }
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let mut threads = 2;
    let mut runs = 5;
    let mut rounds = 3;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--threads" => threads = it.next().context("--threads needs a value")?.parse()?,
            "--runs" => runs = it.next().context("--runs needs a value")?.parse()?,
            "--rounds" => rounds = it.next().context("--rounds needs a value")?.parse()?,
            other => {
                bail!("unknown option {other:?} (expected --threads N, --runs N, --rounds N)")
            }
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
    let target = cmd::target_dir();
    let (t, r) = (threads.to_string(), runs.to_string());
    let script = cmd::root().join("models/bench/peers.py");
    let torch_python = cmd::root().join(".venv/bin/python");
    // zoo and PyTorch alternate, round by round, so that a slower or faster
    // spell of the machine falls on both; each figure is the median over the
    // rounds of the per-round medians.
    let (mut zoo_rounds, mut torch_rounds) = (Vec::new(), Vec::new());
    for _ in 0..rounds.max(1) {
        zoo_rounds.push(Json::parse(&cmd::output(
            Command::new(target.join("release/zoo-bench")).args([&t, &r]),
        )?));
        torch_rounds.push(Json::parse(&cmd::output(
            Command::new(&torch_python)
                .arg(&script)
                .args(["torch", &t, &r]),
        )?));
    }
    let zoo = Json::median(&zoo_rounds);
    let torch = Json::median(&torch_rounds);
    let chainer_python = python::chainer_python()?;
    let chainer = Json::parse(&cmd::output(
        Command::new(&chainer_python)
            .arg(&script)
            .args(["chainer", &t, &r])
            .env("OMP_NUM_THREADS", &t),
    )?);
    let value = |json: &Json, key: &str| json.get(key).with_context(|| format!("{key} missing"));
    let full = value(&zoo, "peephole_lstm_s")?;
    let diagonal = value(&zoo, "diagonal_peephole_lstm_s")?;
    let lstm = value(&torch, "lstm_s")?;
    let vgg16 = value(&zoo, "vgg16_forward_s")?;
    let (full_name, diagonal_name) = (
        "Peephole LSTM seq 100, batch 32, H 256 (Chainer's full peepholes)",
        "Peephole LSTM seq 100, batch 32, H 256 (Gers' diagonal peepholes)",
    );
    let rows = [
        (
            "VGG16 forward 1x3x224x224",
            vgg16,
            "PyTorch eager (torch.nn VGG16)",
            value(&torch, "vgg16_forward_s")?,
        ),
        (
            "VGG16 forward 1x3x224x224",
            vgg16,
            "PyTorch channels-last (same net, NHWC weights and input)",
            value(&torch, "vgg16_channels_last_s")?,
        ),
        (
            "VGG16 forward 1x3x224x224",
            vgg16,
            "Chainer VGG16Layers",
            value(&chainer, "vgg16_forward_s")?,
        ),
        (
            full_name,
            full,
            "PyTorch nn.LSTM (no peepholes, fused)",
            lstm,
        ),
        (
            full_name,
            full,
            "Chainer StatefulPeepholeLSTM",
            value(&chainer, "peephole_lstm_s")?,
        ),
        (
            diagonal_name,
            diagonal,
            "PyTorch nn.LSTM (no peepholes, fused)",
            lstm,
        ),
    ];
    let mut text = format!(
        "## models\n\n`cargo xtask bench models` (CPU, {threads} threads, inference; zoo and PyTorch alternate for {rounds} rounds of {runs} runs after a warm-up, each figure the median of the rounds' medians; Chainer once; one run on the same machine). Ratio = peer time / zoo time (> 1: zoo is faster); zoo/peer is the share of the peer's time zoo takes.\n\n| workload | zoo | peer | peer time | ratio | zoo/peer |\n|---|---|---|---|---|---|\n"
    );
    for (name, zoo_s, peer_name, peer_s) in rows {
        text += &format!(
            "| {name} | {zoo_s:.4} s | {peer_name} | {peer_s:.4} s | {:.2} | {:.2}x |\n",
            peer_s / zoo_s,
            zoo_s / peer_s
        );
    }
    print!("{text}");
    crate::bench::replace_generated_section(&cmd::root().join("BENCHMARKS.md"), "models", &text)
}

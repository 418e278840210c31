//! `cargo xtask train MODEL [--seed N] [ARGS…]`: builds zoo-models' release
//! `zoo-train` binary and runs it from the workspace root, which writes the
//! package folder models/<MODEL>/ (weights, zoo.toml, model card, log).

use crate::cmd;
use anyhow::{Result, bail};

const MODELS: &[&str] = &["vgg-mini", "peephole-lstm", "nested-rnn", "cell-counter"];

/// The arguments each model is trained with by default (the committed packages).
fn default_args(model: &str) -> &'static [&'static str] {
    match model {
        "peephole-lstm" => &["--also-seeds", "1,2"],
        // One torch thread per model: the per-frame baseline trains on a
        // second thread alongside, and on a loaded 2-core machine two spinning
        // intra-op pools made the small recurrent ops ten times slower.
        "nested-rnn" => &["--compare", "--threads", "1"],
        "vgg-mini" => &["--steps", "2500"],
        _ => &[],
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let Some(model) = args.first() else {
        bail!(
            "usage: cargo xtask train <{}> [--seed N] [zoo-train options]",
            MODELS.join("|")
        );
    };
    if !MODELS.contains(&model.as_str()) {
        bail!(
            "unknown model {model:?}: expected one of {}",
            MODELS.join(", ")
        );
    }
    let mut command = cmd::cargo();
    command.args([
        "run",
        "--release",
        "--package",
        "zoo-models",
        "--bin",
        "zoo-train",
        "--",
    ]);
    command.arg(model);
    let extra = &args[1..];
    if extra.is_empty() {
        command.args(default_args(model));
    } else {
        command.args(extra);
    }
    cmd::run(&mut command)?;
    // The README's table shows what the new zoo.toml records.
    crate::models_table::run(&[])
}

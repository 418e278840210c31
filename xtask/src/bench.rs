//! `cargo xtask bench <install|models|caffe|load>`: each benchmark runs zoo and its
//! named peer side by side in one run and prints ratios (see BENCHMARKS.md).

use anyhow::{Result, bail};

pub fn run(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("install") => crate::bench_install::run(&args[1..]),
        Some("caffe") => crate::bench_caffe::run(&args[1..]),
        Some("models") => crate::bench_models::run(&args[1..]),
        Some("load") => crate::bench_load::run(&args[1..]),
        Some(other) => {
            bail!("unknown benchmark {other:?}: expected install, models, caffe or load")
        }
        None => bail!("usage: cargo xtask bench <install|models|caffe|load>"),
    }
}

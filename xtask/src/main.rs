//! `cargo xtask …`: the project's own automation. It must build and run before
//! libtorch exists, so it depends on nothing that links tch.

mod bench;
mod bench_caffe;
mod bench_cold;
mod bench_install;
mod bench_load;
mod bench_models;
mod bench_onnx;
mod cmd;
mod crash;
mod demo;
mod demo_registry;
mod demo_run;
mod demo_sources;
mod fuzz;
mod gpu;
mod links;
mod models_table;
mod python;
mod services;
mod setup;
mod sweep;
mod test;
mod train;

use anyhow::{Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

  setup       install libtorch (torch==2.11.0 from PyPI) into .venv; idempotent
  setup-services  PostgreSQL, nginx, Chromium (apt-get if missing) and s3s-fs (.tools/) for
              the registry's backend and browser tests; idempotent
  test        setup, setup-services, fmt --check, clippy -D warnings, build, all
              tests, then the e2e suite again on PostgreSQL + S3
  demo        setup, build, start a local registry, publish, install, run
  links       the custom-Link worked example with full cargo builds (see README)
  fixtures    regenerate the golden files from Chainer 7.8.1 and ONNX Runtime
              (own venvs); `fixtures onnx-large`: the torchvision ONNX models
  train M     train a built-in model on synthetic data (see models/README.md)
  models-table  regenerate models/README.md's table from the packages' zoo.toml
              (--check: fail if it is out of date)
  bench B     benchmarks side by side with their peers: install, models, caffe, onnx,
              load, cold-run (see BENCHMARKS.md)
  sweep onnx  import ~60 torchvision, timm and transformers exports and check
              each against ONNX Runtime (docs/onnx-models.md)
  fuzz        run each cargo-fuzz target briefly (SECONDS each, default 30)
  crash       SIGKILL zoo install / zoo-registry at random points (--runs 100)
  gpu-check   build here and prepare the CUDA check for a GPU machine
";

fn main() {
    if let Err(error) = run() {
        eprintln!("xtask: error: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(command) = args.first() else {
        print!("{USAGE}");
        return Ok(());
    };
    let rest = &args[1..];
    match command.as_str() {
        "setup" => setup::run().map(|_| ()),
        "setup-services" => services::run(),
        "test" => test::run(rest),
        "demo" => demo::run(rest),
        "links" => links::run(rest),
        "fixtures" => python::fixtures(rest),
        "gpu-check" => gpu::run(rest),
        "bench" => bench::run(rest),
        "fuzz" => fuzz::run(rest),
        "crash" => crash::run(rest),
        "train" => train::run(rest),
        "models-table" => models_table::run(rest),
        "sweep" => sweep::run(rest),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
}

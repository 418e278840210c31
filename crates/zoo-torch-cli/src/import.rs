//! `zoo import caffe [DEPLOY.prototxt] WEIGHTS.caffemodel -o DIR`: converts a
//! Caffe model into a zoo package (graph file + safetensors weights).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use zoo_term::outln;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a Caffe model: a deploy prototxt (optional) and a caffemodel.
    Caffe(CaffeArgs),
}

#[derive(Debug, Args)]
pub struct CaffeArgs {
    /// `DEPLOY.prototxt WEIGHTS.caffemodel`, or just `WEIGHTS.caffemodel`
    /// (its own structure is used, data and loss layers skipped).
    #[arg(required = true, num_args = 1..=2, value_name = "FILES")]
    files: Vec<PathBuf>,
    /// The package directory to create (must not exist or be empty).
    #[arg(long, short)]
    output: PathBuf,
    /// Package name (default: from the net's name).
    #[arg(long)]
    name: Option<String>,
    /// Package version (default 0.1.0).
    #[arg(long)]
    version: Option<semver::Version>,
}

pub fn run(command: ImportCommand, quiet: bool) -> Result<()> {
    match command {
        ImportCommand::Caffe(args) => caffe(args, quiet),
    }
}

fn caffe(args: CaffeArgs, quiet: bool) -> Result<()> {
    let (prototxt, caffemodel) = match args.files.as_slice() {
        [model] => (None, model),
        [deploy, model] => (Some(deploy.as_path()), model),
        _ => bail!("expected DEPLOY.prototxt WEIGHTS.caffemodel or WEIGHTS.caffemodel"),
    };
    let opts = zoo_caffe::ImportOptions {
        name: args.name,
        version: args.version,
        progress: !quiet,
    };
    let summary = zoo_caffe::import(prototxt, caffemodel, &args.output, &opts)
        .with_context(|| format!("importing {}", caffemodel.display()))?;
    if !quiet {
        outln!(
            "imported {} ({} layers, {} parameter tensors, {:.1} MB) into {}",
            summary.name,
            summary.layers,
            summary.parameters,
            summary.weight_bytes as f64 / 1e6,
            summary.out_dir.display()
        );
        outln!(
            "inputs: {}; outputs: {}",
            summary.inputs.join(", "),
            summary.outputs.join(", ")
        );
    }
    Ok(())
}

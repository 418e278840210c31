//! `zoo import caffe [DEPLOY.prototxt] WEIGHTS.caffemodel -o DIR` and
//! `zoo import onnx MODEL.onnx -o DIR`: convert a model into a zoo package
//! (graph file + safetensors weights + runnable metadata).

use crate::model_side::TorchModels;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use zoo_format::manifest::Task;
use zoo_term::outln;
use zoo_torch_args::{CaffeArgs, ConvertSourceArgs, ImportCommand, OnnxArgs};

/// Converts with exactly `zoo import caffe [DEPLOY] SOURCE --like PACKAGE`
/// (into a scratch folder beside the output) and keeps its weights file,
/// so that an install makes the bytes an import makes.
pub fn convert_source(args: ConvertSourceArgs) -> Result<()> {
    if args.output.exists() {
        bail!("{}: already exists", args.output.display());
    }
    let parent = match args.output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let scratch = tempfile::Builder::new()
        .prefix(".zoo-convert-")
        .tempdir_in(&parent)
        .with_context(|| format!("creating a scratch folder in {}", parent.display()))?;
    let out_dir = scratch.path().join("package");
    let opts = zoo_caffe::ImportOptions {
        like: Some(args.like),
        ..Default::default()
    };
    zoo_caffe::import(
        args.deploy.as_deref(),
        &args.source,
        &out_dir,
        &opts,
        &TorchModels,
    )
    .with_context(|| format!("converting {}", args.source.display()))?;
    let weights = out_dir.join(zoo_caffe::package::WEIGHTS_FILE);
    std::fs::rename(&weights, &args.output)
        .with_context(|| format!("moving the weights to {}", args.output.display()))?;
    Ok(())
}

pub fn run(command: ImportCommand, quiet: bool) -> Result<()> {
    match command {
        ImportCommand::Caffe(args) => caffe(args, quiet),
        ImportCommand::Onnx(args) => onnx(args, quiet),
    }
}

fn onnx(args: OnnxArgs, quiet: bool) -> Result<()> {
    let task = task_of(args.task, args.labels.is_some(), args.like.as_deref());
    let opts = zoo_onnx::ImportOptions {
        name: args.name,
        version: args.version,
        labels: args.labels,
        preprocess: zoo_caffe::PreprocessOptions {
            mean: args.mean,
            mean_file: None,
            channel_order: args.channel_order,
            scale: args.scale,
            std: args.std,
            resize: args.resize,
            crop: args.crop,
        },
        task: args.task,
        like: args.like,
        input_shapes: args.input_shape,
        golden_inputs: args.golden_input,
    };
    warn_unused_preprocessing(&opts.preprocess, task);
    let summary = zoo_onnx::import(&args.model, &args.output, &opts)
        .with_context(|| format!("importing {}", args.model.display()))?;
    if !quiet {
        let made = format!(
            "{} (opset {}, {} layers, {} nodes folded, {} parameter tensors, {:.1} MB)",
            summary.name,
            summary.opset,
            summary.layers,
            summary.folded,
            summary.parameters,
            summary.weight_bytes as f64 / 1e6,
        );
        print_imported(&made, &summary.out_dir, &summary.inputs, &summary.outputs);
    }
    Ok(())
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
        labels: args.labels,
        preprocess: zoo_caffe::PreprocessOptions {
            mean: args.mean,
            mean_file: args.mean_file,
            channel_order: args.channel_order,
            scale: args.scale,
            std: None,
            resize: args.resize,
            crop: args.crop,
        },
        task: args.task,
        like: args.like,
    };
    let task = task_of(opts.task, opts.labels.is_some(), opts.like.as_deref());
    warn_unused_preprocessing(&opts.preprocess, task);
    let summary = zoo_caffe::import(prototxt, caffemodel, &args.output, &opts, &TorchModels)
        .with_context(|| format!("importing {}", caffemodel.display()))?;
    if !quiet {
        let made = format!(
            "{} ({} layers, {} parameter tensors, {:.1} MB)",
            summary.name,
            summary.layers,
            summary.parameters,
            summary.weight_bytes as f64 / 1e6,
        );
        print_imported(&made, &summary.out_dir, &summary.inputs, &summary.outputs);
    }
    Ok(())
}

/// The task the package will get, as the importers decide it: the option,
/// else the `--like` package's, else classify when labels are given.
fn task_of(task: Option<Task>, labels: bool, like: Option<&Path>) -> Option<Task> {
    // An unreadable --like folder is the importer's to report.
    let like = like.and_then(|dir| zoo_caffe::runnable::LikePackage::read(dir).ok());
    zoo_caffe::runnable::resolve_task(task, like.as_ref(), labels)
}

/// Warns (before the import's work) when image preprocessing options are
/// given for a package without a task, which `zoo run` would not use.
fn warn_unused_preprocessing(options: &zoo_caffe::PreprocessOptions, task: Option<Task>) {
    if let Some(warning) = options.unused_without_task(task) {
        eprintln!("warning: {warning}");
    }
}

/// An import's report: the package it `made` (name and sizes), where, and
/// its inputs and outputs.
fn print_imported(made: &str, out_dir: &Path, inputs: &[String], outputs: &[String]) {
    outln!("imported {made} into {}", out_dir.display());
    outln!(
        "inputs: {}; outputs: {}",
        inputs.join(", "),
        outputs.join(", ")
    );
}

//! `zoo import caffe [DEPLOY.prototxt] WEIGHTS.caffemodel -o DIR` and
//! `zoo import onnx MODEL.onnx -o DIR`: convert a model into a zoo package
//! (graph file + safetensors weights + runnable metadata).

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use zoo_format::manifest::{ChannelOrder, Task};
use zoo_term::outln;

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a Caffe model: a deploy prototxt (optional) and a caffemodel.
    Caffe(CaffeArgs),
    /// Import an ONNX model (opsets 7 to 21; external data beside it).
    Onnx(OnnxArgs),
}

#[derive(Debug, Args)]
pub struct OnnxArgs {
    /// The `.onnx` file (external data files are read from its folder).
    #[arg(value_name = "MODEL.onnx")]
    model: PathBuf,
    /// The package directory to create (must not exist or be empty).
    #[arg(long, short)]
    output: PathBuf,
    /// Package name (default: from the file name).
    #[arg(long)]
    name: Option<String>,
    /// Package version (default 0.1.0).
    #[arg(long)]
    version: Option<semver::Version>,
    /// Labels of the classifier output, one per line; the count must equal
    /// its number of classes. Implies --task classify.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Per-channel mean subtracted from images (pixels 0–255), in
    /// --channel-order, e.g. 123.675,116.28,103.53 for torchvision.
    #[arg(long, value_name = "R,G,B", value_delimiter = ',', num_args = 1)]
    mean: Option<Vec<f64>>,
    /// Per-channel divisor applied after the mean, e.g. 58.395,57.12,57.375
    /// for torchvision (its std times 255).
    #[arg(long, value_name = "R,G,B", value_delimiter = ',', num_args = 1)]
    std: Option<Vec<f64>>,
    /// Multiplier applied after subtracting the mean.
    #[arg(long, value_name = "S")]
    scale: Option<f64>,
    /// Channel order of the input (default rgb).
    #[arg(long, value_name = "bgr|rgb", value_parser = parse_order)]
    channel_order: Option<ChannelOrder>,
    /// Resize images to H,W first (default: the input's shape).
    #[arg(long, value_name = "H,W", value_parser = parse_size)]
    resize: Option<[u32; 2]>,
    /// Cut H,W from the centre after resizing.
    #[arg(long, value_name = "H,W", value_parser = parse_size)]
    crop: Option<[u32; 2]>,
    /// How `zoo run` decodes the outputs: classify (top-k labels).
    #[arg(long, value_parser = parse_task)]
    task: Option<Task>,
    /// A model package folder whose preprocessing, labels, task and card
    /// the package takes (the architecture stays the imported graph; its
    /// labels must match the model's classes). The options above override it.
    #[arg(long, value_name = "PACKAGE_DIR")]
    like: Option<PathBuf>,
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
    /// Package version (default 0.1.0, or the --like package's).
    #[arg(long)]
    version: Option<semver::Version>,
    /// Labels of the classifier output, one per line; the count must equal
    /// its number of classes. Implies --task classify.
    #[arg(long, value_name = "FILE")]
    labels: Option<PathBuf>,
    /// Per-channel mean subtracted from images, in --channel-order (B,G,R
    /// for Caffe models), e.g. 103.939,116.779,123.68.
    #[arg(
        long,
        value_name = "B,G,R",
        value_delimiter = ',',
        num_args = 1,
        conflicts_with = "mean_file"
    )]
    mean: Option<Vec<f64>>,
    /// Caffe's mean.binaryproto; its per-channel average is the mean.
    #[arg(long, value_name = "FILE")]
    mean_file: Option<PathBuf>,
    /// Channel order of the input (Caffe models: bgr, the default when any
    /// preprocessing is given).
    #[arg(long, value_name = "bgr|rgb", value_parser = parse_order)]
    channel_order: Option<ChannelOrder>,
    /// Multiplier applied after subtracting the mean (pixels are 0–255).
    #[arg(long, value_name = "S")]
    scale: Option<f64>,
    /// Resize images to H,W first (default: the input's shape).
    #[arg(long, value_name = "H,W", value_parser = parse_size)]
    resize: Option<[u32; 2]>,
    /// Cut H,W from the centre after resizing (Caffe's crop_size).
    #[arg(long, value_name = "H,W", value_parser = parse_size)]
    crop: Option<[u32; 2]>,
    /// How `zoo run` decodes the outputs: classify (top-k labels).
    #[arg(long, value_parser = parse_task)]
    task: Option<Task>,
    /// A package folder with a built-in architecture (models/vgg16): the
    /// package is that architecture with the imported weights (checked
    /// layer by layer), its preprocessing, labels, task and card.
    #[arg(long, value_name = "PACKAGE_DIR")]
    like: Option<PathBuf>,
}

fn parse_order(text: &str) -> Result<ChannelOrder, String> {
    match text {
        "bgr" => Ok(ChannelOrder::Bgr),
        "rgb" => Ok(ChannelOrder::Rgb),
        other => Err(format!("{other:?}: expected bgr or rgb")),
    }
}

fn parse_task(text: &str) -> Result<Task, String> {
    match text {
        "classify" => Ok(Task::Classify),
        other => Err(format!("{other:?}: the known tasks are: classify")),
    }
}

/// `H,W` with both positive.
fn parse_size(text: &str) -> Result<[u32; 2], String> {
    let parts: Vec<&str> = text.split(',').collect();
    let [h, w] = parts.as_slice() else {
        return Err(format!("{text:?}: expected H,W such as 224,224"));
    };
    let parse = |s: &str| s.trim().parse::<u32>().ok().filter(|v| *v > 0);
    match (parse(h), parse(w)) {
        (Some(h), Some(w)) => Ok([h, w]),
        _ => Err(format!("{text:?}: expected two positive whole numbers H,W")),
    }
}

/// The tensor side of an import (zoo-caffe links no libtorch): built-in
/// architectures' parameters and golden recording, from zoo-models.
pub struct TorchModels;

impl zoo_caffe::ModelSide for TorchModels {
    fn builtin_parameters(
        &self,
        name: &str,
        config: &serde_json::Value,
    ) -> Result<Vec<(String, Vec<i64>)>, String> {
        zoo_models::package::builtin_parameters(name, config).map_err(|e| e.to_string())
    }

    fn record_golden(&self, staged: &std::path::Path) -> Result<(), String> {
        zoo_models::golden::record(staged)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

/// `zoo-torch convert-source`: what `zoo install` runs for a package whose
/// weights come from `[[model.sources]]` (not for people: `zoo install`
/// passes the staged package and the stored upstream file).
#[derive(Debug, Args)]
pub struct ConvertSourceArgs {
    /// The converter named by the source's `convert` (caffe).
    #[arg(long, value_name = "KIND", value_parser = ["caffe"])]
    convert: String,
    /// The package being installed: it is the --like folder of the import.
    #[arg(long, value_name = "PACKAGE_DIR")]
    like: PathBuf,
    /// The upstream file (a caffemodel).
    #[arg(long, value_name = "FILE")]
    source: PathBuf,
    /// The source's deploy prototxt inside the package, when it names one.
    #[arg(long, value_name = "FILE")]
    deploy: Option<PathBuf>,
    /// Where to write the converted weights (a new file).
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,
}

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
    };
    let summary = zoo_onnx::import(&args.model, &args.output, &opts)
        .with_context(|| format!("importing {}", args.model.display()))?;
    if !quiet {
        outln!(
            "imported {} (opset {}, {} layers, {} nodes folded, {} parameter tensors, {:.1} MB) into {}",
            summary.name,
            summary.opset,
            summary.layers,
            summary.folded,
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
    let summary = zoo_caffe::import(prototxt, caffemodel, &args.output, &opts, &TorchModels)
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

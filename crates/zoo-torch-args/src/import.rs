//! `zoo import caffe|onnx …` and the hidden `convert-source` that
//! `zoo install` runs for `[[model.sources]]`.

use clap::{Args, Subcommand};
use std::path::PathBuf;
use zoo_format::manifest::{ChannelOrder, Task};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Import a Caffe model: a deploy prototxt (optional) and a caffemodel.
    Caffe(CaffeArgs),
    /// Import an ONNX model (opsets 7 to 22; external data beside it).
    Onnx(OnnxArgs),
}

#[derive(Debug, Args)]
pub struct OnnxArgs {
    /// The `.onnx` file (external data files are read from its folder).
    #[arg(value_name = "MODEL.onnx")]
    pub model: PathBuf,
    /// The package directory to create (must not exist or be empty).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Package name (default: from the file name).
    #[arg(long)]
    pub name: Option<String>,
    /// Package version (default 0.1.0).
    #[arg(long)]
    pub version: Option<semver::Version>,
    /// Labels of the classifier output, one per line; the count must equal
    /// its number of classes. Implies --task classify.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Per-channel mean subtracted from images (pixels 0–255), in
    /// --channel-order, e.g. 123.675,116.28,103.53 for torchvision; one
    /// value serves every channel (a one-channel input takes one).
    #[arg(long, value_name = "R,G,B", value_delimiter = ',', num_args = 1)]
    pub mean: Option<Vec<f64>>,
    /// Per-channel divisor applied after the mean, e.g. 58.395,57.12,57.375
    /// for torchvision (its std times 255); one value serves every channel.
    #[arg(long, value_name = "R,G,B", value_delimiter = ',', num_args = 1)]
    pub std: Option<Vec<f64>>,
    /// Multiplier applied after subtracting the mean.
    #[arg(long, value_name = "S")]
    pub scale: Option<f64>,
    /// Channel order of the input (default rgb).
    #[arg(long, value_name = "bgr|rgb", value_parser = parse_order)]
    pub channel_order: Option<ChannelOrder>,
    /// Resize images to H,W first (default: the input's shape).
    #[arg(long, value_name = "H,W", value_parser = parse_size)]
    pub resize: Option<[u32; 2]>,
    /// Cut H,W from the centre after resizing.
    #[arg(long, value_name = "H,W", value_parser = parse_size)]
    pub crop: Option<[u32; 2]>,
    /// How `zoo run` decodes the outputs: classify (top-k labels).
    #[arg(long, value_parser = parse_task)]
    pub task: Option<Task>,
    /// A model package folder whose preprocessing, labels, task and card
    /// the package takes (the architecture stays the imported graph; its
    /// labels must match the model's classes). The options above override it.
    #[arg(long, value_name = "PACKAGE_DIR")]
    pub like: Option<PathBuf>,
    /// Fix an input's shape, e.g. ids=-1,7 (-1 stays free): for models
    /// exported with free dimensions that run at one size only. Repeat for
    /// more inputs.
    #[arg(long, value_name = "NAME=D,D,…", value_parser = parse_input_shape)]
    pub input_shape: Vec<(String, Vec<i64>)>,
    /// The golden input for NAME from a .npy file instead of made-up values
    /// (models that need real ones, e.g. token ids with an end-of-sequence
    /// mark). Repeat for more inputs.
    #[arg(long, value_name = "NAME=FILE.npy", value_parser = parse_named_file)]
    pub golden_input: Vec<(String, PathBuf)>,
}

#[derive(Debug, Args)]
pub struct CaffeArgs {
    /// `DEPLOY.prototxt WEIGHTS.caffemodel`, or just `WEIGHTS.caffemodel`
    /// (its own structure is used, data and loss layers skipped).
    #[arg(required = true, num_args = 1..=2, value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// The package directory to create (must not exist or be empty).
    #[arg(long, short)]
    pub output: PathBuf,
    /// Package name (default: from the net's name).
    #[arg(long)]
    pub name: Option<String>,
    /// Package version (default 0.1.0, or the --like package's).
    #[arg(long)]
    pub version: Option<semver::Version>,
    /// Labels of the classifier output, one per line; the count must equal
    /// its number of classes. Implies --task classify.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Per-channel mean subtracted from images, in --channel-order (B,G,R
    /// for Caffe models), e.g. 103.939,116.779,123.68; one value serves
    /// every channel (a one-channel input takes one).
    #[arg(
        long,
        value_name = "B,G,R",
        value_delimiter = ',',
        num_args = 1,
        conflicts_with = "mean_file"
    )]
    pub mean: Option<Vec<f64>>,
    /// Caffe's mean.binaryproto; its per-channel average is the mean.
    #[arg(long, value_name = "FILE")]
    pub mean_file: Option<PathBuf>,
    /// Channel order of the input (Caffe models: bgr, the default when any
    /// preprocessing is given).
    #[arg(long, value_name = "bgr|rgb", value_parser = parse_order)]
    pub channel_order: Option<ChannelOrder>,
    /// Multiplier applied after subtracting the mean (pixels are 0–255).
    #[arg(long, value_name = "S")]
    pub scale: Option<f64>,
    /// Resize images to H,W first (default: the input's shape).
    #[arg(long, value_name = "H,W", value_parser = parse_size)]
    pub resize: Option<[u32; 2]>,
    /// Cut H,W from the centre after resizing (Caffe's crop_size).
    #[arg(long, value_name = "H,W", value_parser = parse_size)]
    pub crop: Option<[u32; 2]>,
    /// How `zoo run` decodes the outputs: classify (top-k labels).
    #[arg(long, value_parser = parse_task)]
    pub task: Option<Task>,
    /// A package folder with a built-in architecture (models/vgg16): the
    /// package is that architecture with the imported weights (checked
    /// layer by layer), its preprocessing, labels, task and card.
    #[arg(long, value_name = "PACKAGE_DIR")]
    pub like: Option<PathBuf>,
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

/// `NAME=FILE` (`--golden-input`; `zoo run`'s `--input` and `--output`).
pub fn parse_named_file(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, file)) if !name.is_empty() && !file.is_empty() => {
            Ok((name.to_owned(), PathBuf::from(file)))
        }
        _ => Err(format!(
            "{text:?}: expected NAME=FILE.npy such as ids=tokens.npy"
        )),
    }
}

/// `NAME=D,D,…`: dimensions positive, or -1 for free.
fn parse_input_shape(text: &str) -> Result<(String, Vec<i64>), String> {
    let expected = || format!("{text:?}: expected NAME=D,D,… such as x=1,3,224,224 (-1: free)");
    let (name, dims) = text.rsplit_once('=').ok_or_else(expected)?;
    let dims: Vec<i64> = dims
        .split(',')
        .map(|d| d.trim().parse::<i64>().ok().filter(|&d| d == -1 || d > 0))
        .collect::<Option<_>>()
        .ok_or_else(expected)?;
    if name.is_empty() || dims.is_empty() {
        return Err(expected());
    }
    Ok((name.to_owned(), dims))
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

/// `zoo-torch convert-source`: what `zoo install` runs for a package whose
/// weights come from `[[model.sources]]` (not for people: `zoo install`
/// passes the staged package and the stored upstream file).
#[derive(Debug, Args)]
pub struct ConvertSourceArgs {
    /// The converter named by the source's `convert` (caffe).
    #[arg(long, value_name = "KIND", value_parser = ["caffe"])]
    pub convert: String,
    /// The package being installed: it is the --like folder of the import.
    #[arg(long, value_name = "PACKAGE_DIR")]
    pub like: PathBuf,
    /// The upstream file (a caffemodel).
    #[arg(long, value_name = "FILE")]
    pub source: PathBuf,
    /// The source's deploy prototxt inside the package, when it names one.
    #[arg(long, value_name = "FILE")]
    pub deploy: Option<PathBuf>,
    /// Where to write the converted weights (a new file).
    #[arg(long, short, value_name = "FILE")]
    pub output: PathBuf,
}

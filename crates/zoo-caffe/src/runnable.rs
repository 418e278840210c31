//! What turns an import into a runnable package: preprocessing, labels and
//! task from options (or from a `--like` package folder), checked against
//! the converted weights before anything is written; and, with `--like`, the
//! built-in architecture that must take every converted parameter.

use crate::convert::NamedTensor;
use crate::error::{CaffeError, Result};
use crate::import::ModelSide;
use crate::net::NetLayer;
use crate::proto::{BlobProto, TransformationParameter};
use prost::Message;
use std::path::{Path, PathBuf};
use zoo_format::manifest::{ChannelOrder, Manifest, Preprocess, SourceFile, Task};

/// A per-channel mean from a Caffe `mean.binaryproto` (a `BlobProto` of
/// shape [1, C, H, W] or [C, H, W]): each channel's average over H×W, in the
/// file's channel order (BGR for Caffe models).
pub fn mean_from_binaryproto(path: &Path) -> Result<Vec<f64>> {
    let bytes = std::fs::read(path).map_err(|e| CaffeError::io(path, e))?;
    let bad = |message: String| CaffeError::Invalid(format!("{}: {message}", path.display()));
    let blob = BlobProto::decode(bytes.as_slice())
        .map_err(|e| bad(format!("not a Caffe mean file (BlobProto): {e}")))?;
    let dims: Vec<i64> = match &blob.shape {
        Some(shape) if !shape.dim.is_empty() => shape.dim.clone(),
        _ => [blob.num, blob.channels, blob.height, blob.width]
            .iter()
            .map(|d| i64::from(d.unwrap_or(1)))
            .collect(),
    };
    let values: Vec<f64> = if blob.data.is_empty() {
        blob.double_data.clone()
    } else {
        blob.data.iter().map(|v| f64::from(*v)).collect()
    };
    let channels = match dims.as_slice() {
        [1, c, _, _] | [c, _, _] => *c,
        other => {
            return Err(bad(format!(
                "expected a mean of shape [1, C, H, W], got {other:?}"
            )));
        }
    };
    let total: i64 = dims.iter().product();
    if channels <= 0 || total <= 0 || values.len() as i64 != total {
        return Err(bad(format!(
            "shape {dims:?} needs {total} values, the file holds {}",
            values.len()
        )));
    }
    let per_channel = values.len() / channels as usize;
    Ok(values
        .chunks(per_channel)
        .map(|c| c.iter().sum::<f64>() / per_channel as f64)
        .collect())
}

/// Reads a labels file (one label per line, `\n` or `\r\n`, trailing empty
/// lines ignored; a UTF-8 byte-order mark, as Windows editors write it, is
/// not part of the first label). A blank line among the labels is refused,
/// naming the file and line: it would become a class called "" and shift
/// the label of every class after it.
pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| CaffeError::io(path, e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut labels: Vec<String> = text.lines().map(str::to_string).collect();
    while labels.last().is_some_and(|l| l.trim().is_empty()) {
        labels.pop();
    }
    if let Some(index) = labels.iter().position(|l| l.trim().is_empty()) {
        return Err(CaffeError::Invalid(format!(
            "{}: line {} is blank: every line names one class (line n is class n-1)",
            path.display(),
            index + 1
        )));
    }
    Ok(labels)
}

/// The classifier's number of classes: the rows of the last weighted
/// layer's `W` (InnerProduct `[out, in]`, Convolution `[out, …]`).
pub fn classifier_size(
    layer_order: &[String],
    tensors: &[NamedTensor<'_>],
) -> Option<(String, usize)> {
    layer_order.iter().rev().find_map(|layer| {
        let name = format!("{layer}/W");
        tensors
            .iter()
            .find(|t| t.name == name)
            .and_then(|t| t.shape.first().map(|rows| (layer.clone(), *rows)))
    })
}

/// Refuses a labels file whose line count is not the classifier's size.
pub fn check_labels(
    labels_file: &Path,
    labels: usize,
    classifier: Option<(String, usize)>,
) -> Result<()> {
    match classifier {
        Some((layer, classes)) if classes != labels => Err(CaffeError::Invalid(format!(
            "{}: {labels} labels, but the classifier (layer {layer:?}) has {classes} outputs",
            labels_file.display()
        ))),
        None => Err(CaffeError::Invalid(format!(
            "{}: labels given, but the net has no weighted layer to classify with",
            labels_file.display()
        ))),
        _ => Ok(()),
    }
}

/// The first (TEST-phase) layer's `transform_param`, if any.
pub fn transform_of(layers: &[NetLayer<'_>]) -> Option<TransformationParameter> {
    layers.iter().find_map(|l| l.param.transform_param.clone())
}

/// The preprocessing options of an import.
#[derive(Debug, Clone, Default)]
pub struct PreprocessOptions {
    pub mean: Option<Vec<f64>>,
    pub mean_file: Option<PathBuf>,
    pub channel_order: Option<ChannelOrder>,
    pub scale: Option<f64>,
    /// Per-channel divisor (ONNX imports; Caffe models have none).
    pub std: Option<Vec<f64>>,
    pub resize: Option<[u32; 2]>,
    pub crop: Option<[u32; 2]>,
}

impl PreprocessOptions {
    /// Fills what was not given from a data layer's `transform_param`
    /// (mean values or mean file, scale, crop size); a relative mean file
    /// is looked up beside `origin` (the file the layer came from).
    pub fn with_defaults(
        &self,
        transform: Option<&TransformationParameter>,
        origin: &Path,
    ) -> Result<PreprocessOptions> {
        let mut options = self.clone();
        let Some(t) = transform else {
            return Ok(options);
        };
        if options.mean.is_none() && options.mean_file.is_none() {
            if !t.mean_value.is_empty() {
                // One value serves every channel ([`fit_channels`]).
                options.mean = Some(t.mean_value.iter().map(|v| f64::from(*v)).collect());
            } else if let Some(file) = &t.mean_file {
                let beside = origin.parent().unwrap_or(Path::new(".")).join(file);
                if !beside.is_file() {
                    return Err(CaffeError::Invalid(format!(
                        "{}: transform_param mean_file {file:?} not found (looked for {}); \
                         pass --mean-file FILE or --mean B,G,R",
                        origin.display(),
                        beside.display()
                    )));
                }
                options.mean_file = Some(beside);
            }
        }
        if options.scale.is_none() {
            options.scale = t.scale.map(f64::from);
        }
        if options.crop.is_none() {
            options.crop = t.crop_size.filter(|c| *c > 0).map(|c| [c, c]);
        }
        Ok(options)
    }

    /// The options given, as their flags (`--mean`, `--crop`…).
    pub fn given(&self) -> Vec<&'static str> {
        [
            (self.mean.is_some(), "--mean"),
            (self.mean_file.is_some(), "--mean-file"),
            (self.channel_order.is_some(), "--channel-order"),
            (self.scale.is_some(), "--scale"),
            (self.std.is_some(), "--std"),
            (self.resize.is_some(), "--resize"),
            (self.crop.is_some(), "--crop"),
        ]
        .into_iter()
        .filter_map(|(given, flag)| given.then_some(flag))
        .collect()
    }

    /// A warning when options were given but the package gets no `task`:
    /// `zoo run` prepares images only to decode them by a task, so the
    /// recorded preprocessing would go unused (until someone adds a task to
    /// the manifest, which is why it is still written).
    pub fn unused_without_task(&self, task: Option<Task>) -> Option<String> {
        let given = self.given();
        if task.is_some() || given.is_empty() {
            return None;
        }
        Some(format!(
            "{} set how `zoo run` prepares images for a task, but the package has none, so \
             `zoo run` will not use {}: add --task classify (or --labels FILE)",
            given.join(", "),
            if given.len() == 1 { "it" } else { "them" }
        ))
    }

    fn any(&self) -> bool {
        self.mean.is_some()
            || self.mean_file.is_some()
            || self.channel_order.is_some()
            || self.scale.is_some()
            || self.std.is_some()
            || self.resize.is_some()
            || self.crop.is_some()
    }

    /// The options over Caffe's conventions (BGR, 0–255), even when none is given.
    pub fn resolve_or_caffe(&self) -> Result<Option<Preprocess>> {
        self.resolve(Some(&caffe_conventions()))
    }

    /// The options over `base` (a `--like` package's), or over Caffe's
    /// conventions (BGR, 0–255) when something is given; `None` when
    /// nothing is given and there is no base.
    pub fn resolve(&self, base: Option<&Preprocess>) -> Result<Option<Preprocess>> {
        if !self.any() && base.is_none() {
            return Ok(None);
        }
        let mut pre = base.cloned().unwrap_or_else(caffe_conventions);
        if let Some(file) = &self.mean_file {
            pre.mean = mean_from_binaryproto(file)?;
        }
        if let Some(mean) = &self.mean {
            pre.mean = mean.clone();
        }
        if let Some(order) = self.channel_order {
            pre.channel_order = Some(order);
        }
        if let Some(scale) = self.scale {
            pre.scale = scale;
        }
        if let Some(std) = &self.std {
            if !matches!(std.len(), 1 | 3) || std.iter().any(|s| !s.is_finite() || *s == 0.0) {
                return Err(CaffeError::Invalid(format!(
                    "--std {std:?}: an RGB image needs 3 finite, non-zero values (1 for a \
                     one-channel input, or for every channel)"
                )));
            }
            pre.std = std.clone();
        }
        if self.resize.is_some() {
            pre.resize = self.resize;
        }
        if self.crop.is_some() {
            pre.crop = self.crop;
        }
        if !pre.scale.is_finite() || pre.scale == 0.0 {
            return Err(CaffeError::Invalid(format!(
                "--scale {}: must be finite and non-zero",
                pre.scale
            )));
        }
        if pre.mean.iter().any(|m| !m.is_finite()) {
            return Err(CaffeError::Invalid(format!(
                "mean {:?}: values must be finite",
                pre.mean
            )));
        }
        if !matches!(pre.mean.len(), 0 | 1 | 3) {
            let from = match &self.mean_file {
                Some(file) if self.mean.is_none() => format!("{}", file.display()),
                _ => "--mean".to_string(),
            };
            return Err(CaffeError::Invalid(format!(
                "{from}: {} mean values; an RGB image needs 3 (1 for a one-channel input, or \
                 for every channel)",
                pre.mean.len()
            )));
        }
        Ok(Some(pre))
    }
}

/// Fits the mean and std to the image input they serve, once the graph
/// says how many channels it has (`shape[1]` of an N×C×H×W input): a
/// one-channel input (a grayscale model, MNIST's) takes one value each,
/// which `zoo run` applies to the image's luma; any other gets three, a
/// single value repeated (as Caffe's `mean_value` is). So a manifest holds
/// exactly what its input needs. An input of another channel count (4,
/// 64…) takes no image, and a mean or std for it is refused.
pub fn fit_channels(
    preprocess: &mut Option<Preprocess>,
    input: Option<&zoo_graph::GraphInput>,
) -> Result<()> {
    let (Some(pre), Some(input)) = (preprocess.as_mut(), input) else {
        return Ok(());
    };
    let shape = input.shape.as_deref();
    let input = &input.name;
    let channels = shape.filter(|s| s.len() == 4).map(|s| s[1]);
    if let Some(c) = channels.filter(|&c| c > 0 && c != 1 && c != 3) {
        check_no_image_values(pre, input, c)?;
        return Ok(());
    }
    let one_channel = channels == Some(1);
    for (what, values) in [("mean", &mut pre.mean), ("std", &mut pre.std)] {
        match values.len() {
            3 if one_channel => {
                return Err(CaffeError::Invalid(format!(
                    "{what} {values:?}: the input {input:?} has one channel (a grayscale \
                     image), so it takes 1 value"
                )));
            }
            1 if !one_channel => *values = vec![values[0]; 3],
            _ => {}
        }
    }
    Ok(())
}

/// An input of `channels` channels, neither 1 (gray) nor 3 (RGB), takes no
/// image: `zoo run` makes images into 1 or 3 channels, so a mean or std
/// for it could never apply and the package would fail on every image.
fn check_no_image_values(pre: &Preprocess, input: &str, channels: i64) -> Result<()> {
    let Some(what) = [("mean", &pre.mean), ("std", &pre.std)]
        .into_iter()
        .find_map(|(what, values)| (!values.is_empty()).then_some(what))
    else {
        return Ok(());
    };
    Err(CaffeError::Invalid(format!(
        "{what}: the input {input:?} has {channels} channels, so it is no image (images \
         have 1 or 3) and `zoo run` could never apply a {what} to it; import without image \
         preprocessing and run the package with --input {input}=FILE.npy"
    )))
}

/// Caffe's preprocessing conventions: BGR pixels 0–255, nothing subtracted
/// or scaled; what options apply over when no `--like` package gives a base.
fn caffe_conventions() -> Preprocess {
    Preprocess {
        resize: None,
        crop: None,
        channel_order: Some(ChannelOrder::Bgr),
        mean: Vec::new(),
        scale: 1.0,
        std: Vec::new(),
    }
}

/// A `--like` package folder read for its metadata alone: any model
/// package (built-in, graph or TorchScript architecture). The ONNX import
/// takes its preprocessing, labels, task and card; [`Like`] adds the
/// built-in architecture the Caffe import writes.
#[derive(Debug, Clone)]
pub struct LikePackage {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl LikePackage {
    /// Reads `dir/zoo.toml`; refuses a folder that is not a model package.
    /// Its weights need not exist (models/vgg16 ships without them); the
    /// files taken from it (labels, card) are read when used.
    pub fn read(dir: &Path) -> Result<LikePackage> {
        let path = dir.join(zoo_format::manifest::MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let what = if dir.is_dir() {
                    format!("{} is missing", path.display())
                } else {
                    "no such folder".to_string()
                };
                return Err(CaffeError::Invalid(format!(
                    "--like {}: not a model package ({what})",
                    dir.display()
                )));
            }
            Err(e) => return Err(CaffeError::io(&path, e)),
        };
        let manifest = Manifest::from_toml_str_named(&text, &path.display().to_string())
            .map_err(|e| CaffeError::Invalid(format!("--like: {e}")))?;
        if manifest.model.is_none() {
            return Err(CaffeError::Invalid(format!(
                "--like {}: not a model package ({} has no [model] section)",
                dir.display(),
                path.display()
            )));
        }
        Ok(LikePackage {
            dir: dir.to_path_buf(),
            manifest,
        })
    }

    fn model(&self) -> Option<&zoo_format::manifest::ModelSection> {
        self.manifest.model.as_ref()
    }

    /// The first input's image preprocessing.
    pub fn preprocess(&self) -> Option<&Preprocess> {
        self.model()?.inputs.first()?.preprocess.as_ref()
    }

    /// The package's task.
    pub fn task(&self) -> Option<Task> {
        self.model()?.task
    }

    /// The labels file of the package's first labelled output.
    pub fn labels(&self) -> Option<PathBuf> {
        self.model()?
            .outputs
            .iter()
            .find_map(|o| o.labels.as_ref())
            .map(|l| self.dir.join(l))
    }

    /// The card text of the package, if it has one.
    pub fn card(&self) -> Result<Option<String>> {
        let Some(readme) = &self.manifest.package.readme else {
            return Ok(None);
        };
        let path = self.dir.join(readme);
        std::fs::read_to_string(&path)
            .map(Some)
            .map_err(|e| CaffeError::io(&path, e))
    }
}

/// A `--like` package folder with a built-in architecture: what the
/// Caffe import writes with the converted weights.
pub struct Like {
    pub package: LikePackage,
    pub builtin: String,
    pub config: serde_json::Value,
}

impl Like {
    pub fn read(dir: &Path) -> Result<Like> {
        let package = LikePackage::read(dir)?;
        let Some(zoo_format::manifest::Architecture::Builtin { name, config }) =
            package.manifest.model.as_ref().map(|m| &m.architecture)
        else {
            return Err(CaffeError::Invalid(format!(
                "--like {}: its architecture is not a built-in one (builtin = \"…\")",
                dir.display()
            )));
        };
        Ok(Like {
            builtin: name.clone(),
            config: config.clone(),
            package,
        })
    }

    /// Every converted parameter must be one of the architecture's, with
    /// its shape, and every parameter must be converted. `model` lists the
    /// architecture's parameters (zoo-caffe builds no tensors).
    pub fn check_parameters(
        &self,
        tensors: &[NamedTensor<'_>],
        model: &dyn ModelSide,
    ) -> Result<()> {
        let mut expected = model
            .builtin_parameters(&self.builtin, &self.config)
            .map_err(|e| {
                CaffeError::Invalid(format!("--like {}: {e}", self.package.dir.display()))
            })?;
        expected.sort();
        let what = format!("{} (from {})", self.builtin, self.package.dir.display());
        for (name, shape) in &expected {
            let Some(tensor) = tensors.iter().find(|t| &t.name == name) else {
                return Err(CaffeError::Invalid(format!(
                    "layer {name}: missing from the caffemodel; {what} expects shape {shape:?}"
                )));
            };
            let got: Vec<i64> = tensor.shape.iter().map(|d| *d as i64).collect();
            if &got != shape {
                return Err(CaffeError::Invalid(format!(
                    "layer {name}: the caffemodel has shape {got:?}, {what} expects {shape:?}"
                )));
            }
        }
        if let Some(extra) = tensors
            .iter()
            .find(|t| !expected.iter().any(|(n, _)| n == &t.name))
        {
            return Err(CaffeError::Invalid(format!(
                "layer {}: in the caffemodel but not a parameter of {what}",
                extra.name
            )));
        }
        Ok(())
    }
}

/// The card's provenance section: each source file with its size and
/// sha256, and the converter.
pub fn provenance_text(sources: &[SourceFile], like: Option<&Path>) -> String {
    provenance_text_by(
        &format!("zoo-caffe {}", env!("CARGO_PKG_VERSION")),
        "zoo import caffe",
        sources,
        like,
    )
}

/// [`provenance_text`] for another converter (`converter`, e.g.
/// "zoo-onnx 0.1.0") and command (e.g. "zoo import onnx").
pub fn provenance_text_by(
    converter: &str,
    command: &str,
    sources: &[SourceFile],
    like: Option<&Path>,
) -> String {
    let mut text = String::from("\n## Provenance\n\n");
    text.push_str(&format!(
        "Converted by {converter} (`{command}{}`) from:\n\n",
        like.map(|d| format!(" --like {}", d.display()))
            .unwrap_or_default()
    ));
    text.push_str("| file | bytes | sha256 |\n|---|---|---|\n");
    for source in sources {
        text.push_str(&format!(
            "| {} | {} | {} |\n",
            source.file,
            source.size.map(|s| s.to_string()).unwrap_or_default(),
            source.sha256
        ));
    }
    text
}

/// The task to record: the option, else a `--like` package's, else
/// classify when labels are given.
pub fn resolve_task(task: Option<Task>, like: Option<&LikePackage>, labels: bool) -> Option<Task> {
    task.or_else(|| like.and_then(LikePackage::task))
        .or(labels.then_some(Task::Classify))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(mean: Vec<f64>, std: Vec<f64>) -> Preprocess {
        Preprocess {
            mean,
            std,
            ..caffe_conventions()
        }
    }

    #[test]
    fn one_value_serves_every_channel_and_a_gray_input_takes_one() {
        let input = |name: &str, shape: Option<Vec<i64>>| zoo_graph::GraphInput {
            name: name.into(),
            shape,
        };
        let fit = |pre: Preprocess, input: &zoo_graph::GraphInput| {
            let mut pre = Some(pre);
            fit_channels(&mut pre, Some(input)).map(|()| pre.expect("kept"))
        };
        let rgb = input("data", Some(vec![-1, 3, 224, 224]));
        let pre = fit(with(vec![127.5], vec![2.0]), &rgb).unwrap();
        assert_eq!((pre.mean, pre.std), (vec![127.5; 3], vec![2.0; 3]));

        let gray = input("Input3", Some(vec![-1, 1, 28, 28]));
        let pre = fit(with(vec![33.0], vec![]), &gray).unwrap();
        assert_eq!((pre.mean, pre.std), (vec![33.0], vec![]));
        let error = fit(with(vec![1.0, 2.0, 3.0], vec![]), &gray)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"Input3\" has one channel") && error.contains("mean"),
            "{error}"
        );
        // An input of 4 channels takes no image, so no mean either.
        let four = input("data", Some(vec![1, 4, 8, 8]));
        let error = fit(with(vec![1.0, 2.0, 3.0], vec![]), &four)
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("\"data\" has 4 channels") && error.contains("--input data="),
            "{error}"
        );
        assert!(fit(with(vec![], vec![]), &four).is_ok());
        // An input without a shape is taken for an RGB image.
        let pre = fit(with(vec![5.0], vec![]), &input("data", None)).unwrap();
        assert_eq!(pre.mean, vec![5.0; 3]);
    }

    #[test]
    fn blank_labels_are_refused_naming_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synset.txt");
        std::fs::write(&path, "tench\n\ngoldfish\n").unwrap();
        let error = read_labels(&path).unwrap_err().to_string();
        assert!(
            error.contains("synset.txt") && error.contains("line 2 is blank"),
            "{error}"
        );
    }

    #[test]
    fn preprocessing_without_a_task_is_named() {
        let options = PreprocessOptions {
            mean: Some(vec![1.0]),
            crop: Some([4, 4]),
            ..Default::default()
        };
        let warning = options.unused_without_task(None).unwrap();
        assert!(
            warning.contains("--mean, --crop") && warning.contains("--task classify"),
            "{warning}"
        );
        assert_eq!(options.unused_without_task(Some(Task::Classify)), None);
        assert_eq!(PreprocessOptions::default().unused_without_task(None), None);
    }

    #[test]
    fn labels_files_from_windows_editors_read_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("synset.txt");
        std::fs::write(&path, "\u{feff}tench\r\ngoldfish\r\n\r\n").unwrap();
        assert_eq!(read_labels(&path).unwrap(), ["tench", "goldfish"]);
    }

    #[test]
    fn means_and_stds_take_one_or_three_values() {
        let options = |mean: Option<Vec<f64>>, std: Option<Vec<f64>>| PreprocessOptions {
            mean,
            std,
            ..Default::default()
        };
        for good in [vec![1.0], vec![1.0, 2.0, 3.0]] {
            assert!(
                options(Some(good.clone()), Some(good))
                    .resolve_or_caffe()
                    .is_ok()
            );
        }
        let two = options(Some(vec![1.0, 2.0]), None).resolve_or_caffe();
        assert!(two.unwrap_err().to_string().contains("2 mean values"));
        let zero = options(None, Some(vec![0.0])).resolve_or_caffe();
        assert!(zero.unwrap_err().to_string().contains("--std"));
    }
}

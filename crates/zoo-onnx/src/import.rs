//! `zoo import onnx`: read, convert, write a runnable package (graph +
//! weights + zoo.toml + card with provenance + golden.npz) through the same
//! staged package writer and preprocessing/labels/task options as the Caffe
//! import. Nothing is left behind on error.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use zoo_caffe::CaffeError;
use zoo_caffe::package::{self, ExtraFile, PackageContents, PackageInfo};
use zoo_caffe::runnable::{self, LikePackage, PreprocessOptions};
use zoo_format::manifest::{ChannelOrder, Preprocess, SourceFile, Task};
use zoo_format::package_dir::{Dtype, MappedSource, StreamedTensor};

use crate::convert::{Converted, convert};
use crate::error::{OnnxError, Result};
use crate::model::Model;
use crate::proto::DataType;
use crate::tensor::Tensor;

/// Choices for [`import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Package name; default: from the file name.
    pub name: Option<String>,
    /// Package version; default 0.1.0.
    pub version: Option<semver::Version>,
    /// Labels (one per line) of the classifier output; implies classify.
    pub labels: Option<PathBuf>,
    /// The first input's image preprocessing (default when any is given:
    /// RGB, 0–255).
    pub preprocess: PreprocessOptions,
    pub task: Option<Task>,
    /// A model package folder whose preprocessing, labels, task and card
    /// the package takes (the architecture stays the imported graph); the
    /// options above override what it gives.
    pub like: Option<PathBuf>,
    /// Shapes given for inputs by name (-1 free), in place of the model's
    /// own: for exports that declare free dimensions they do not have.
    pub input_shapes: Vec<(String, Vec<i64>)>,
    /// `.npy` files holding the golden input of the inputs they name, in
    /// place of made-up values.
    pub golden_inputs: Vec<(String, PathBuf)>,
}

#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub out_dir: PathBuf,
    pub name: String,
    pub opset: i64,
    pub layers: usize,
    pub folded: usize,
    pub parameters: usize,
    pub weight_bytes: u64,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

fn invalid(message: impl Into<String>) -> OnnxError {
    OnnxError::Graph(message.into())
}

/// A converted constant as the package writer streams it.
struct Streamed<'a>(&'a Tensor);

impl StreamedTensor for Streamed<'_> {
    fn name(&self) -> &str {
        &self.0.name
    }
    fn dtype(&self) -> Dtype {
        match self.0.dtype {
            DataType::Double => Dtype::F64,
            DataType::Float16 => Dtype::F16,
            DataType::Bfloat16 => Dtype::BF16,
            DataType::Int64 => Dtype::I64,
            DataType::Int32 => Dtype::I32,
            DataType::Int16 => Dtype::I16,
            DataType::Int8 => Dtype::I8,
            DataType::Uint8 => Dtype::U8,
            DataType::Bool => Dtype::BOOL,
            _ => Dtype::F32,
        }
    }
    fn shape(&self) -> &[usize] {
        &self.0.dims
    }
    fn byte_len(&self) -> usize {
        self.0.data.len()
    }
    fn le_bytes(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.0.data)
    }
}

fn caffe_err(e: zoo_caffe::CaffeError) -> OnnxError {
    OnnxError::Import(e.to_string())
}

/// Imports `onnx` into a new package directory `out_dir`.
pub fn import(onnx: &Path, out_dir: &Path, opts: &ImportOptions) -> Result<ImportSummary> {
    package::check_destination(out_dir).map_err(caffe_err)?;
    // Cheap checks first: a bad option must not cost a conversion.
    let like = opts
        .like
        .as_deref()
        .map(LikePackage::read)
        .transpose()
        .map_err(caffe_err)?;
    // The labels option, else the like package's (its count is checked
    // against the imported model's classes all the same).
    let labels_file = opts
        .labels
        .clone()
        .or_else(|| like.as_ref().and_then(LikePackage::labels));
    let labels = labels_file
        .as_deref()
        .map(runnable::read_labels)
        .transpose()
        .map_err(caffe_err)?;
    let task = runnable::resolve_task(opts.task, like.as_ref(), labels.is_some());
    // ONNX models (torchvision's among them) read RGB.
    let rgb = Preprocess {
        resize: None,
        crop: None,
        channel_order: Some(ChannelOrder::Rgb),
        mean: Vec::new(),
        scale: 1.0,
        std: Vec::new(),
    };
    let any = opts.preprocess.mean.is_some()
        || opts.preprocess.std.is_some()
        || opts.preprocess.channel_order.is_some()
        || opts.preprocess.scale.is_some()
        || opts.preprocess.resize.is_some()
        || opts.preprocess.crop.is_some();
    let preprocess = match like.as_ref().and_then(LikePackage::preprocess) {
        Some(base) => opts.preprocess.resolve(Some(base)).map_err(caffe_err)?,
        None if any || task.is_some() => opts.preprocess.resolve(Some(&rgb)).map_err(caffe_err)?,
        None => None,
    };

    let golden_inputs = opts
        .golden_inputs
        .iter()
        .map(|(name, path)| {
            zoo_nn::params::read_npy(path)
                .map(|t| (name.clone(), t))
                .map_err(|e| invalid(format!("--golden-input {name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let model = Model::open(onnx)?;
    let Converted {
        graph,
        tensors,
        folded,
    } = convert(&model)?;
    let mut graph = graph;
    fix_input_shapes(&mut graph, &opts.input_shapes)?;
    let mut preprocess = preprocess;
    runnable::fit_channels(&mut preprocess, graph.inputs.first()).map_err(caffe_err)?;
    if let (Some(file), Some(labels)) = (&labels_file, &labels) {
        let classes = graph
            .outputs
            .first()
            .and_then(|o| classifier_width(&graph, &tensors, o));
        runnable::check_labels(file, labels.len(), classes).map_err(|e| {
            match (&like, opts.labels.is_none()) {
                (Some(like), true) => OnnxError::Import(format!(
                    "--like {}: its labels do not fit the imported model: {e}",
                    like.dir.display()
                )),
                _ => caffe_err(e),
            }
        })?;
    }
    let file_name = onnx
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match &opts.name {
        Some(name) => {
            zoo_format::validate_name(name)
                .map_err(|m| invalid(format!("invalid package name {name:?}: {m}")))?;
            name.clone()
        }
        None => package::package_name_from(
            onnx.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
                .as_str(),
        ),
    };
    let version = opts
        .version
        .clone()
        .unwrap_or_else(|| semver::Version::new(0, 1, 0));
    // The sources' sha256 (the model file and its external data files) is
    // computed on another thread while the weights are written.
    let folder = onnx.parent().unwrap_or(Path::new("."));
    let mut files = vec![(file_name.clone(), onnx.to_path_buf())];
    files.extend(
        model
            .external_data
            .iter()
            .map(|location| (location.clone(), folder.join(location))),
    );
    let hashing = std::thread::spawn(move || hash_sources(files));
    let graph_name = if graph.name.is_empty() {
        name.clone()
    } else {
        graph.name.clone()
    };
    let producer = if model.producer.is_empty() {
        String::new()
    } else {
        format!(", exported by {}", model.producer)
    };
    let info = PackageInfo {
        name: name.clone(),
        version,
        description: format!(
            "{graph_name} imported from ONNX ({file_name}, opset {}{producer})",
            model.opset()
        ),
        // Filled in by each `contents` call below.
        sources: Vec::new(),
    };
    let mut manifest = package::graph_manifest(&graph, info);
    // The inputs' element types as the model declares them (token ids are
    // int64): what the golden input and `zoo run --input` give it.
    if let Some(section) = manifest.model.as_mut() {
        for input in &mut section.inputs {
            if let Some(info) = model.graph.inputs.iter().find(|i| i.name == input.name) {
                input.dtype = manifest_dtype(info.elem_type);
            }
        }
    }
    manifest.package.keywords = vec!["onnx".into()];
    manifest.package.readme = Some(CARD_FILE.into());
    let mut extra = Vec::new();
    if let Some(section) = manifest.model.as_mut() {
        section.task = task;
        if let (Some(pre), Some(input)) = (preprocess, section.inputs.first_mut()) {
            input.preprocess = Some(pre);
        }
        if let Some(labels) = &labels_file
            && let Some(output) = section.outputs.first_mut()
        {
            output.labels = Some(LABELS_FILE.into());
            extra.push((LABELS_FILE, labels.clone()));
        }
    }
    let imported = format!(
        "{graph_name}, imported from ONNX with `zoo import onnx` (opset {}{producer}).\n",
        model.opset()
    );
    let like_card = match &like {
        Some(like) => like.card().map_err(caffe_err)?,
        None => None,
    };
    // The manifest with the sources' provenance, the labels, and the card:
    // the like package's card describes the model, the import adds where
    // these weights and this graph came from.
    let contents = |sources: Vec<SourceFile>| {
        let provenance = runnable::provenance_text_by(
            &format!("zoo-onnx {}", env!("CARGO_PKG_VERSION")),
            "zoo import onnx",
            &sources,
            like.as_ref().map(|l| l.dir.as_path()),
        );
        let card = match &like_card {
            Some(text) => format!("{}\n\n{imported}{provenance}", text.trim_end()),
            None => format!("# {name}\n\n{imported}{provenance}"),
        };
        let mut manifest = manifest.clone();
        if let Some(recorded) = manifest.model.as_mut().and_then(|m| m.provenance.as_mut()) {
            recorded.converted_from = sources;
        }
        let mut files: Vec<(String, ExtraFile)> = extra
            .iter()
            .map(|(name, path)| (name.to_string(), ExtraFile::Copy(path.clone())))
            .collect();
        files.push((CARD_FILE.into(), ExtraFile::Text(card)));
        Ok(PackageContents { manifest, files })
    };
    // The package must load and run as written; its answer to a fixed input
    // becomes golden.npz (inputs without a shape have no fixed input).
    let verify = |staged: &Path| {
        if graph.inputs.iter().any(|i| i.shape.is_none()) {
            return Ok(());
        }
        let free = graph
            .inputs
            .iter()
            .any(|i| i.shape.iter().flatten().skip(1).any(|&d| d == -1));
        zoo_models::golden::record_with(staged, &golden_inputs)
            .map(|_| ())
            .map_err(|e| {
                let hint = if free {
                    "; if the model runs at certain sizes only, give them with --input-shape NAME=D,D,…, or a real input with --golden-input NAME=FILE.npy"
                } else {
                    "; if it needs real values, give them with --golden-input NAME=FILE.npy"
                };
                CaffeError::Invalid(format!(
                    "the converted graph does not run on its input: {e}{hint}"
                ))
            })
    };
    let hashed = || match hashing.join() {
        Ok(Ok(sources)) => Ok(sources),
        Ok(Err(OnnxError::Io { path, source })) => Err(CaffeError::io(path, source)),
        Ok(Err(other)) => Err(CaffeError::Invalid(other.to_string())),
        Err(_) => Err(CaffeError::Invalid(
            "the thread hashing the model's files panicked".into(),
        )),
    };
    let streamed: Vec<Streamed<'_>> = tensors.iter().map(Streamed).collect();
    // Initializers borrowed from the model's memory maps are copied from
    // the files by the kernel: the maps' pages never become resident, so
    // memory does not grow to the whole file before the golden run.
    let mapped: Vec<MappedSource<'_>> = model
        .mapped_files()
        .map(|mapped| MappedSource::new(mapped.bytes(), mapped.file()))
        .collect();
    let weights = package::Weights {
        tensors: &streamed,
        mapped: &mapped,
        progress: false,
    };
    let out = package::write_package(out_dir, Some(&graph), weights, contents, verify, hashed)
        .map_err(|e| match e {
            CaffeError::Io { path, source } => OnnxError::io(path, source),
            other => invalid(other.to_string()),
        })?;
    Ok(ImportSummary {
        out_dir: out,
        name,
        opset: model.opset(),
        layers: graph.layers.len(),
        folded,
        parameters: tensors.len(),
        weight_bytes: tensors.iter().map(|t| t.data.len() as u64).sum(),
        inputs: graph.inputs.iter().map(|i| i.name.clone()).collect(),
        outputs: graph.outputs.clone(),
    })
}

/// The manifest's element type for an ONNX input's: integers as int64,
/// bytes and booleans as uint8, floats as themselves (f32 otherwise).
fn manifest_dtype(elem_type: i32) -> zoo_format::manifest::DType {
    use zoo_format::manifest::DType;
    match DataType::try_from(elem_type) {
        Ok(DataType::Float16) => DType::F16,
        Ok(DataType::Bfloat16) => DType::Bf16,
        Ok(
            DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::Uint16
            | DataType::Uint32
            | DataType::Uint64,
        ) => DType::I64,
        Ok(DataType::Uint8 | DataType::Bool) => DType::U8,
        _ => DType::F32,
    }
}

/// Puts the shapes given by name in place of the model's: each must name
/// an input, have its rank and keep its fixed dimensions.
fn fix_input_shapes(graph: &mut zoo_graph::Graph, shapes: &[(String, Vec<i64>)]) -> Result<()> {
    for (name, dims) in shapes {
        let names: Vec<String> = graph.inputs.iter().map(|i| i.name.clone()).collect();
        let input = graph
            .inputs
            .iter_mut()
            .find(|i| &i.name == name)
            .ok_or_else(|| {
                invalid(format!(
                    "--input-shape {name}: the model has no input {name:?} (its inputs: {})",
                    names.join(", ")
                ))
            })?;
        if dims
            .iter()
            .any(|&d| d != -1 && !(1..=zoo_graph::MAX_EXTENT).contains(&d))
        {
            return Err(invalid(format!(
                "--input-shape {name}: dimensions {dims:?} must be -1 (free) or 1 to {}",
                zoo_graph::MAX_EXTENT
            )));
        }
        if let Some(own) = &input.shape {
            let fixed_differs =
                own.len() != dims.len() || own.iter().zip(dims).any(|(&o, &d)| o != -1 && o != d);
            if fixed_differs {
                return Err(invalid(format!(
                    "--input-shape {name}: {dims:?} does not fit the model's shape {own:?} (same rank; fixed dimensions stay)"
                )));
            }
        }
        input.shape = Some(dims.clone());
    }
    Ok(())
}

/// Each `(name in the provenance, path)` with its sha256 and size.
fn hash_sources(files: Vec<(String, PathBuf)>) -> Result<Vec<SourceFile>> {
    files
        .into_iter()
        .map(|(file, path)| {
            let (sha256, size) = zoo_format::checksum::sha256_mapped_file(&path)
                .map_err(|e| OnnxError::io(&path, e))?;
            Ok(SourceFile {
                file,
                sha256,
                size: Some(size),
            })
        })
        .collect()
}

const LABELS_FILE: &str = "labels.txt";
const CARD_FILE: &str = "README.md";

/// The class count of a classifier output: the width of the Gemm or MatMul
/// weight that produces it (through Softmax, Flatten, Reshape and the like).
fn classifier_width(
    graph: &zoo_graph::Graph,
    tensors: &[Tensor],
    output: &str,
) -> Option<(String, usize)> {
    use zoo_graph::Op;
    use zoo_graph::onnx::OnnxOp;
    let mut blob = output;
    let layer = loop {
        let layer = graph
            .layers
            .iter()
            .rev()
            .find(|l| l.tops.iter().any(|t| t == blob))?;
        match &layer.op {
            Op::Onnx(
                OnnxOp::Softmax { .. }
                | OnnxOp::Identity
                | OnnxOp::Flatten { .. }
                | OnnxOp::Reshape { .. }
                | OnnxOp::Unary { .. },
            ) => blob = layer.bottoms.first()?,
            _ => break layer,
        }
    };
    let weight_blob = match &layer.op {
        Op::Onnx(OnnxOp::Gemm { trans_b, .. }) => Some((layer.bottoms.get(1)?, *trans_b)),
        Op::Onnx(OnnxOp::MatMul) => Some((layer.bottoms.get(1)?, false)),
        _ => None,
    }?;
    let constant = graph.layers.iter().find(|l| {
        l.tops.first() == Some(weight_blob.0) && matches!(l.op, Op::Onnx(OnnxOp::Constant))
    })?;
    let key = format!("{}/value", constant.name);
    let t = tensors.iter().find(|t| t.name == key)?;
    if t.dims.len() != 2 {
        return None;
    }
    let classes = if weight_blob.1 { t.dims[0] } else { t.dims[1] };
    Some((layer.name.clone(), classes))
}

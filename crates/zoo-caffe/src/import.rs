//! The import pipeline: read, convert, write the package.

use crate::error::{CaffeError, Result, TextError, WireError};
use crate::package::{ExtraFile, PackageContents};
use crate::runnable::{self, Like, PreprocessOptions};
use crate::{convert, net, package, text, wire};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use zoo_format::manifest::{SourceFile, Task};

/// Choices for [`import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Package name; default: from the net's name, else the output directory's.
    pub name: Option<String>,
    /// Package version; default 0.1.0.
    pub version: Option<semver::Version>,
    /// Show a progress bar on stderr for large weight files.
    pub progress: bool,
    /// A labels file (one per line) for the classifier output.
    pub labels: Option<PathBuf>,
    /// The first input's image preprocessing.
    pub preprocess: PreprocessOptions,
    /// How `zoo run` decodes the outputs (default: classify with labels).
    pub task: Option<Task>,
    /// A package folder with a built-in architecture: the import becomes
    /// that architecture with the converted weights, taking the folder's
    /// preprocessing, labels, task and card unless given here.
    pub like: Option<PathBuf>,
}

/// What an import needs from the tensor side, which zoo-caffe does not
/// link: the caller supplies it (zoo-torch from zoo-models).
pub trait ModelSide {
    /// The parameters of built-in architecture `name` with `config`, as
    /// weights files name them, with their shapes (for `--like`).
    fn builtin_parameters(
        &self,
        name: &str,
        config: &serde_json::Value,
    ) -> std::result::Result<Vec<(String, Vec<i64>)>, String>;

    /// Loads the staged package folder, runs it on its fixed input and
    /// records `golden.npz` and `[model.golden]` there (before the rename).
    fn record_golden(&self, staged: &Path) -> std::result::Result<(), String>;
}

/// What an import produced.
#[derive(Debug, Clone)]
pub struct ImportSummary {
    pub out_dir: PathBuf,
    pub name: String,
    pub layers: usize,
    pub parameters: usize,
    pub weight_bytes: u64,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

/// Imports `caffemodel` (with the structure of `prototxt` when given, else
/// its own) into a new package directory `out_dir`; `side` checks `--like`
/// parameters and records the golden output.
pub fn import(
    prototxt: Option<&Path>,
    caffemodel: &Path,
    out_dir: &Path,
    opts: &ImportOptions,
    side: &dyn ModelSide,
) -> Result<ImportSummary> {
    package::check_destination(out_dir)?;
    // Cheap checks first: a bad option must not cost a conversion.
    let like = opts.like.as_deref().map(Like::read).transpose()?;
    let like_input = like
        .as_ref()
        .and_then(|l| l.package.manifest.model.as_ref()?.inputs.first().cloned());
    let labels_file = opts
        .labels
        .clone()
        .or_else(|| like.as_ref().and_then(|l| l.package.labels()));
    let labels = labels_file
        .as_deref()
        .map(runnable::read_labels)
        .transpose()?;
    let task = runnable::resolve_task(
        opts.task,
        like.as_ref().map(|l| &l.package),
        labels.is_some(),
    );
    let deploy = match prototxt {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| CaffeError::io(path, e))?;
            let text = String::from_utf8(text).map_err(|_| CaffeError::Prototxt {
                path: path.to_path_buf(),
                source: TextError {
                    line: 1,
                    column: 1,
                    message: "the file is not UTF-8 text; the text deploy prototxt comes first, \
                              then the binary .caffemodel"
                        .into(),
                },
            })?;
            let net = text::parse_net(&text).map_err(|source| CaffeError::Prototxt {
                path: path.to_path_buf(),
                source,
            })?;
            Some((path, net, Sha256::digest(text.as_bytes())))
        }
        None => None,
    };

    let file = std::fs::File::open(caffemodel).map_err(|e| CaffeError::io(caffemodel, e))?;
    let len = file
        .metadata()
        .map_err(|e| CaffeError::io(caffemodel, e))?
        .len();
    // SAFETY: the mapping is read-only; like any reader we assume the file is
    // not truncated by someone else during the import.
    let mmap = if len == 0 {
        None
    } else {
        Some(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| CaffeError::io(caffemodel, e))?)
    };
    let bytes: &[u8] = mmap.as_deref().unwrap_or(&[]);
    let malformed = |message: &str| CaffeError::Caffemodel {
        path: caffemodel.to_path_buf(),
        source: WireError {
            offset: 0,
            message: message.to_string(),
        },
    };
    if bytes.is_empty() {
        return Err(malformed(
            "the file is empty; a caffemodel holds the trained weights",
        ));
    }
    let model = wire::read_model(bytes).map_err(|source| {
        if looks_like_prototxt(bytes) {
            malformed(
                "this is a text prototxt, not a binary caffemodel: give the deploy prototxt \
                 first and the .caffemodel (the weights) second",
            )
        } else {
            CaffeError::Caffemodel {
                path: caffemodel.to_path_buf(),
                source,
            }
        }
    })?;

    let model_layers = net::layers_of_model(model.layers);
    // Defaults from a data layer's transform_param: the deploy file's,
    // else the caffemodel's own (train nets keep their data layers).
    let deploy_layers = deploy.as_ref().map(|(_, net, _)| net::layers_of_net(net));
    let transform = deploy_layers
        .as_deref()
        .and_then(runnable::transform_of)
        .map(|t| (t, deploy.as_ref().map(|(p, _, _)| *p).unwrap_or(caffemodel)))
        .or_else(|| runnable::transform_of(&model_layers).map(|t| (t, caffemodel)));
    let preprocess = match &transform {
        Some((t, origin)) => opts.preprocess.with_defaults(Some(t), origin)?,
        None => opts.preprocess.clone(),
    }
    .resolve(like_input.as_ref().and_then(|i| i.preprocess.as_ref()))?;
    let (net_name, inputs, structure, weights) = match &deploy {
        Some((_, net, _)) => {
            let structure = deploy_layers.unwrap_or_else(|| net::layers_of_net(net));
            let inputs = net::declared_inputs(net, &structure)?;
            let weights: HashMap<String, Vec<wire::Blob<'_>>> = model_layers
                .into_iter()
                .map(|l| (l.name, l.blobs))
                .collect();
            (net.name().to_string(), inputs, structure, weights)
        }
        None => {
            let inputs = net::declared_inputs(&model.net, &model_layers)?;
            (
                model.net.name().to_string(),
                inputs,
                model_layers,
                HashMap::new(),
            )
        }
    };
    // A classifier records how its images are read even when nothing was
    // given: Caffe's conventions (BGR, 0–255), not the reader's default RGB.
    let preprocess = match (preprocess, task) {
        (None, Some(_)) => PreprocessOptions::default().resolve_or_caffe()?,
        (preprocess, _) => preprocess,
    };
    let (graph, tensors) = convert::convert(&net_name, inputs, &structure, &weights)?;
    let mut preprocess = preprocess;
    runnable::fit_channels(&mut preprocess, graph.inputs.first())?;
    if let (Some(file), Some(labels)) = (&labels_file, &labels) {
        let order: Vec<String> = graph.layers.iter().map(|l| l.name.clone()).collect();
        runnable::check_labels(
            file,
            labels.len(),
            runnable::classifier_size(&order, &tensors),
        )?;
    }
    if let Some(like) = &like {
        like.check_parameters(&tensors, side)?;
    }

    let name = match &opts.name {
        Some(name) => {
            zoo_format::validate_name(name)
                .map_err(|m| CaffeError::Invalid(format!("invalid package name {name:?}: {m}")))?;
            name.clone()
        }
        None if like.is_some() => like
            .as_ref()
            .map(|l| l.package.manifest.package.name.clone())
            .unwrap_or_default(),
        None => {
            let from_dir = out_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
            let source = if net_name.is_empty() {
                from_dir.unwrap_or_default()
            } else {
                net_name.clone()
            };
            package::package_name_from(&source)
        }
    };
    let version = opts.version.clone().unwrap_or_else(|| match &like {
        Some(like) => like.package.manifest.package.version.clone(),
        None => semver::Version::new(0, 1, 0),
    });
    let file_name = |p: &Path| {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let description = format!(
        "{} imported from Caffe ({})",
        if net_name.is_empty() {
            name.as_str()
        } else {
            net_name.as_str()
        },
        file_name(caffemodel)
    );

    // Hash the caffemodel while the weights are written and the golden
    // run checks them (write_package); blobs borrowed
    // from the map are copied from the file, so the map's pages are never
    // faulted in by the writer.
    let sources: Vec<package::MappedSource<'_>> = mmap
        .iter()
        .map(|map| package::MappedSource::new(map, &file))
        .collect();
    let out = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| {
            zoo_format::checksum::sha256_mapped_file(caffemodel)
                .map_err(|e| CaffeError::io(caffemodel, e))
        });
        package::write_package(
            out_dir,
            like.is_none().then_some(&graph),
            package::Weights {
                tensors: &tensors,
                mapped: &sources,
                progress: opts.progress,
            },
            |sources| {
                let info = package::PackageInfo {
                    name: name.clone(),
                    version: version.clone(),
                    description: description.clone(),
                    sources,
                };
                contents(
                    &graph,
                    info,
                    like.as_ref(),
                    preprocess.clone(),
                    labels_file.as_deref(),
                    task,
                )
            },
            // The package must load as written (zoo-models' strict loader for
            // --like); its answer to a fixed input becomes golden.npz (a
            // graph input without a shape has no fixed input: no golden).
            |staged| {
                let shaped = graph.inputs.iter().all(|i| i.shape.is_some());
                if like.is_none() && !shaped {
                    return Ok(());
                }
                side.record_golden(staged).map_err(|e| match &like {
                    Some(like) => CaffeError::Invalid(format!(
                        "the package is not loadable as {} (from {}): {e}",
                        like.builtin,
                        like.package.dir.display()
                    )),
                    None => CaffeError::Invalid(format!(
                        "the converted graph does not run on its input: {e}"
                    )),
                })
            },
            || {
                let (model_sha, _) = hasher
                    .join()
                    .map_err(|_| CaffeError::Invalid("hashing the caffemodel failed".into()))??;
                let mut sources = Vec::new();
                if let Some((path, _, digest)) = &deploy {
                    sources.push(SourceFile {
                        file: file_name(path),
                        sha256: hex::encode(digest),
                        size: std::fs::metadata(path).ok().map(|m| m.len()),
                    });
                }
                sources.push(SourceFile {
                    file: file_name(caffemodel),
                    sha256: model_sha,
                    size: Some(len),
                });
                Ok(sources)
            },
        )
    })?;
    Ok(ImportSummary {
        out_dir: out,
        name,
        layers: graph.layers.len(),
        parameters: tensors.len(),
        weight_bytes: tensors.iter().map(|t| t.data.len() as u64 * 4).sum(),
        inputs: graph.inputs.iter().map(|i| i.name.clone()).collect(),
        outputs: graph.outputs.clone(),
    })
}

/// The labels file's name inside the package.
const LABELS_FILE: &str = "labels.txt";
/// The card's name inside the package.
const CARD_FILE: &str = "README.md";

/// The manifest and extra files: a graph package, or with `like` the
/// built-in architecture with the like package's metadata (its metrics
/// and training provenance dropped: they were about other weights) and a
/// card recording where the weights came from.
fn contents(
    graph: &zoo_graph::Graph,
    info: package::PackageInfo,
    like: Option<&Like>,
    preprocess: Option<zoo_format::manifest::Preprocess>,
    labels: Option<&Path>,
    task: Option<Task>,
) -> Result<PackageContents> {
    let mut files = Vec::new();
    let sources = info.sources.clone();
    let mut manifest = match like {
        Some(like) => {
            let mut manifest = like.package.manifest.clone();
            manifest.package.name = info.name.clone();
            manifest.package.version = info.version.clone();
            manifest.package.readme = Some(CARD_FILE.into());
            let card = like
                .package
                .card()?
                .unwrap_or_else(|| format!("# {}\n", info.name));
            files.push((
                CARD_FILE.to_string(),
                ExtraFile::Text(
                    card + &runnable::provenance_text(&sources, Some(&like.package.dir)),
                ),
            ));
            if let Some(model) = manifest.model.as_mut() {
                model.weights = vec![package::WEIGHTS_FILE.into()];
                model.metrics.clear();
                // Recorded afresh from these weights once they are written.
                model.golden = None;
                // This package carries its weights: nothing to fetch at install.
                model.sources.clear();
                for output in &mut model.outputs {
                    output.labels = None;
                }
            }
            manifest
        }
        None => package::graph_manifest(graph, info),
    };
    if let Some(model) = manifest.model.as_mut() {
        model.task = task;
        model.provenance = Some(zoo_format::manifest::Provenance {
            trained: None,
            converted_from: sources,
        });
        if let (Some(pre), Some(input)) = (preprocess, model.inputs.first_mut()) {
            input.preprocess = Some(pre);
        }
        if let Some(labels) = labels {
            let index = model
                .outputs
                .iter()
                .position(|o| o.name == "prob")
                .unwrap_or(0);
            if let Some(output) = model.outputs.get_mut(index) {
                output.labels = Some(LABELS_FILE.into());
                files.push((
                    LABELS_FILE.to_string(),
                    ExtraFile::Copy(labels.to_path_buf()),
                ));
            }
        }
    }
    Ok(PackageContents { manifest, files })
}

/// Whether a file that failed to decode as a caffemodel is text, most
/// likely a prototxt given in the weights' place: its first kilobyte is
/// printable ASCII with a `name:`, `layer` or `input` field.
fn looks_like_prototxt(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let printable = head
        .iter()
        .all(|&b| b.is_ascii_graphic() || b.is_ascii_whitespace());
    let text = String::from_utf8_lossy(head);
    printable && ["name:", "layer", "input"].iter().any(|k| text.contains(k))
}

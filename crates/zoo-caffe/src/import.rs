//! The import pipeline: read, convert, write the package.

use crate::error::{CaffeError, Result, TextError};
use crate::{convert, net, package, text, wire};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use zoo_format::manifest::SourceFile;

/// Choices for [`import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Package name; default: from the net's name, else the output directory's.
    pub name: Option<String>,
    /// Package version; default 0.1.0.
    pub version: Option<semver::Version>,
    /// Show a progress bar on stderr for large weight files.
    pub progress: bool,
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
/// its own) into a new package directory `out_dir`.
pub fn import(
    prototxt: Option<&Path>,
    caffemodel: &Path,
    out_dir: &Path,
    opts: &ImportOptions,
) -> Result<ImportSummary> {
    package::check_destination(out_dir)?;
    let deploy = match prototxt {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| CaffeError::io(path, e))?;
            let text = String::from_utf8(text).map_err(|_| CaffeError::Prototxt {
                path: path.to_path_buf(),
                source: TextError {
                    line: 1,
                    column: 1,
                    message: "the file is not UTF-8 text".into(),
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
    let model = wire::read_model(bytes).map_err(|source| CaffeError::Caffemodel {
        path: caffemodel.to_path_buf(),
        source,
    })?;

    let model_layers = net::layers_of_model(model.layers);
    let (net_name, inputs, structure, weights) = match &deploy {
        Some((_, net, _)) => {
            let structure = net::layers_of_net(net);
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
    let (graph, tensors) = convert::convert(&net_name, inputs, &structure, &weights)?;

    let name = match &opts.name {
        Some(name) => {
            zoo_format::validate_name(name)
                .map_err(|m| CaffeError::Invalid(format!("invalid package name {name:?}: {m}")))?;
            name.clone()
        }
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
    let version = opts
        .version
        .clone()
        .unwrap_or(semver::Version::new(0, 1, 0));
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

    // Hash the caffemodel while the weights are written; read it through the
    // page cache rather than the map so that the map's pages can be released.
    let pages = package::PageReleaser::new(mmap.as_ref());
    let out = std::thread::scope(|scope| {
        let hasher = scope.spawn(|| {
            zoo_format::checksum::sha256_file(caffemodel).map_err(|e| CaffeError::io(caffemodel, e))
        });
        package::write_package(
            out_dir,
            &graph,
            &tensors,
            || {
                let (model_sha, _) = hasher
                    .join()
                    .map_err(|_| CaffeError::Invalid("hashing the caffemodel failed".into()))??;
                let mut sources = Vec::new();
                if let Some((path, _, digest)) = &deploy {
                    sources.push(SourceFile {
                        file: file_name(path),
                        sha256: hex::encode(digest),
                    });
                }
                sources.push(SourceFile {
                    file: file_name(caffemodel),
                    sha256: model_sha,
                });
                Ok(package::PackageInfo {
                    name: name.clone(),
                    version,
                    description,
                    sources,
                })
            },
            opts.progress,
            &pages,
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

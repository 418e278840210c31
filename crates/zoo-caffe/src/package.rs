//! Writing the zoo package: `zoo.toml`, `graph.json`, `weights.safetensors`,
//! all into a temporary directory beside the destination that is renamed into
//! place only when everything succeeded (nothing is left behind on error).

use crate::convert::NamedTensor;
use crate::error::{CaffeError, Result};
use indicatif::{ProgressBar, ProgressStyle};
use safetensors::{Dtype, View};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use zoo_format::manifest::{
    Architecture, DType, Input, Manifest, ModelSection, Output, PackageMeta, Provenance, SourceFile,
};
use zoo_nn::graph::format::Graph;

pub const GRAPH_FILE: &str = "graph.json";
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// What goes into `zoo.toml` besides the graph's inputs and outputs.
pub struct PackageInfo {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub sources: Vec<SourceFile>,
}

/// A tensor as safetensors sees it; reports its bytes to the progress bar
/// when the writer asks for them.
struct TensorView<'t, 'a> {
    tensor: &'t NamedTensor<'a>,
    progress: &'t ProgressBar,
}

impl View for TensorView<'_, '_> {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.tensor.shape
    }

    fn data(&self) -> Cow<'_, [u8]> {
        self.progress.inc(self.data_len() as u64);
        self.tensor.data.le_bytes()
    }

    fn data_len(&self) -> usize {
        self.tensor.data.len() * 4
    }
}

/// Refuses a destination that exists and is not an empty directory.
pub fn check_destination(out_dir: &Path) -> Result<()> {
    match std::fs::read_dir(out_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(CaffeError::Invalid(format!(
                    "{}: already exists and is not empty; choose a new output directory",
                    out_dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if out_dir.is_file() => Err(CaffeError::io(
            out_dir,
            std::io::Error::new(e.kind(), "exists and is a file"),
        )),
        Err(e) => Err(CaffeError::io(out_dir, e)),
    }
}

/// Writes the package. `finish` runs after the files are written and before
/// the rename (it supplies late provenance, e.g. a hash computed meanwhile).
pub fn write_package(
    out_dir: &Path,
    graph: &Graph,
    tensors: &[NamedTensor<'_>],
    info: impl FnOnce() -> Result<PackageInfo>,
    progress: bool,
) -> Result<PathBuf> {
    check_destination(out_dir)?;
    let parent = match out_dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).map_err(|e| CaffeError::io(&parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".zoo-import-")
        .tempdir_in(&parent)
        .map_err(|e| CaffeError::io(&parent, e))?;

    let graph_path = staging.path().join(GRAPH_FILE);
    let text = serde_json::to_string_pretty(graph)
        .map_err(|e| CaffeError::Invalid(format!("cannot serialise the graph: {e}")))?;
    std::fs::write(&graph_path, text + "\n")
        .map_err(|e| CaffeError::io(out_dir.join(GRAPH_FILE), e))?;

    let total: u64 = tensors.iter().map(|t| t.data.len() as u64 * 4).sum();
    let bar = if progress && total >= 32 << 20 {
        let bar = ProgressBar::new(total);
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message("writing weights");
        bar
    } else {
        ProgressBar::hidden()
    };
    let views = tensors.iter().map(|t| {
        (
            t.name.clone(),
            TensorView {
                tensor: t,
                progress: &bar,
            },
        )
    });
    safetensors::serialize_to_file(views, None, &staging.path().join(WEIGHTS_FILE)).map_err(
        |e| {
            CaffeError::Invalid(format!(
                "{}: cannot write: {e}",
                out_dir.join(WEIGHTS_FILE).display()
            ))
        },
    )?;
    bar.finish_and_clear();

    let info = info()?;
    let manifest = manifest(graph, info);
    manifest
        .validate("zoo.toml")
        .map_err(|e| CaffeError::Invalid(format!("generated manifest is invalid: {e}")))?;
    let toml = manifest
        .to_toml_string()
        .map_err(|e| CaffeError::Invalid(format!("cannot serialise zoo.toml: {e}")))?;
    std::fs::write(staging.path().join("zoo.toml"), toml)
        .map_err(|e| CaffeError::io(out_dir.join("zoo.toml"), e))?;

    // An empty destination directory may exist; the rename replaces it.
    if out_dir.is_dir() {
        std::fs::remove_dir(out_dir).map_err(|e| CaffeError::io(out_dir, e))?;
    }
    let staged = staging.keep();
    if let Err(e) = std::fs::rename(&staged, out_dir) {
        let _ = std::fs::remove_dir_all(&staged);
        return Err(CaffeError::io(out_dir, e));
    }
    Ok(out_dir.to_path_buf())
}

fn manifest(graph: &Graph, info: PackageInfo) -> Manifest {
    let inputs = graph
        .inputs
        .iter()
        .filter_map(|i| {
            Some(Input {
                name: i.name.clone(),
                shape: i.shape.clone()?,
                dtype: DType::F32,
                preprocess: None,
            })
        })
        .collect();
    let outputs = graph
        .outputs
        .iter()
        .map(|o| Output {
            name: o.clone(),
            labels: None,
        })
        .collect();
    Manifest {
        package: PackageMeta {
            name: info.name,
            version: info.version,
            kind: zoo_format::Kind::Model,
            description: info.description,
            license: None,
            authors: Vec::new(),
            homepage: None,
            repository: None,
            readme: None,
            keywords: vec!["caffe".into()],
        },
        dependencies: Default::default(),
        model: Some(ModelSection {
            weights: vec![WEIGHTS_FILE.into()],
            architecture: Architecture::Graph {
                file: GRAPH_FILE.into(),
            },
            inputs,
            outputs,
            metrics: Vec::new(),
            provenance: Some(Provenance {
                trained: None,
                converted_from: info.sources,
            }),
        }),
    }
}

/// A valid package name from free text: lowercase letters, digits and `-`,
/// starting with a letter ("VGG_ILSVRC_16_layers" → "vgg-ilsvrc-16-layers").
pub fn package_name_from(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    let name = name.trim_matches('-').to_string();
    let name = if name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        name
    } else {
        format!("caffe-{name}").trim_end_matches('-').to_string()
    };
    name.chars()
        .take(64)
        .collect::<String>()
        .trim_end_matches('-')
        .to_string()
}

//! Writing the zoo package: `zoo.toml`, `graph.json`, `weights.safetensors`,
//! through `zoo_format::package_dir` (staged beside the destination, renamed
//! into place only when everything succeeded).

use crate::convert::NamedTensor;
use crate::error::{CaffeError, Result};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use zoo_format::manifest::{
    Architecture, DType, Input, Manifest, ModelSection, Output, PackageMeta, Provenance, SourceFile,
};
use zoo_format::package_dir::{self, Dtype, StagedPackage, StreamedTensor};
use zoo_graph::Graph;

pub use zoo_format::package_dir::MappedSource;

pub const GRAPH_FILE: &str = "graph.json";
pub const WEIGHTS_FILE: &str = "weights.safetensors";

/// What goes into `zoo.toml` besides the graph's inputs and outputs.
pub struct PackageInfo {
    pub name: String,
    pub version: semver::Version,
    pub description: String,
    pub sources: Vec<SourceFile>,
}

/// A file of the package besides the weights and the graph.
pub enum ExtraFile {
    /// Copied from a file (labels).
    Copy(PathBuf),
    /// Written from text (the card).
    Text(String),
}

/// The package's manifest and other files (their provenance is the
/// sources' hashes, made on another thread: see [`write_package`]).
pub struct PackageContents {
    pub manifest: Manifest,
    /// `(name in the package, content)`.
    pub files: Vec<(String, ExtraFile)>,
}

/// The caffemodel's blobs as the package writer streams them.
impl StreamedTensor for NamedTensor<'_> {
    fn name(&self) -> &str {
        &self.name
    }
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn byte_len(&self) -> usize {
        self.data.len() * 4
    }
    fn le_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        self.data.le_bytes()
    }
}

/// Refuses a destination that exists and is not an empty directory.
pub fn check_destination(out_dir: &Path) -> Result<()> {
    Ok(package_dir::check_destination(out_dir)?)
}

/// The weights [`write_package`] streams into safetensors.
pub struct Weights<'t, 'm, T> {
    pub tensors: &'t [T],
    /// Memory-mapped sources the tensors may borrow from (copied from their
    /// files).
    pub mapped: &'t [MappedSource<'m>],
    /// Show a progress bar (for large files, on a terminal).
    pub progress: bool,
}

/// Writes the package: `graph.json` when `graph` is given (a built-in
/// architecture has none), the weights (tensors that lie in a `mapped` source
/// are copied from its file), then the manifest and files of `contents`.
/// `verify` checks the staged folder (the golden run) while the sources
/// may still be being hashed: `contents` is first made without them, and
/// made again, with what `sources` waits for and the `[model.golden]` that
/// `verify` recorded, once it is done. Only the provenance and the card
/// change between the two, and neither changes how the package loads. An
/// error leaves nothing behind.
pub fn write_package<T: StreamedTensor>(
    out_dir: &Path,
    graph: Option<&Graph>,
    weights: Weights<'_, '_, T>,
    contents: impl Fn(Vec<SourceFile>) -> Result<PackageContents>,
    verify: impl FnOnce(&Path) -> Result<()>,
    sources: impl FnOnce() -> Result<Vec<SourceFile>>,
) -> Result<PathBuf> {
    let staged = StagedPackage::create(out_dir)?;
    if let Some(graph) = graph {
        let text = graph
            .to_json()
            .map_err(|e| CaffeError::Invalid(format!("cannot serialise the graph: {e}")))?;
        staged.write(GRAPH_FILE, text)?;
    }

    let Weights {
        tensors,
        mapped,
        progress,
    } = weights;
    let total: u64 = tensors.iter().map(|t| t.byte_len() as u64).sum();
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
    staged.write_safetensors(WEIGHTS_FILE, tensors, mapped, |len| bar.inc(len as u64))?;
    bar.finish_and_clear();

    write_contents(&staged, contents(Vec::new())?)?;
    verify(staged.path())?;
    let golden = Manifest::load(staged.path())
        .map_err(|e| CaffeError::Invalid(e.to_string()))?
        .model
        .and_then(|model| model.golden);
    let mut done = contents(sources()?)?;
    if let Some(model) = done.manifest.model.as_mut() {
        model.golden = golden;
    }
    write_contents(&staged, done)?;
    Ok(staged.commit()?)
}

fn write_contents(staged: &StagedPackage, contents: PackageContents) -> Result<()> {
    let PackageContents { manifest, files } = contents;
    for (name, content) in files {
        match content {
            ExtraFile::Copy(source) => staged.copy(&name, &source)?,
            ExtraFile::Text(text) => staged.write(&name, text)?,
        }
    }
    Ok(staged.write_manifest(&manifest)?)
}

/// The manifest of a graph package: the graph's inputs and outputs, the
/// weights, the sources' provenance.
pub fn graph_manifest(graph: &Graph, info: PackageInfo) -> Manifest {
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
            task: None,
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
            golden: None,
            sources: Vec::new(),
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

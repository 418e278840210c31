//! Writing the zoo package: `zoo.toml`, `graph.json`, `weights.safetensors`,
//! all into a temporary directory beside the destination that is renamed into
//! place only when everything succeeded (nothing is left behind on error).

use crate::convert::NamedTensor;
use crate::error::{CaffeError, Result};
use indicatif::{ProgressBar, ProgressStyle};
use safetensors::Dtype;
use safetensors::tensor::{Metadata, TensorInfo};
use std::cell::Cell;
use std::io::Write;
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

/// A file of the package besides the weights and the graph.
pub enum ExtraFile {
    /// Copied from a file (labels).
    Copy(PathBuf),
    /// Written from text (the card).
    Text(String),
}

/// The package's manifest and other files, known once the weights are
/// written (provenance needs the caffemodel's hash).
pub struct PackageContents {
    pub manifest: Manifest,
    /// `(name in the package, content)`.
    pub files: Vec<(String, ExtraFile)>,
}

/// Drops the pages of the memory-mapped caffemodel from this process once
/// their bytes are written, so that resident memory stays near the size of
/// one tensor rather than growing to the whole file. The writer asks for
/// chunks one after another: asking for the next means the last is written.
pub struct PageReleaser<'m> {
    map: Option<&'m memmap2::Mmap>,
    pending: Cell<Option<(usize, usize)>>,
}

impl<'m> PageReleaser<'m> {
    pub fn new(map: Option<&'m memmap2::Mmap>) -> Self {
        PageReleaser {
            map,
            pending: Cell::new(None),
        }
    }

    /// Releases the previous range and remembers `bytes` if they lie in the map.
    fn next(&self, bytes: &[u8]) {
        self.release();
        if let Some(map) = self.map {
            let (base, start) = (map.as_ptr() as usize, bytes.as_ptr() as usize);
            if start >= base && start + bytes.len() <= base + map.len() {
                self.pending.set(Some((start - base, bytes.len())));
            }
        }
    }

    fn release(&self) {
        if let (Some(map), Some((offset, len))) = (self.map, self.pending.take()) {
            // SAFETY: the map is a read-only shared mapping of a file: MADV_DONTNEED
            // only drops this process's page-table entries, and any later read
            // faults the same bytes back in from the page cache. (A failure
            // only means the pages stay resident.)
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)
            };
        }
    }
}

/// Writes a safetensors file: the header made by the safetensors crate's
/// own `Metadata` (tensors sorted by name, data offsets in that order), then
/// the data streamed in 8 MiB chunks, each chunk's source pages released
/// once written.
fn write_safetensors(
    path: &Path,
    tensors: &[NamedTensor<'_>],
    progress: &ProgressBar,
    pages: &PageReleaser<'_>,
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut order: Vec<&NamedTensor<'_>> = tensors.iter().collect();
    order.sort_by(|a, b| a.name.cmp(&b.name));
    let mut offset = 0;
    let mut infos = Vec::with_capacity(order.len());
    for tensor in &order {
        let len = tensor.data.len() * 4;
        infos.push((
            tensor.name.clone(),
            TensorInfo {
                dtype: Dtype::F32,
                shape: tensor.shape.clone(),
                data_offsets: (offset, offset + len),
            },
        ));
        offset += len;
    }
    let mut header = serde_json::to_vec(&Metadata::new(None, infos)?)?;
    header.resize(header.len().next_multiple_of(8), b' ');
    let mut file = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    file.write_all(&(header.len() as u64).to_le_bytes())?;
    file.write_all(&header)?;
    for tensor in order {
        let bytes = tensor.data.le_bytes();
        for chunk in bytes.chunks(8 << 20) {
            pages.next(chunk);
            file.write_all(chunk)?;
            progress.inc(chunk.len() as u64);
        }
    }
    pages.release();
    file.into_inner().map_err(|e| e.into_error())?.flush()?;
    Ok(())
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

/// Writes the package: `graph.json` when `graph` is given (a built-in
/// architecture has none), the weights, then what `info` supplies (it runs
/// after the weights are written, e.g. to wait for a hash computed
/// meanwhile). `verify` checks the staged folder before the rename: an
/// error leaves nothing behind.
pub fn write_package(
    out_dir: &Path,
    graph: Option<&Graph>,
    tensors: &[NamedTensor<'_>],
    info: impl FnOnce() -> Result<PackageContents>,
    progress: bool,
    pages: &PageReleaser<'_>,
    verify: impl FnOnce(&Path) -> Result<()>,
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

    if let Some(graph) = graph {
        let graph_path = staging.path().join(GRAPH_FILE);
        let text = serde_json::to_string_pretty(graph)
            .map_err(|e| CaffeError::Invalid(format!("cannot serialise the graph: {e}")))?;
        std::fs::write(&graph_path, text + "\n")
            .map_err(|e| CaffeError::io(out_dir.join(GRAPH_FILE), e))?;
    }

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
    let weights_path = staging.path().join(WEIGHTS_FILE);
    write_safetensors(&weights_path, tensors, &bar, pages).map_err(|e| {
        CaffeError::Invalid(format!(
            "{}: cannot write: {e}",
            out_dir.join(WEIGHTS_FILE).display()
        ))
    })?;
    bar.finish_and_clear();

    let PackageContents { manifest, files } = info()?;
    for (name, content) in files {
        let target = staging.path().join(&name);
        match content {
            ExtraFile::Copy(source) => std::fs::copy(&source, &target)
                .map(|_| ())
                .map_err(|e| CaffeError::io(&source, e))?,
            ExtraFile::Text(text) => {
                std::fs::write(&target, text).map_err(|e| CaffeError::io(out_dir.join(&name), e))?
            }
        }
    }
    manifest
        .validate("zoo.toml")
        .map_err(|e| CaffeError::Invalid(format!("generated manifest is invalid: {e}")))?;
    let toml = manifest
        .to_toml_string()
        .map_err(|e| CaffeError::Invalid(format!("cannot serialise zoo.toml: {e}")))?;
    std::fs::write(staging.path().join("zoo.toml"), toml)
        .map_err(|e| CaffeError::io(out_dir.join("zoo.toml"), e))?;
    verify(staging.path())?;

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

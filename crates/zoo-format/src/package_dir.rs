//! Writing a package folder atomically, for every importer: files go into a
//! hidden staging directory beside the destination, which is renamed into
//! place only when everything is written and checked. An error, or dropping
//! the [`StagedPackage`], leaves nothing behind.
//!
//! Weights are streamed into safetensors chunk by chunk, so that a converter
//! reading a memory-mapped source never holds the whole file in memory
//! ([`MappedPages`] drops each chunk's pages once written).

use crate::manifest::Manifest;
use safetensors::tensor::{Metadata, TensorInfo};
use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use safetensors::Dtype;

/// The manifest's name inside a package.
pub const MANIFEST_FILE: &str = "zoo.toml";

#[derive(Debug, thiserror::Error)]
pub enum PackageDirError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

impl PackageDirError {
    fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        PackageDirError::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = PackageDirError> = std::result::Result<T, E>;

/// Refuses a destination that exists and is not an empty directory (checked
/// before any work, and again when staging starts).
pub fn check_destination(out_dir: &Path) -> Result<()> {
    match std::fs::read_dir(out_dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(PackageDirError::Invalid(format!(
                    "{}: already exists and is not empty; choose a new output directory",
                    out_dir.display()
                )));
            }
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) if out_dir.is_file() => Err(PackageDirError::io(
            out_dir,
            std::io::Error::new(e.kind(), "exists and is a file"),
        )),
        Err(e) => Err(PackageDirError::io(out_dir, e)),
    }
}

/// One tensor to stream into a safetensors file.
pub trait StreamedTensor {
    /// Its key in the file (`conv1/W`).
    fn name(&self) -> &str;
    fn dtype(&self) -> Dtype;
    fn shape(&self) -> &[usize];
    /// The data's length in bytes, known before the data is produced.
    fn byte_len(&self) -> usize;
    /// The data, little-endian (borrowed when the source already is).
    fn le_bytes(&self) -> Cow<'_, [u8]>;
}

/// A package folder being written: files land in the staging directory
/// ([`StagedPackage::path`]) and reach `out_dir` only by [`StagedPackage::commit`].
#[derive(Debug)]
pub struct StagedPackage {
    staging: tempfile::TempDir,
    out_dir: PathBuf,
}

impl StagedPackage {
    /// Checks the destination and creates the staging directory beside it
    /// (same filesystem, so the final rename is atomic).
    pub fn create(out_dir: &Path) -> Result<StagedPackage> {
        check_destination(out_dir)?;
        let parent = match out_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        std::fs::create_dir_all(&parent).map_err(|e| PackageDirError::io(&parent, e))?;
        let staging = tempfile::Builder::new()
            .prefix(".zoo-import-")
            .tempdir_in(&parent)
            .map_err(|e| PackageDirError::io(&parent, e))?;
        Ok(StagedPackage {
            staging,
            out_dir: out_dir.to_path_buf(),
        })
    }

    /// The staging directory: what checks before the commit should read.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// Writes `name` from bytes; an error names the file at its final place.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> Result<()> {
        std::fs::write(self.path().join(name), contents)
            .map_err(|e| PackageDirError::io(self.out_dir.join(name), e))
    }

    /// Copies `source` into the package as `name`; an error names `source`.
    pub fn copy(&self, name: &str, source: &Path) -> Result<()> {
        std::fs::copy(source, self.path().join(name))
            .map(|_| ())
            .map_err(|e| PackageDirError::io(source, e))
    }

    /// Validates `manifest` (a generated one must be as valid as a written
    /// one) and writes it as `zoo.toml`.
    pub fn write_manifest(&self, manifest: &Manifest) -> Result<()> {
        manifest
            .validate(MANIFEST_FILE)
            .map_err(|e| PackageDirError::Invalid(format!("generated manifest is invalid: {e}")))?;
        let toml = manifest
            .to_toml_string()
            .map_err(|e| PackageDirError::Invalid(format!("cannot serialise zoo.toml: {e}")))?;
        self.write(MANIFEST_FILE, toml)
    }

    /// Writes a safetensors file `name`: the header made by the safetensors
    /// crate's own `Metadata` (tensors sorted by name, data offsets in that
    /// order), then each tensor's data in 8 MiB chunks; `written` sees each
    /// chunk once it is written (progress, releasing a map's pages).
    pub fn write_safetensors<T: StreamedTensor>(
        &self,
        name: &str,
        tensors: &[T],
        mut written: impl FnMut(&[u8]),
    ) -> Result<()> {
        let path = self.path().join(name);
        stream_safetensors(&path, tensors, &mut written).map_err(|e| {
            PackageDirError::Invalid(format!(
                "{}: cannot write: {e}",
                self.out_dir.join(name).display()
            ))
        })
    }

    /// Renames the staging directory to `out_dir` (an empty directory there
    /// is replaced).
    pub fn commit(self) -> Result<PathBuf> {
        let out_dir = self.out_dir;
        if out_dir.is_dir() {
            std::fs::remove_dir(&out_dir).map_err(|e| PackageDirError::io(&out_dir, e))?;
        }
        let staged = self.staging.keep();
        if let Err(e) = std::fs::rename(&staged, &out_dir) {
            let _ = std::fs::remove_dir_all(&staged);
            return Err(PackageDirError::io(&out_dir, e));
        }
        Ok(out_dir)
    }
}

fn stream_safetensors<T: StreamedTensor>(
    path: &Path,
    tensors: &[T],
    written: &mut dyn FnMut(&[u8]),
) -> std::result::Result<(), Box<dyn std::error::Error>> {
    let mut order: Vec<&T> = tensors.iter().collect();
    order.sort_by(|a, b| a.name().cmp(b.name()));
    let mut offset = 0;
    let mut infos = Vec::with_capacity(order.len());
    for tensor in &order {
        let len = tensor.byte_len();
        infos.push((
            tensor.name().to_string(),
            TensorInfo {
                dtype: tensor.dtype(),
                shape: tensor.shape().to_vec(),
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
        let bytes = tensor.le_bytes();
        if bytes.len() != tensor.byte_len() {
            return Err(format!(
                "tensor {:?} has {} bytes of data, not the {} its shape needs",
                tensor.name(),
                bytes.len(),
                tensor.byte_len()
            )
            .into());
        }
        for chunk in bytes.chunks(8 << 20) {
            file.write_all(chunk)?;
            written(chunk);
        }
    }
    file.into_inner().map_err(|e| e.into_error())?.flush()?;
    Ok(())
}

/// Drops the pages of a memory-mapped source from this process once their
/// bytes are written, so that resident memory stays near one chunk rather
/// than growing to the whole file.
pub struct MappedPages<'m> {
    map: Option<&'m memmap2::Mmap>,
}

impl<'m> MappedPages<'m> {
    pub fn new(map: Option<&'m memmap2::Mmap>) -> Self {
        MappedPages { map }
    }

    /// Releases `bytes` if they lie in the map (anything else is ignored).
    pub fn release(&self, bytes: &[u8]) {
        let Some(map) = self.map else {
            return;
        };
        let (base, start) = (map.as_ptr() as usize, bytes.as_ptr() as usize);
        if start >= base && start + bytes.len() <= base + map.len() {
            // SAFETY: the map is a read-only shared mapping of a file:
            // MADV_DONTNEED only drops this process's page-table entries, and
            // any later read faults the same bytes back in from the page
            // cache. (A failure only means the pages stay resident.)
            let _ = unsafe {
                map.unchecked_advise_range(
                    memmap2::UncheckedAdvice::DontNeed,
                    start - base,
                    bytes.len(),
                )
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Raw(&'static str, Vec<usize>, Vec<u8>);

    impl StreamedTensor for Raw {
        fn name(&self) -> &str {
            self.0
        }
        fn dtype(&self) -> Dtype {
            Dtype::F32
        }
        fn shape(&self) -> &[usize] {
            &self.1
        }
        fn byte_len(&self) -> usize {
            self.1.iter().product::<usize>() * 4
        }
        fn le_bytes(&self) -> Cow<'_, [u8]> {
            Cow::Borrowed(&self.2)
        }
    }

    fn f32s(values: &[f32]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    #[test]
    fn a_committed_package_has_every_file_and_readable_weights() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("pkg");
        let staged = StagedPackage::create(&out).unwrap();
        staged.write("graph.json", "{}\n").unwrap();
        let tensors = [
            Raw("b/W", vec![2], f32s(&[3.0, 4.0])),
            Raw("a/W", vec![1, 1], f32s(&[1.5])),
        ];
        let mut seen = 0;
        staged
            .write_safetensors("weights.safetensors", &tensors, |chunk| seen += chunk.len())
            .unwrap();
        assert_eq!(seen, 12);
        assert!(
            !out.exists(),
            "nothing reaches the destination before commit"
        );
        assert_eq!(staged.commit().unwrap(), out);
        let bytes = std::fs::read(out.join("weights.safetensors")).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        assert_eq!(file.tensor("a/W").unwrap().data(), f32s(&[1.5]));
        assert_eq!(file.tensor("b/W").unwrap().shape(), [2]);
        assert_eq!(
            std::fs::read_to_string(out.join("graph.json")).unwrap(),
            "{}\n"
        );
        let leftovers: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no staging directory is left");
    }

    #[test]
    fn errors_leave_nothing_and_name_the_file() {
        let root = tempfile::tempdir().unwrap();
        let out = root.path().join("pkg");
        let staged = StagedPackage::create(&out).unwrap();
        let short = [Raw("a/W", vec![4], f32s(&[1.0]))];
        let error = staged
            .write_safetensors("weights.safetensors", &short, |_| {})
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("weights.safetensors: cannot write"),
            "{error}"
        );
        assert!(error.contains("\"a/W\" has 4 bytes"), "{error}");
        drop(staged);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);

        std::fs::create_dir(&out).unwrap();
        std::fs::write(out.join("x"), "x").unwrap();
        let error = StagedPackage::create(&out).unwrap_err().to_string();
        assert!(error.contains("already exists and is not empty"), "{error}");
    }
}

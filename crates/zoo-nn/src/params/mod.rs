//! Parameter and array I/O: safetensors (zoo's weights format), Chainer's
//! `save_npz` files, and npy/npz for model inputs and outputs.
//!
//! Names in files use `/` (`conv1_1/W`, as Chainer and zoo packages write
//! them); the `VarStore` uses `.` (tch's separator). Every reader reports a
//! truncated or corrupt file as an error naming the file, never a panic.

mod assign;
mod chainer_npz;
mod npy;
mod npz;
mod safetensors_io;

pub use assign::{LoadReport, Strictness};
pub use chainer_npz::{load_chainer_npz, load_chainer_npz_under, save_chainer_npz};
pub use npy::{read_npy, write_npy};
pub use npz::{read_npz, write_npz};
pub use safetensors_io::{
    MappedSafetensors, load_safetensors, read_safetensors, save_safetensors, write_safetensors,
};

/// The readers on in-memory bytes, for the fuzz targets in
/// `crates/zoo-nn/fuzz` (and their smoke test): the very code paths the file
/// readers take after reading or mapping the file. Any input must give a
/// value or an error, never a panic.
#[doc(hidden)]
pub mod fuzzing {
    use std::path::Path;

    /// A `.npy` file to a tensor.
    pub fn npy(bytes: &[u8]) -> Result<(), String> {
        let array = super::npy::parse_npy(bytes)?;
        array.to_tensor().map(drop).map_err(|e| e.to_string())
    }

    /// An `.npz` file to tensors.
    pub fn npz(bytes: &[u8]) -> Result<(), String> {
        let arrays = super::npz::parse_npz(std::io::Cursor::new(bytes), Path::new("fuzz.npz"))
            .map_err(|e| e.to_string())?;
        for (_, array) in arrays {
            array.to_tensor().map(drop).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// A safetensors file loaded into a store holding `fc/W` (2x3) and
    /// `fc/b` (2), partially (so that any matching subset is assigned).
    pub fn safetensors(bytes: &[u8]) -> Result<(), String> {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let fc = vs.root().sub("fc");
        let _w = fc.zeros("W", &[2, 3]);
        let _b = fc.zeros("b", &[2]);
        super::safetensors_io::load_safetensors_bytes(
            &vs,
            Path::new("fuzz.safetensors"),
            bytes,
            super::Strictness::Partial,
        )
        .map(drop)
        .map_err(|e| e.to_string())
    }
}

/// A VarStore name (`conv1_1.W`) as written in files (`conv1_1/W`).
pub fn to_file_name(var_name: &str) -> String {
    var_name.replace('.', "/")
}

/// A file's parameter name (`conv1_1/W`) as the VarStore spells it.
pub fn to_var_name(file_name: &str) -> String {
    file_name.trim_start_matches('/').replace('/', ".")
}

/// Writes `bytes` to `path` atomically (see [`write_with_temp`]).
pub(crate) fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> crate::Result<()> {
    write_with_temp(path, |temp| {
        std::fs::write(temp, bytes).map_err(|source| crate::NnError::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// Lets `write` fill a temporary file next to `path`, then renames it into
/// place, so that a failed write never leaves a half-written file under the
/// final name (and the temporary is removed).
pub(crate) fn write_with_temp(
    path: &std::path::Path,
    write: impl FnOnce(&std::path::Path) -> crate::Result<()>,
) -> crate::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "params".into());
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = write(&temp).and_then(|()| {
        std::fs::rename(&temp, path).map_err(|source| crate::NnError::Io {
            path: path.to_path_buf(),
            source,
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

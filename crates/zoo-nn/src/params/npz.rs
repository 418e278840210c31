//! .npz files (numpy's `savez`/`savez_compressed`): a zip of .npy members.

use crate::error::{NnError, Result};
use crate::params::npy::{NpyArray, npy_bytes, parse_npy};
use std::io::{Read, Write};
use std::path::Path;
use tch::Tensor;

/// Parses every member of an npz file, in archive order, names without
/// the `.npy` suffix.
pub(crate) fn read_npz_arrays(path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let file = std::fs::File::open(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_npz(file, path)
}

/// [`read_npz_arrays`] on any seekable reader; `path` names it in errors.
pub(crate) fn parse_npz(
    reader: impl Read + std::io::Seek,
    path: &Path,
) -> Result<Vec<(String, NpyArray)>> {
    let mut archive = zip::ZipArchive::new(reader)
        .map_err(|e| NnError::file(path, format!("not a valid npz (zip) file: {e}")))?;
    let mut arrays = Vec::with_capacity(archive.len());
    for index in 0..archive.len() {
        let mut member = archive
            .by_index(index)
            .map_err(|e| NnError::file(path, format!("corrupt npz member #{index}: {e}")))?;
        let member_name = member.name().to_string();
        if member.is_dir() {
            continue;
        }
        let name = member_name
            .strip_suffix(".npy")
            .unwrap_or(&member_name)
            .to_string();
        let mut bytes = Vec::with_capacity(member.size().min(1 << 26) as usize);
        member
            .read_to_end(&mut bytes)
            .map_err(|e| NnError::file(path, format!("cannot read member {member_name}: {e}")))?;
        let array = parse_npy(&bytes)
            .map_err(|message| NnError::file(path, format!("member {member_name}: {message}")))?;
        arrays.push((name, array));
    }
    Ok(arrays)
}

/// Reads every array of an npz file as CPU tensors, in archive order.
pub fn read_npz(path: impl AsRef<Path>) -> Result<Vec<(String, Tensor)>> {
    let path = path.as_ref();
    read_npz_arrays(path)?
        .into_iter()
        .map(|(name, array)| Ok((name, array.to_tensor()?)))
        .collect()
}

/// Writes named tensors as an uncompressed npz (like `numpy.savez`),
/// atomically.
pub fn write_npz<S: AsRef<str>>(path: impl AsRef<Path>, tensors: &[(S, Tensor)]) -> Result<()> {
    let path = path.as_ref();
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut buffer);
        let options =
            zip::write::FileOptions::default().compression_method(zip::CompressionMethod::Stored);
        let zip_error = |e: zip::result::ZipError| NnError::file(path, e.to_string());
        for (name, tensor) in tensors {
            let name = name.as_ref();
            writer
                .start_file(format!("{name}.npy"), options)
                .map_err(zip_error)?;
            let bytes = npy_bytes(name, tensor)?;
            writer.write_all(&bytes).map_err(|source| NnError::Io {
                path: path.to_path_buf(),
                source,
            })?;
        }
        writer.finish().map_err(zip_error)?;
    }
    crate::params::write_atomically(path, buffer.get_ref())
}

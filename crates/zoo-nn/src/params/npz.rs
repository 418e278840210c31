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
/// atomically; the same tensors give the same bytes (members dated
/// 1980-01-01), so a regenerated package file does not differ.
pub fn write_npz<S: AsRef<str>>(path: impl AsRef<Path>, tensors: &[(S, Tensor)]) -> Result<()> {
    let path = path.as_ref();
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut buffer);
        let options = zip::write::FileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default());
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

#[cfg(test)]
mod tests {
    /// Members carry a fixed date, so the same tensors give the same file.
    #[test]
    fn written_npz_files_are_dated_1980_01_01() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npz");
        let t = tch::Tensor::from_slice(&[1.0f32, 2.0]);
        super::write_npz(&path, &[("x", t.shallow_clone())]).unwrap();
        let bytes = std::fs::read(&path).unwrap();
        // Local file header: time (2 bytes), then date ((year-1980)<<9 | month<<5 | day).
        assert_eq!(&bytes[10..14], &[0, 0, 0x21, 0]);
        let back = super::read_npz(&path).unwrap();
        assert_eq!(back[0].0, "x");
        assert!(back[0].1.equal(&t));
    }
}

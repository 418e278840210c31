//! Turning user files into the built-in models' input tensors: spike
//! sequences (`.npy` or text like `0,0,1,0`), videos (`.npy` or a folder of
//! frame images), and `.npy` tensors in general. Every failure names the file.

use crate::error::{ModelError, Result};
use crate::image_io;
use std::path::Path;
use tch::{Kind, Tensor};

/// Reads a `.npy` file as an f32 tensor.
pub fn read_npy(path: &Path) -> Result<Tensor> {
    if !path.is_file() {
        return Err(ModelError::file(path, "no such file"));
    }
    // zoo-nn's reader: every numpy dtype libtorch has, big-endian and
    // Fortran-order arrays, and errors that say what is wrong (tch's refuses
    // the last two with a misleading message).
    let tensor = zoo_nn::params::read_npy(path).map_err(|error| match error {
        zoo_nn::NnError::File { message, .. } => {
            ModelError::file(path, format!("not a readable .npy file: {message}"))
        }
        other => other.into(),
    })?;
    Ok(tensor.to_kind(Kind::Float))
}

/// Writes a tensor as `.npy`, atomically.
pub fn write_npy(tensor: &Tensor, path: &Path) -> Result<()> {
    let tmp = path.with_extension("npy.tmp");
    tensor
        .to_device(tch::Device::Cpu)
        .write_npy(&tmp)
        .map_err(|error| ModelError::file(&tmp, error.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|source| ModelError::io(path, source))
}

/// What a spike-sequence argument may be, for messages.
const SPIKES_EXPECTED: &str =
    "a spike sequence is a .npy file, a text file of numbers, or numbers like 0,0,1,0";

/// Whether `arg` is written as numbers (digits, signs, points, exponents,
/// commas, spaces) rather than as a file name.
fn looks_like_numbers(arg: &str) -> bool {
    arg.chars().any(|c| c.is_ascii_digit())
        && arg.chars().all(|c| {
            c.is_ascii_digit()
                || matches!(c, ',' | '.' | '-' | '+' | 'e' | 'E')
                || c.is_whitespace()
        })
}

/// The kind of a binary file by its first bytes, for messages.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    const KINDS: &[(&[u8], &str)] = &[
        (b"\x89PNG", "PNG image"),
        (b"\xff\xd8\xff", "JPEG image"),
        (b"GIF8", "GIF image"),
        (b"BM", "BMP image"),
        (b"\x93NUMPY", ".npy array (name it .npy)"),
        (b"PK\x03\x04", "zip archive"),
    ];
    KINDS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, kind)| *kind)
}

/// Parses "0,0,1,0 …" (commas and/or whitespace) into values.
pub fn parse_sequence_text(text: &str) -> Result<Vec<f32>> {
    let values: std::result::Result<Vec<f32>, _> = text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::parse::<f32>)
        .collect();
    let values = values.map_err(|error| {
        ModelError::input("x", format!("not a list of numbers like 0,0,1,0: {error}"))
    })?;
    if values.is_empty() {
        return Err(ModelError::input("x", "empty sequence"));
    }
    Ok(values)
}

/// A spike sequence as (1, T, 1): a `.npy` file of shape (T), (T, 1) or
/// (1, T, 1), a text file of numbers, or the numbers themselves
/// (`0,0,1,0`). An argument is read as numbers only when it is made of
/// numbers (a missing file is an error naming it, not a parse error).
pub fn read_spikes(arg: &str) -> Result<Tensor> {
    let path = Path::new(arg);
    let tensor = if path.is_file() {
        if path.extension().is_some_and(|e| e == "npy") {
            read_npy(path)?
        } else {
            let bytes = std::fs::read(path).map_err(|source| ModelError::io(path, source))?;
            let text = String::from_utf8(bytes).map_err(|error| {
                let what = match sniff(error.as_bytes()) {
                    Some(kind) => format!("a {kind} file"),
                    None => "binary, not text".to_string(),
                };
                ModelError::file(path, format!("{what}: {SPIKES_EXPECTED}"))
            })?;
            let values = parse_sequence_text(&text).map_err(|error| match error {
                ModelError::Nn(zoo_nn::NnError::Input { message, .. }) => {
                    ModelError::file(path, message)
                }
                other => other,
            })?;
            Tensor::from_slice(&values)
        }
    } else if arg.trim().is_empty() || looks_like_numbers(arg) {
        Tensor::from_slice(&parse_sequence_text(arg)?)
    } else {
        return Err(ModelError::file(
            path,
            format!("no such file ({SPIKES_EXPECTED})"),
        ));
    };
    let size = tensor.size();
    let steps = match size.as_slice() {
        [t] | [t, 1] | [1, t, 1] => *t,
        _ => {
            return Err(ModelError::input(
                "x",
                format!(
                    "{arg}: expected a sequence of shape [T], [T, 1] or [1, T, 1], got {size:?}"
                ),
            ));
        }
    };
    if steps == 0 {
        return Err(ModelError::input("x", format!("{arg}: empty sequence")));
    }
    Ok(tensor.reshape([1, steps, 1]))
}

/// A video as (1, T, 1, H, W) in [0, 1]: a `.npy` of shape (T, H, W),
/// (T, 1, H, W) or (1, T, 1, H, W), or a folder of frame images (sorted by name).
pub fn read_video(path: &Path) -> Result<Tensor> {
    if path.is_dir() {
        let mut frames: Vec<_> = std::fs::read_dir(path)
            .map_err(|source| ModelError::io(path, source))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        frames.sort();
        if frames.is_empty() {
            return Err(ModelError::file(path, "the folder holds no frame images"));
        }
        let mut tensors = Vec::with_capacity(frames.len());
        for frame in &frames {
            let image = image_io::open(frame)?;
            tensors.push(image_io::gray_tensor(&image).squeeze_dim(0));
        }
        let first = tensors[0].size();
        if let Some((frame, t)) = frames.iter().zip(&tensors).find(|(_, t)| t.size() != first) {
            return Err(ModelError::file(
                frame,
                format!(
                    "frame size {:?} differs from the first frame's {:?}",
                    t.size(),
                    first
                ),
            ));
        }
        return Ok(Tensor::stack(&tensors, 0).unsqueeze(0));
    }
    let tensor = read_npy(path)?;
    let size = tensor.size();
    match size.as_slice() {
        [t, h, w] => Ok(tensor.reshape([1, *t, 1, *h, *w])),
        [t, 1, h, w] => Ok(tensor.reshape([1, *t, 1, *h, *w])),
        [1, _, 1, _, _] => Ok(tensor),
        _ => Err(ModelError::file(
            path,
            format!(
                "expected a video of shape [T, H, W], [T, 1, H, W] or [1, T, 1, H, W], got {size:?}"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_inputs_in_numpy_layouts_are_read_and_errors_name_the_file_once() {
        let dir = tempfile::tempdir().unwrap();
        let npy = |header: &str, data: &[u8]| {
            let mut header = header.to_string();
            while !(10 + header.len() + 1).is_multiple_of(64) {
                header.push(' ');
            }
            header.push('\n');
            let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
            bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
            bytes.extend_from_slice(header.as_bytes());
            bytes.extend_from_slice(data);
            bytes
        };
        // Big-endian, column-major [[1, 2], [3, 4]].
        let data: Vec<u8> = [1f32, 3., 2., 4.]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        let path = dir.path().join("x.npy");
        std::fs::write(
            &path,
            npy(
                "{'descr': '>f4', 'fortran_order': True, 'shape': (2, 2), }",
                &data,
            ),
        )
        .unwrap();
        let t = read_npy(&path).unwrap();
        assert_eq!(
            Vec::<f32>::try_from(&t.flatten(0, -1)).unwrap(),
            [1., 2., 3., 4.]
        );
        let bad = dir.path().join("bad.npy");
        std::fs::write(&bad, b"hello").unwrap();
        let text = read_npy(&bad).unwrap_err().to_string();
        assert_eq!(text.matches("bad.npy").count(), 1, "{text}");
        assert!(text.contains("not a readable .npy file"), "{text}");
    }

    #[test]
    fn spike_arguments_are_numbers_or_files_named_in_errors() {
        assert_eq!(read_spikes("0,0,1,0").unwrap().size(), vec![1, 4, 1]);
        let missing = read_spikes("no-such-sequence.txt").unwrap_err().to_string();
        assert!(
            missing.contains("no-such-sequence.txt") && missing.contains("no such file"),
            "{missing}"
        );
        assert!(!missing.contains("float"), "{missing}");

        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("photo.png");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\xff\xfe").unwrap();
        let error = read_spikes(png.to_str().unwrap()).unwrap_err().to_string();
        assert!(
            error.contains("photo.png") && error.contains("PNG image"),
            "{error}"
        );
        assert_eq!(error.matches("photo.png").count(), 1, "{error}");
        assert!(!error.contains("UTF-8"), "{error}");

        let text = dir.path().join("seq.txt");
        std::fs::write(&text, "0 0 1 x").unwrap();
        let error = read_spikes(text.to_str().unwrap()).unwrap_err().to_string();
        assert!(
            error.contains("seq.txt") && error.contains("0,0,1,0"),
            "{error}"
        );
        std::fs::write(&text, "0 0 1 0 0").unwrap();
        assert_eq!(
            read_spikes(text.to_str().unwrap()).unwrap().size(),
            vec![1, 5, 1]
        );
    }
}

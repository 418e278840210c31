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
    let tensor = Tensor::read_npy(path)
        .map_err(|error| ModelError::file(path, format!("not a readable .npy file: {error}")))?;
    Ok(tensor.to_kind(Kind::Float))
}

/// Writes a tensor as `.npy`, atomically.
pub fn write_npy(tensor: &Tensor, path: &Path) -> Result<()> {
    let tmp = path.with_extension("npy.tmp");
    tensor
        .to_device(tch::Device::Cpu)
        .write_npy(&tmp)
        .map_err(|error| ModelError::file(&tmp, error.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
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
/// (1, T, 1), a text file, or the text itself.
pub fn read_spikes(arg: &str) -> Result<Tensor> {
    let path = Path::new(arg);
    let tensor = if path.extension().is_some_and(|e| e == "npy") {
        read_npy(path)?
    } else if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let values = parse_sequence_text(&text)
            .map_err(|error| ModelError::file(path, error.to_string()))?;
        Tensor::from_slice(&values)
    } else {
        Tensor::from_slice(&parse_sequence_text(arg)?)
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
            .map_err(|source| ModelError::Io {
                path: path.to_path_buf(),
                source,
            })?
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

//! The .npy format (numpy's `save`): C-order arrays of f16, f32, f64, i8,
//! i16, i32, i64, u8 and bool, either byte order. Fortran order, object
//! arrays and other dtypes are refused with a message saying so.

use crate::error::{NnError, Result};
use std::path::Path;
use tch::{Kind, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";

/// A parsed array: shape, kind and little-endian element bytes.
#[derive(Debug)]
pub(crate) struct NpyArray {
    pub shape: Vec<i64>,
    pub kind: Kind,
    pub data: Vec<u8>,
    /// The data is in Fortran (column-major) order, as numpy writes
    /// `np.asfortranarray` results and transposes.
    pub fortran: bool,
}

impl NpyArray {
    /// The array as a contiguous, row-major tensor.
    pub fn to_tensor(&self) -> Result<Tensor> {
        if !self.fortran {
            return Ok(Tensor::f_from_data_size(
                &self.data,
                &self.shape,
                self.kind,
            )?);
        }
        // Column-major data is the row-major array of the reversed shape,
        // transposed.
        let reversed: Vec<i64> = self.shape.iter().rev().copied().collect();
        let axes: Vec<i64> = (0..reversed.len() as i64).rev().collect();
        Ok(Tensor::f_from_data_size(&self.data, &reversed, self.kind)?
            .f_permute(axes.as_slice())?
            .f_contiguous()?)
    }
}

fn kind_of(descr: &str) -> std::result::Result<(Kind, bool), String> {
    // `get` rather than `split_at`: the first character may be multi-byte
    // (found by the `npy` fuzz target).
    let (order, code) = match (descr.get(..1), descr.get(1..)) {
        (Some(order), Some(code)) => (order, code),
        _ => return Err(format!("unsupported dtype {descr:?}")),
    };
    let big_endian = match order {
        "<" | "|" | "=" => false,
        ">" => true,
        _ => return Err(format!("unsupported dtype {descr:?}")),
    };
    let kind = match code {
        "f2" => Kind::Half,
        "f4" => Kind::Float,
        "f8" => Kind::Double,
        "i1" => Kind::Int8,
        "i2" => Kind::Int16,
        "i4" => Kind::Int,
        "i8" => Kind::Int64,
        "u1" => Kind::Uint8,
        "b1" => Kind::Bool,
        "O" => return Err("object arrays (dtype 'O') are not supported".into()),
        _ => {
            return Err(format!(
                "dtype {descr:?} is not supported (use float16/32/64, int8/16/32/64, uint8 or bool)"
            ));
        }
    };
    Ok((kind, big_endian))
}

fn descr_of(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Half => "<f2",
        Kind::Float => "<f4",
        Kind::Double => "<f8",
        Kind::Int8 => "|i1",
        Kind::Int16 => "<i2",
        Kind::Int => "<i4",
        Kind::Int64 => "<i8",
        Kind::Uint8 => "|u1",
        Kind::Bool => "|b1",
        _ => return None,
    })
}

/// The value text after `'key':` in the header dictionary.
fn header_value<'a>(header: &'a str, key: &str) -> std::result::Result<&'a str, String> {
    let pattern = format!("'{key}':");
    let start = header
        .find(&pattern)
        .ok_or_else(|| format!("header has no {key:?} entry"))?;
    Ok(header[start + pattern.len()..].trim_start())
}

fn parse_header(header: &str) -> std::result::Result<(String, bool, Vec<i64>), String> {
    let descr = header_value(header, "descr")?;
    let descr = descr
        .strip_prefix('\'')
        .and_then(|rest| rest.split('\'').next())
        .ok_or_else(|| {
            "header's descr is not a string (structured dtypes are not supported)".to_string()
        })?;
    let fortran = header_value(header, "fortran_order")?;
    let fortran = if fortran.starts_with("True") {
        true
    } else if fortran.starts_with("False") {
        false
    } else {
        return Err("header's fortran_order is neither True nor False".into());
    };
    let shape = header_value(header, "shape")?;
    let inner = shape
        .strip_prefix('(')
        .and_then(|rest| rest.split(')').next())
        .ok_or_else(|| "header's shape is not a tuple".to_string())?;
    let shape = inner
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| {
            d.trim_end_matches('L')
                .parse::<i64>()
                .map_err(|_| format!("header's shape has a bad dimension {d:?}"))
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok((descr.to_string(), fortran, shape))
}

/// Parses a whole .npy file held in memory; errors are plain messages that
/// the caller prefixes with the file (and npz member) name.
pub(crate) fn parse_npy(bytes: &[u8]) -> std::result::Result<NpyArray, String> {
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err("not an .npy file (bad magic bytes)".into());
    }
    let (header_len, header_start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err("truncated header".into());
            }
            let len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (len as usize, 12)
        }
        version => return Err(format!("unsupported .npy version {version}")),
    };
    let data_start = header_start + header_len;
    if bytes.len() < data_start {
        return Err("truncated header".into());
    }
    let header = std::str::from_utf8(&bytes[header_start..data_start])
        .map_err(|_| "header is not text".to_string())?;
    let (descr, fortran, shape) = parse_header(header)?;
    let (kind, big_endian) = kind_of(&descr)?;
    let item = kind.elt_size_in_bytes();
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| {
            usize::try_from(d).ok().and_then(|d| acc.checked_mul(d))
        })
        .ok_or_else(|| format!("bad shape {shape:?}"))?;
    let expected = count
        .checked_mul(item)
        .ok_or_else(|| format!("shape {shape:?} is too large"))?;
    let data = &bytes[data_start..];
    if data.len() != expected {
        return Err(format!(
            "data is {} bytes, shape {shape:?} of {descr} needs {expected} (truncated or corrupt)",
            data.len()
        ));
    }
    let mut data = data.to_vec();
    if big_endian && item > 1 {
        data.chunks_exact_mut(item)
            .for_each(|chunk| chunk.reverse());
    }
    Ok(NpyArray {
        shape,
        kind,
        data,
        fortran,
    })
}

/// Serialises a tensor as .npy version 1.0 (C order, little-endian).
pub(crate) fn npy_bytes(name: &str, tensor: &Tensor) -> Result<Vec<u8>> {
    let descr = descr_of(tensor.kind()).ok_or_else(|| {
        NnError::input(
            name,
            format!(
                "{:?} tensors cannot be written as .npy (numpy has no such dtype; convert to f32)",
                tensor.kind()
            ),
        )
    })?;
    let tensor = tensor.f_to_device(tch::Device::Cpu)?.f_contiguous()?;
    let shape = tensor.size();
    let dims: Vec<String> = shape.iter().map(i64::to_string).collect();
    let shape_text = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_text}, }}");
    let unpadded = MAGIC.len() + 4 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let numel = tensor.numel();
    let mut data = vec![0u8; numel * tensor.kind().elt_size_in_bytes()];
    tensor.f_copy_data_u8(&mut data, numel)?;
    let mut bytes = Vec::with_capacity(10 + header.len() + data.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&[1, 0]);
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(&data);
    Ok(bytes)
}

/// Reads one array from a .npy file.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Tensor> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_npy(&bytes)
        .map_err(|message| NnError::file(path, message))?
        .to_tensor()
}

/// Writes `tensor` as a .npy file (atomically: temp file, then rename).
pub fn write_npy(path: impl AsRef<Path>, tensor: &Tensor) -> Result<()> {
    let path = path.as_ref();
    let bytes = npy_bytes(&path.display().to_string(), tensor)?;
    crate::params::write_atomically(path, &bytes)
}

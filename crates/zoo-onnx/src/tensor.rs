//! A checked tensor: its element type, dimensions and little-endian bytes,
//! borrowed from the model's (or its external data's) memory map when the
//! file stored them raw.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::error::{OnnxError, Result};
use crate::proto::{DataLocation, DataType, TensorProto};

#[derive(Debug, Clone)]
pub struct Tensor {
    pub name: String,
    pub dtype: DataType,
    pub dims: Vec<usize>,
    /// `numel * dtype size` bytes, little-endian.
    pub data: Bytes,
}

/// Bytes per element of the types a tensor may hold here (strings and
/// complex numbers are not model weights the converter can use).
pub fn dtype_size(dtype: DataType) -> Option<usize> {
    Some(match dtype {
        DataType::Float | DataType::Int32 | DataType::Uint32 => 4,
        DataType::Double | DataType::Int64 | DataType::Uint64 => 8,
        DataType::Uint8 | DataType::Int8 | DataType::Bool => 1,
        DataType::Uint16 | DataType::Int16 | DataType::Float16 | DataType::Bfloat16 => 2,
        _ => return None,
    })
}

impl Tensor {
    pub fn numel(&self) -> usize {
        self.dims.iter().product()
    }

    /// The values as f32, converted from any numeric type.
    pub fn to_f32(&self) -> Result<Vec<f32>> {
        let d = &self.data;
        Ok(match self.dtype {
            DataType::Float => d
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
            DataType::Double => d
                .chunks_exact(8)
                .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()) as f32)
                .collect(),
            DataType::Float16 => d
                .chunks_exact(2)
                .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                .collect(),
            DataType::Bfloat16 => d
                .chunks_exact(2)
                .map(|c| f32::from_bits((u16::from_le_bytes([c[0], c[1]]) as u32) << 16))
                .collect(),
            _ => self.to_i64()?.into_iter().map(|v| v as f32).collect(),
        })
    }

    /// The values as i64, from any integer or boolean type.
    pub fn to_i64(&self) -> Result<Vec<i64>> {
        let d = &self.data;
        Ok(match self.dtype {
            DataType::Int64 => d
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap_or_default()))
                .collect(),
            DataType::Uint64 => d
                .chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()) as i64)
                .collect(),
            DataType::Int32 => d
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap_or_default()) as i64)
                .collect(),
            DataType::Uint32 => d
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap_or_default()) as i64)
                .collect(),
            DataType::Int16 => d
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            DataType::Uint16 => d
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]) as i64)
                .collect(),
            DataType::Int8 => d.iter().map(|&b| b as i8 as i64).collect(),
            DataType::Uint8 | DataType::Bool => d.iter().map(|&b| b as i64).collect(),
            DataType::Float | DataType::Double | DataType::Float16 | DataType::Bfloat16 => {
                self.to_f32()?.into_iter().map(|v| v as i64).collect()
            }
            other => {
                return Err(OnnxError::tensor(
                    &self.name,
                    format!("type {other:?} has no integer values"),
                ));
            }
        })
    }
}

fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as i32;
    let frac = (h & 0x3ff) as u32;
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = frac * 2^-24.
            let v = frac as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -v } else { v };
        }
        (31, 0) => sign | 0x7f80_0000,
        (31, _) => sign | 0x7fc0_0000,
        _ => sign | (((exp - 15 + 127) as u32) << 23) | (frac << 13),
    };
    f32::from_bits(bits)
}

/// The external data files of one model, each mapped once.
pub(crate) struct ExternalFiles {
    /// The model's folder, canonical; `None` for a model read from memory.
    folder: Option<PathBuf>,
    maps: HashMap<PathBuf, Bytes>,
    /// The mapped files behind `maps`, for a writer that copies from them.
    pub(crate) mapped: Vec<Arc<MappedFile>>,
    /// Every location read, in order (with repeats).
    pub(crate) locations: Vec<String>,
}

impl ExternalFiles {
    pub(crate) fn new(folder: Option<&Path>) -> Result<Self> {
        let folder = match folder {
            Some(dir) => Some(dir.canonicalize().map_err(|e| OnnxError::io(dir, e))?),
            None => None,
        };
        Ok(ExternalFiles {
            folder,
            maps: HashMap::new(),
            mapped: Vec::new(),
            locations: Vec::new(),
        })
    }

    /// The bytes of `location` inside the folder; refuses absolute paths,
    /// `..` and links that lead out of the folder.
    fn file(&mut self, tensor: &str, location: &str) -> Result<Bytes> {
        let Some(folder) = &self.folder else {
            return Err(OnnxError::tensor(
                tensor,
                format!(
                    "external data {location:?} needs the model's folder, but the model was read from memory"
                ),
            ));
        };
        let outside = || OnnxError::ExternalOutside {
            tensor: tensor.to_owned(),
            location: location.to_owned(),
            folder: folder.clone(),
        };
        let relative = Path::new(location);
        if location.is_empty()
            || relative
                .components()
                .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(outside());
        }
        let joined = folder.join(relative);
        let path = joined.canonicalize().map_err(|e| {
            OnnxError::tensor(tensor, format!("external data {}: {e}", joined.display()))
        })?;
        if !path.starts_with(folder) {
            return Err(outside());
        }
        self.locations.push(location.to_owned());
        if let Some(bytes) = self.maps.get(&path) {
            return Ok(bytes.clone());
        }
        let (bytes, map) = map_file(&path)?;
        self.maps.insert(path, bytes.clone());
        self.mapped.extend(map);
        Ok(bytes)
    }
}

/// A file and its read-only memory map, shared by the `Bytes` cut from the
/// map and by a package writer, which copies tensor bytes from the file.
#[derive(Debug)]
pub struct MappedFile {
    map: memmap2::Mmap,
    file: std::fs::File,
}

impl MappedFile {
    /// The mapped bytes: the whole file.
    pub fn bytes(&self) -> &[u8] {
        &self.map
    }

    /// The open file the bytes map.
    pub fn file(&self) -> &std::fs::File {
        &self.file
    }
}

struct SharedMap(Arc<MappedFile>);

impl AsRef<[u8]> for SharedMap {
    fn as_ref(&self) -> &[u8] {
        &self.0.map
    }
}

/// The whole file as `Bytes` backed by a read-only memory map, and the
/// mapped file (none for an empty file).
pub(crate) fn map_file(path: &Path) -> Result<(Bytes, Option<Arc<MappedFile>>)> {
    let file = std::fs::File::open(path).map_err(|e| OnnxError::io(path, e))?;
    let len = file.metadata().map_err(|e| OnnxError::io(path, e))?.len();
    if len == 0 {
        return Ok((Bytes::new(), None));
    }
    // SAFETY: the map is read-only; as with every memory-mapped reader, a
    // file truncated by another process while mapped would fault. Models are
    // inputs the user points at, not files being written.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| OnnxError::io(path, e))?;
    let mapped = Arc::new(MappedFile { map, file });
    Ok((Bytes::from_owner(SharedMap(mapped.clone())), Some(mapped)))
}

fn checked_dims(name: &str, dims: &[i64]) -> Result<(Vec<usize>, usize)> {
    let mut out = Vec::with_capacity(dims.len());
    let mut numel: usize = 1;
    for &d in dims {
        let d = usize::try_from(d)
            .map_err(|_| OnnxError::tensor(name, format!("negative dimension {d} in {dims:?}")))?;
        numel = numel
            .checked_mul(d)
            .ok_or_else(|| OnnxError::tensor(name, format!("dimensions {dims:?} overflow")))?;
        out.push(d);
    }
    Ok((out, numel))
}

/// Checks a stored tensor and returns its bytes: raw data (borrowed),
/// external data (borrowed from that file's map) or the typed fields
/// (converted); the byte count must match the declared dimensions.
pub(crate) fn read_tensor(proto: &TensorProto, external: &mut ExternalFiles) -> Result<Tensor> {
    let name = proto.name.clone().unwrap_or_default();
    let dtype = DataType::try_from(proto.data_type.unwrap_or(0)).map_err(|_| {
        OnnxError::tensor(
            &name,
            format!("unknown data type {}", proto.data_type.unwrap_or(0)),
        )
    })?;
    let size = dtype_size(dtype)
        .ok_or_else(|| OnnxError::tensor(&name, format!("data type {dtype:?} is not supported")))?;
    let (dims, numel) = checked_dims(&name, &proto.dims)?;
    let expected = numel
        .checked_mul(size)
        .ok_or_else(|| OnnxError::tensor(&name, format!("dimensions {:?} overflow", proto.dims)))?;
    let declared = || {
        format!(
            "dimensions {:?} of {dtype:?} need {expected} bytes",
            proto.dims
        )
    };
    let data = if proto.data_location == Some(DataLocation::External as i32) {
        let mut location = None;
        let mut offset = 0usize;
        let mut length = None;
        for entry in &proto.external_data {
            let value = entry.value.as_deref().unwrap_or("");
            let number = |what: &str| {
                value.parse::<usize>().map_err(|_| {
                    OnnxError::tensor(
                        &name,
                        format!("external data {what} {value:?} is not a number"),
                    )
                })
            };
            match entry.key.as_deref().unwrap_or("") {
                "location" => location = Some(value.to_owned()),
                "offset" => offset = number("offset")?,
                "length" => length = Some(number("length")?),
                _ => {}
            }
        }
        let location =
            location.ok_or_else(|| OnnxError::tensor(&name, "external data without a location"))?;
        let file = external.file(&name, &location)?;
        let length = length.unwrap_or(expected);
        if length != expected {
            return Err(OnnxError::tensor(
                &name,
                format!("{}, but its external data length is {length}", declared()),
            ));
        }
        let end = offset.checked_add(length).filter(|&end| end <= file.len()).ok_or_else(|| {
            OnnxError::tensor(
                &name,
                format!(
                    "external data {location:?} has {} bytes, but the tensor asks for {length} at offset {offset}",
                    file.len()
                ),
            )
        })?;
        file.slice(offset..end)
    } else if let Some(raw) = &proto.raw_data {
        if raw.len() != expected {
            return Err(OnnxError::tensor(
                &name,
                format!("{}, but raw_data has {} bytes", declared(), raw.len()),
            ));
        }
        raw.clone()
    } else {
        typed_bytes(&name, proto, dtype, numel)?
    };
    Ok(Tensor {
        name,
        dtype,
        dims,
        data,
    })
}

/// The typed (`float_data`, `int64_data`…) storage as little-endian bytes.
fn typed_bytes(name: &str, p: &TensorProto, dtype: DataType, numel: usize) -> Result<Bytes> {
    let (count, bytes): (usize, Vec<u8>) = match dtype {
        DataType::Float => (
            p.float_data.len(),
            p.float_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        DataType::Double => (
            p.double_data.len(),
            p.double_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        DataType::Int64 => (
            p.int64_data.len(),
            p.int64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        DataType::Uint64 => (
            p.uint64_data.len(),
            p.uint64_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        DataType::Uint32 => (
            p.uint64_data.len(),
            p.uint64_data
                .iter()
                .flat_map(|&v| (v as u32).to_le_bytes())
                .collect(),
        ),
        DataType::Int32 => (
            p.int32_data.len(),
            p.int32_data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ),
        // int32_data carries the narrow integer types and the 16-bit floats' bits.
        DataType::Int16 | DataType::Uint16 | DataType::Float16 | DataType::Bfloat16 => (
            p.int32_data.len(),
            p.int32_data
                .iter()
                .flat_map(|&v| (v as u16).to_le_bytes())
                .collect(),
        ),
        DataType::Int8 | DataType::Uint8 | DataType::Bool => (
            p.int32_data.len(),
            p.int32_data.iter().map(|&v| v as u8).collect(),
        ),
        other => {
            return Err(OnnxError::tensor(
                name,
                format!("data type {other:?} is not supported"),
            ));
        }
    };
    if count != numel {
        return Err(OnnxError::tensor(
            name,
            format!(
                "dimensions {:?} hold {numel} values, but the tensor stores {count}",
                p.dims
            ),
        ));
    }
    Ok(Bytes::from(bytes))
}

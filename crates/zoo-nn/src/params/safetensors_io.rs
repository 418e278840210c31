//! safetensors, zoo's weights format: memory-mapped on load (a 553 MB VGG16
//! file is never read into a buffer), written atomically on save.

use crate::error::{NnError, Result};
use crate::params::assign::{LoadReport, Strictness, assign};
use crate::params::to_file_name;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::path::Path;
use tch::nn::VarStore;
use tch::{Kind, Tensor};

fn kind_of(dtype: Dtype) -> Option<Kind> {
    Some(match dtype {
        Dtype::BOOL => Kind::Bool,
        Dtype::U8 => Kind::Uint8,
        Dtype::I8 => Kind::Int8,
        Dtype::I16 => Kind::Int16,
        Dtype::I32 => Kind::Int,
        Dtype::I64 => Kind::Int64,
        Dtype::BF16 => Kind::BFloat16,
        Dtype::F16 => Kind::Half,
        Dtype::F32 => Kind::Float,
        Dtype::F64 => Kind::Double,
        _ => return None,
    })
}

fn dtype_of(kind: Kind) -> Option<Dtype> {
    Some(match kind {
        Kind::Bool => Dtype::BOOL,
        Kind::Uint8 => Dtype::U8,
        Kind::Int8 => Dtype::I8,
        Kind::Int16 => Dtype::I16,
        Kind::Int => Dtype::I32,
        Kind::Int64 => Dtype::I64,
        Kind::BFloat16 => Dtype::BF16,
        Kind::Half => Dtype::F16,
        Kind::Float => Dtype::F32,
        Kind::Double => Dtype::F64,
        _ => return None,
    })
}

/// Loads a safetensors file into `vs` (names with `/`), converting dtype and
/// device to the store's.
pub fn load_safetensors(
    vs: &VarStore,
    path: impl AsRef<Path>,
    strictness: Strictness,
) -> Result<LoadReport> {
    let path = path.as_ref();
    let file = std::fs::File::open(path).map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    // SAFETY: the map is read-only and lives only for this call; zoo never
    // writes weights files in place (saves go through a rename), so the
    // bytes cannot change under the map from our side.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| NnError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_safetensors_bytes(vs, path, &map, strictness)
}

/// [`load_safetensors`] on bytes already in memory; `path` names them in
/// errors.
pub(crate) fn load_safetensors_bytes(
    vs: &VarStore,
    path: &Path,
    bytes: &[u8],
    strictness: Strictness,
) -> Result<LoadReport> {
    let tensors = SafeTensors::deserialize(bytes)
        .map_err(|e| NnError::file(path, format!("not a valid safetensors file: {e}")))?;
    let mut entries = Vec::new();
    for (name, view) in tensors.iter() {
        if kind_of(view.dtype()).is_none() {
            return Err(NnError::file(
                path,
                format!("parameter {name} has unsupported dtype {:?}", view.dtype()),
            ));
        }
        let shape = view.shape().iter().map(|&d| d as i64).collect();
        entries.push((name.trim_start_matches('/').to_string(), shape));
    }
    assign(vs, path, &entries, strictness, |name| {
        let view = tensors
            .tensor(name)
            .or_else(|_| tensors.tensor(&format!("/{name}")))
            .map_err(|e| NnError::file(path, format!("parameter {name}: {e}")))?;
        let kind = kind_of(view.dtype()).unwrap_or(Kind::Float);
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        Ok(Tensor::f_from_data_size(view.data(), &shape, kind)?)
    })
}

/// Saves every variable of `vs` (names with `/`, sorted) as safetensors.
pub fn save_safetensors(vs: &VarStore, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, tensor)| (to_file_name(&name), tensor))
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    let mut buffers = Vec::with_capacity(named.len());
    for (name, tensor) in &named {
        let dtype = dtype_of(tensor.kind()).ok_or_else(|| {
            NnError::input(
                name,
                format!("{:?} cannot be saved as safetensors", tensor.kind()),
            )
        })?;
        let cpu = tensor.f_to_device(tch::Device::Cpu)?.f_contiguous()?;
        let numel = cpu.numel();
        let mut data = vec![0u8; numel * cpu.kind().elt_size_in_bytes()];
        cpu.f_copy_data_u8(&mut data, numel)?;
        let shape: Vec<usize> = cpu.size().iter().map(|&d| d as usize).collect();
        buffers.push((name.clone(), dtype, shape, data));
    }
    let views = buffers
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| NnError::input(name, e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::params::write_with_temp(path, |temp| {
        safetensors::tensor::serialize_to_file(views, None, temp)
            .map_err(|e| NnError::file(path, e.to_string()))
    })
}

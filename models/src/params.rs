//! Parameter files: safetensors and Chainer npz, with strict name and shape
//! checks. Files use Chainer's `/`-separated names (`conv1_1/W`); tch's
//! `VarStore` uses `.`.

use crate::error::{ModelError, Result};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Tensor, nn::VarStore};

/// `conv1_1.W` → `conv1_1/W`.
pub use zoo_nn::params::to_file_name as file_name;

/// Reads every tensor of a `.safetensors` or `.npz` file, keyed by its name in the file.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    let named = match weights_format(path)? {
        WeightsFormat::Safetensors => zoo_nn::params::read_safetensors(path)
            .map_err(|error| ModelError::file(path, format!("cannot read weights: {error}")))?,
        WeightsFormat::Npz => Tensor::read_npz(path)
            .map_err(|error| ModelError::file(path, format!("cannot read weights: {error}")))?,
    };
    Ok(named.into_iter().collect())
}

enum WeightsFormat {
    Safetensors,
    Npz,
}

fn weights_format(path: &Path) -> Result<WeightsFormat> {
    if !path.exists() {
        return Err(ModelError::file(path, "weights file not found"));
    }
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "safetensors" => Ok(WeightsFormat::Safetensors),
        "npz" => Ok(WeightsFormat::Npz),
        other => Err(ModelError::file(
            path,
            format!("unsupported weights format {other:?}: expected .safetensors or .npz"),
        )),
    }
}

/// Copies the tensors of `path` into `vs`: every variable must be present with
/// its exact shape, and the file may hold nothing else. Safetensors files are
/// memory-mapped (zoo_nn's reader): CPU parameters share the file's pages,
/// others are copied tensor by tensor, so a model built with
/// [`zoo_nn::init::for_loading`] ends up holding its weights once.
pub fn load_into(vs: &mut VarStore, path: &Path) -> Result<()> {
    let in_file = |error: ModelError| ModelError::file(path, error.to_string());
    match weights_format(path)? {
        WeightsFormat::Safetensors => {
            let file = zoo_nn::params::MappedSafetensors::open(path)
                .map_err(|error| ModelError::file(path, format!("cannot read weights: {error}")))?;
            let shapes: BTreeMap<String, Vec<i64>> = file.shapes().into_iter().collect();
            strict_copy(vs, &shapes, |name, var| Ok(file.assign_into(name, var)?)).map_err(in_file)
        }
        WeightsFormat::Npz => copy_into(vs, &read_tensors(path)?).map_err(in_file),
    }
}

/// Strict copy of named tensors (file names, `/`) into a var store.
pub fn copy_into(vs: &mut VarStore, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
    let shapes: BTreeMap<String, Vec<i64>> = tensors
        .iter()
        .map(|(name, tensor)| (name.clone(), tensor.size()))
        .collect();
    strict_copy(vs, &shapes, |name, var| Ok(var.f_copy_(&tensors[name])?))
}

/// Checks `shapes` (the file's names and shapes) against every variable of
/// `vs` before copying anything, then copies each through `copy`.
fn strict_copy(
    vs: &mut VarStore,
    shapes: &BTreeMap<String, Vec<i64>>,
    mut copy: impl FnMut(&str, &mut Tensor) -> Result<()>,
) -> Result<()> {
    let mut variables: BTreeMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .map(|(name, var)| (file_name(&name), var))
        .collect();
    let mut missing = Vec::new();
    for (name, var) in &variables {
        let Some(shape) = shapes.get(name) else {
            missing.push(name.clone());
            continue;
        };
        if *shape != var.size() {
            return Err(ModelError::Parameter {
                name: name.clone(),
                message: format!(
                    "shape {shape:?} in the file, the architecture expects {:?}",
                    var.size()
                ),
            });
        }
    }
    if !missing.is_empty() {
        return Err(ModelError::Parameter {
            name: missing.join(", "),
            message: "missing from the weights".into(),
        });
    }
    let unexpected: Vec<&str> = shapes
        .keys()
        .filter(|name| !variables.contains_key(*name))
        .map(String::as_str)
        .collect();
    if !unexpected.is_empty() {
        return Err(ModelError::Parameter {
            name: unexpected.join(", "),
            message: "not a parameter of this architecture".into(),
        });
    }
    tch::no_grad(|| {
        variables
            .iter_mut()
            .try_for_each(|(name, var)| copy(name, var))
    })
}

/// The var store's parameters under their file names, on the CPU, sorted,
/// contiguous (a channels-last conv weight is stored in the file's row-major
/// order like any other).
pub fn named_tensors(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, t)| {
            let cpu = t.detach().to_device(tch::Device::Cpu).contiguous();
            (file_name(&name), cpu)
        })
        .collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Writes the parameters as safetensors under their file names, atomically.
pub fn save_safetensors(vs: &VarStore, path: &Path) -> Result<()> {
    Ok(zoo_nn::params::save_safetensors(vs, path)?)
}

/// Fills every parameter with `zoo_nn::synthetic`'s formula (golden tests).
pub fn fill_synthetic(vs: &mut VarStore) {
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let values = zoo_nn::synthetic::synthetic_tensor(&file_name(&name), &var.size());
            var.copy_(&values.to_device(var.device()));
        }
    });
}

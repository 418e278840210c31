//! Parameter files: safetensors and Chainer npz, with strict name and shape
//! checks. Files use Chainer's `/`-separated names (`conv1_1/W`); tch's
//! `VarStore` uses `.`.

use crate::error::{ModelError, Result};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Tensor, nn::VarStore};

/// `conv1_1.W` → `conv1_1/W`.
pub fn file_name(var_name: &str) -> String {
    var_name.replace('.', "/")
}

/// Reads every tensor of a `.safetensors` or `.npz` file, keyed by its name in the file.
pub fn read_tensors(path: &Path) -> Result<BTreeMap<String, Tensor>> {
    if !path.exists() {
        return Err(ModelError::file(path, "weights file not found"));
    }
    let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let named = match extension {
        "safetensors" => Tensor::read_safetensors(path),
        "npz" => Tensor::read_npz(path),
        other => {
            return Err(ModelError::file(
                path,
                format!("unsupported weights format {other:?}: expected .safetensors or .npz"),
            ));
        }
    }
    .map_err(|error| ModelError::file(path, format!("cannot read weights: {error}")))?;
    Ok(named.into_iter().collect())
}

/// Copies the tensors of `path` into `vs`: every variable must be present with
/// its exact shape, and the file may hold nothing else.
pub fn load_into(vs: &mut VarStore, path: &Path) -> Result<()> {
    let tensors = read_tensors(path)?;
    copy_into(vs, &tensors).map_err(|error| ModelError::file(path, error.to_string()))
}

/// Strict copy of named tensors (file names, `/`) into a var store.
pub fn copy_into(vs: &mut VarStore, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
    let mut variables = vs.variables();
    let mut missing = Vec::new();
    tch::no_grad(|| -> Result<()> {
        for (var_name, var) in variables.iter_mut() {
            let name = file_name(var_name);
            let Some(source) = tensors.get(&name) else {
                missing.push(name);
                continue;
            };
            if source.size() != var.size() {
                return Err(ModelError::Parameter {
                    name,
                    message: format!(
                        "shape {:?} in the file, the architecture expects {:?}",
                        source.size(),
                        var.size()
                    ),
                });
            }
            var.f_copy_(source)?;
        }
        Ok(())
    })?;
    if !missing.is_empty() {
        missing.sort();
        return Err(ModelError::Parameter {
            name: missing.join(", "),
            message: "missing from the weights".into(),
        });
    }
    let expected: std::collections::BTreeSet<String> =
        variables.keys().map(|k| file_name(k)).collect();
    let unexpected: Vec<&String> = tensors.keys().filter(|k| !expected.contains(*k)).collect();
    if !unexpected.is_empty() {
        return Err(ModelError::Parameter {
            name: unexpected
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            message: "not a parameter of this architecture".into(),
        });
    }
    Ok(())
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

/// Writes the parameters as safetensors, atomically (temp file + rename).
pub fn save_safetensors(vs: &VarStore, path: &Path) -> Result<()> {
    let named = named_tensors(vs);
    let tmp = path.with_extension("safetensors.tmp");
    Tensor::write_safetensors(&named, &tmp)
        .map_err(|error| ModelError::file(&tmp, error.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
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

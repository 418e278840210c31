//! Chainer's `serializers.save_npz` layout: one npz member per parameter or
//! persistent value, keyed `<link path>/<name>` (`conv1_1/W`).

use crate::error::Result;
use crate::params::assign::{LoadReport, Strictness, assign};
use crate::params::npz::{read_npz_arrays, write_npz};
use crate::params::to_file_name;
use std::collections::HashMap;
use std::path::Path;
use tch::nn::VarStore;

/// Loads a Chainer npz into `vs`. BatchNormalization's persistent batch
/// counter `N` (a 0-d integer Chainer uses only for `finetune`) is skipped
/// unless the store has a variable of that name.
pub fn load_chainer_npz(
    vs: &VarStore,
    path: impl AsRef<Path>,
    strictness: Strictness,
) -> Result<LoadReport> {
    load_chainer_npz_under(vs, path, "", strictness)
}

/// Like [`load_chainer_npz`] for the members under `prefix` only, which is
/// stripped: Chainer's `load_npz(file, obj, path=prefix)`, e.g.
/// `predictor/` for a Classifier's model or `updater/model:main/` in a
/// trainer snapshot.
pub fn load_chainer_npz_under(
    vs: &VarStore,
    path: impl AsRef<Path>,
    prefix: &str,
    strictness: Strictness,
) -> Result<LoadReport> {
    let path = path.as_ref();
    let prefix = prefix.trim_start_matches('/');
    let variables = vs.variables();
    let arrays: HashMap<String, _> = read_npz_arrays(path)?
        .into_iter()
        .filter_map(|(name, array)| {
            let name = name.trim_start_matches('/');
            name.strip_prefix(prefix)
                .map(|rest| (rest.trim_start_matches('/').to_string(), array))
        })
        .filter(|(name, array)| {
            let is_bn_counter = (name == "N" || name.ends_with("/N"))
                && array.shape.is_empty()
                && matches!(array.kind, tch::Kind::Int64 | tch::Kind::Int);
            !is_bn_counter || variables.contains_key(&crate::params::to_var_name(name))
        })
        .collect();
    let entries: Vec<(String, Vec<i64>)> = arrays
        .iter()
        .map(|(name, array)| (name.clone(), array.shape.clone()))
        .collect();
    assign(vs, path, &entries, strictness, |name, target| {
        target.f_copy_(&arrays[name].to_tensor()?)?;
        Ok(())
    })
}

/// Writes `vs` in Chainer's `save_npz` layout (keys `<path>/<name>`), which
/// `chainer.serializers.load_npz` reads back.
pub fn save_chainer_npz(vs: &VarStore, path: impl AsRef<Path>) -> Result<()> {
    let mut tensors: Vec<(String, tch::Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(name, tensor)| (to_file_name(&name), tensor.detach()))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    write_npz(path, &tensors)
}

//! Matching a file's parameters against a `VarStore` and copying them in.

use crate::error::{NnError, ParamMismatch, Result};
use crate::params::to_file_name;
use std::collections::BTreeMap;
use std::path::Path;
use tch::Tensor;
use tch::nn::VarStore;

/// Whether a file must hold exactly the model's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strictness {
    /// Any missing, unexpected or mis-shaped parameter refuses the file.
    #[default]
    Strict,
    /// Loads the parameters present in both with equal shapes and reports
    /// the rest (fine-tuning from a model with another head).
    Partial,
}

/// What a load did: names are in file form (`conv1_1/W`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadReport {
    pub loaded: Vec<String>,
    /// What was skipped (always empty after a strict load).
    pub skipped: ParamMismatch,
}

/// Compares file entries (name in file form, shape) with the store and, if
/// acceptable, copies each one in with `fetch(name)` under no_grad. The
/// copy converts dtype and device, so f32 files load into f16 stores.
pub(crate) fn assign(
    vs: &VarStore,
    path: &Path,
    entries: &[(String, Vec<i64>)],
    strictness: Strictness,
    mut copy: impl FnMut(&str, &mut Tensor) -> Result<()>,
) -> Result<LoadReport> {
    let variables: BTreeMap<String, Tensor> = vs
        .variables()
        .into_iter()
        .map(|(name, tensor)| (to_file_name(&name), tensor))
        .collect();
    // A leading `/` (Chainer's absolute paths) names the same parameter.
    let mut in_file: BTreeMap<&str, (&str, &Vec<i64>)> = BTreeMap::new();
    for (name, shape) in entries {
        let key = name.trim_start_matches('/');
        if let Some((other, _)) = in_file.insert(key, (name.as_str(), shape)) {
            return Err(NnError::file(
                path,
                format!("parameter {key} appears twice (as {other} and {name})"),
            ));
        }
    }
    let mut mismatch = ParamMismatch::default();
    let mut matched = Vec::new();
    for (name, var) in &variables {
        match in_file.get(name.as_str()) {
            None => mismatch.missing.push((name.clone(), var.size())),
            Some((_, shape)) if **shape != var.size() => {
                mismatch
                    .misshaped
                    .push((name.clone(), var.size(), (*shape).clone()))
            }
            Some((in_file_name, _)) => matched.push((name.clone(), *in_file_name)),
        }
    }
    for (name, (_, shape)) in &in_file {
        if !variables.contains_key(*name) {
            mismatch
                .unexpected
                .push((name.to_string(), (*shape).clone()));
        }
    }
    if strictness == Strictness::Strict && !mismatch.is_empty() {
        return Err(NnError::ParamMismatch {
            path: path.to_path_buf(),
            mismatch,
        });
    }
    for (name, in_file_name) in &matched {
        let mut target = variables[name].shallow_clone();
        tch::no_grad(|| copy(in_file_name, &mut target)).map_err(|e| match e {
            NnError::Torch(e) => NnError::file(path, format!("cannot copy parameter {name}: {e}")),
            other => other,
        })?;
    }
    Ok(LoadReport {
        loaded: matched.into_iter().map(|(name, _)| name).collect(),
        skipped: mismatch,
    })
}

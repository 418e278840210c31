//! Weights files written with tch's module names, converted to the zoo-nn
//! links' Chainer names without retraining.
//!
//! Until the built-in architectures were built from zoo-nn links, the
//! nested RNN used tch's `nn::linear` (`key/weight`, `key/bias`) and
//! `nn::lstm` (`outer/weight_ih_l0`, `…/weight_hh_l0`, `…/bias_ih_l0`,
//! `…/bias_hh_l0`, gate blocks i, f, g, o). The conversion is exact up to
//! one rounding of the summed LSTM biases:
//!
//! | tch name                            | Chainer name                         |
//! |-------------------------------------|--------------------------------------|
//! | `X/weight`, `X/bias`                | `X/W`, `X/b`                         |
//! | `X/weight_ih_l0`                    | `X/upward/W` (rows interleaved)      |
//! | `X/bias_ih_l0` + `X/bias_hh_l0`     | `X/upward/b` (summed, interleaved)   |
//! | `X/weight_hh_l0`                    | `X/lateral/W` (rows interleaved)     |
//! | anything else (`conv1/W`, `attention`) | unchanged                         |
//!
//! The step is reproducible: `zoo-train nested-rnn --convert-tch-weights`
//! ([`convert_package`]) rewrote the committed
//! `models/nested-rnn/weights.safetensors` from the file of commit e72d780,
//! and the converted package reproduces the golden outputs recorded by the
//! trainer before the conversion (`models/tests/golden.rs`).

use crate::error::{ModelError, Result};
use crate::params;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;
use zoo_nn::links::{TorchLstmParams, lstm_params_from_torch};

/// Suffixes of a single-layer, one-direction tch LSTM's parameters.
const LSTM_SUFFIXES: [&str; 4] = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"];

/// Whether a file holds tch module names that [`from_tch_names`] renames.
pub fn has_tch_names(names: impl IntoIterator<Item = impl AsRef<str>>) -> bool {
    names.into_iter().any(|name| {
        let last = name.as_ref().rsplit('/').next().unwrap_or("");
        last == "weight" || last == "bias" || LSTM_SUFFIXES.contains(&last)
    })
}

/// Converts every tch-named tensor (see the module table); other names pass
/// through. An LSTM must be complete (all four tensors) and single-layer.
pub fn from_tch_names(tensors: BTreeMap<String, Tensor>) -> Result<BTreeMap<String, Tensor>> {
    let mut lstms: BTreeMap<String, BTreeMap<&'static str, Tensor>> = BTreeMap::new();
    let mut converted = BTreeMap::new();
    for (name, tensor) in tensors {
        let (prefix, last) = name.rsplit_once('/').unwrap_or(("", name.as_str()));
        if let Some(suffix) = LSTM_SUFFIXES.iter().find(|s| **s == last) {
            lstms
                .entry(prefix.to_string())
                .or_default()
                .insert(suffix, tensor);
            continue;
        }
        if is_unsupported_rnn_name(last) {
            return Err(unsupported(
                &name,
                "only single-layer, one-direction LSTMs convert",
            ));
        }
        let renamed = match last {
            "weight" => join(prefix, "W"),
            "bias" => join(prefix, "b"),
            _ => name.clone(),
        };
        insert_once(&mut converted, renamed, tensor)?;
    }
    for (prefix, parts) in lstms {
        for (name, tensor) in lstm_from_tch(&prefix, &parts)? {
            insert_once(&mut converted, name, tensor)?;
        }
    }
    Ok(converted)
}

/// `prefix/name`, or `name` at the top level.
fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}/{name}")
    }
}

/// tch names of layers other than the first, or of a reverse direction.
fn is_unsupported_rnn_name(last: &str) -> bool {
    ["weight_ih_", "weight_hh_", "bias_ih_", "bias_hh_"]
        .iter()
        .any(|stem| last.starts_with(stem))
}

fn unsupported(name: &str, message: &str) -> ModelError {
    ModelError::Parameter {
        name: name.to_string(),
        message: message.to_string(),
    }
}

/// One LSTM's four tch tensors as `prefix/upward/W`, `prefix/upward/b`, `prefix/lateral/W`.
fn lstm_from_tch(
    prefix: &str,
    parts: &BTreeMap<&'static str, Tensor>,
) -> Result<Vec<(String, Tensor)>> {
    let missing: Vec<String> = LSTM_SUFFIXES
        .iter()
        .filter(|suffix| !parts.contains_key(*suffix))
        .map(|suffix| join(prefix, suffix))
        .collect();
    if !missing.is_empty() {
        return Err(unsupported(
            &missing.join(", "),
            "missing: an LSTM converts only with all of weight_ih_l0, weight_hh_l0, \
             bias_ih_l0 and bias_hh_l0",
        ));
    }
    let part = |suffix: &str| &parts[suffix];
    let torch = TorchLstmParams {
        weight_ih: part("weight_ih_l0"),
        weight_hh: part("weight_hh_l0"),
        bias_ih: part("bias_ih_l0"),
        bias_hh: part("bias_hh_l0"),
    };
    Ok(lstm_params_from_torch(&torch)?
        .into_iter()
        .map(|(name, tensor)| (join(prefix, name), tensor))
        .collect())
}

fn insert_once(map: &mut BTreeMap<String, Tensor>, name: String, tensor: Tensor) -> Result<()> {
    if map.contains_key(&name) {
        return Err(unsupported(
            &name,
            "the file holds it under both its tch and its Chainer name",
        ));
    }
    map.insert(name, tensor);
    Ok(())
}

/// Rewrites the weights file of the package in `dir` with Chainer names,
/// after checking that the architecture loads it strictly; returns the
/// path. A file with no tch names is left alone.
pub fn convert_package(dir: &Path) -> Result<PathBuf> {
    let manifest = crate::package::read_manifest(dir)?;
    let weights = manifest
        .model
        .as_ref()
        .and_then(|model| model.weights.first())
        .ok_or_else(|| ModelError::Package {
            package: manifest.package.name.clone(),
            message: "no [model] weights file to convert".into(),
        })?;
    let path = dir.join(weights);
    let tensors = params::read_tensors(&path)?;
    if !has_tch_names(tensors.keys()) {
        return Ok(path);
    }
    let converted = from_tch_names(tensors)?;
    let named: Vec<(String, Tensor)> = converted.into_iter().collect();
    zoo_nn::params::write_safetensors(&named, &path)?;
    // The strict loader names any parameter the conversion got wrong.
    crate::package::load_package(dir, tch::Device::Cpu)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    fn arange(n: i64, shape: &[i64]) -> Tensor {
        Tensor::arange(n, (Kind::Float, Device::Cpu)).reshape(shape)
    }

    #[test]
    fn lstm_rows_are_interleaved_and_biases_summed() {
        // H = 1: torch rows are i, f, g, o; Chainer's a (= g), i, f, o.
        let mut tensors = BTreeMap::new();
        tensors.insert("rnn/weight_ih_l0".into(), arange(8, &[4, 2]));
        tensors.insert("rnn/weight_hh_l0".into(), arange(4, &[4, 1]));
        tensors.insert("rnn/bias_ih_l0".into(), arange(4, &[4]));
        tensors.insert("rnn/bias_hh_l0".into(), arange(4, &[4]) * 10.0);
        tensors.insert("head/weight".into(), arange(2, &[1, 2]));
        tensors.insert("attention".into(), arange(4, &[4]));
        let out = from_tch_names(tensors).unwrap();
        let names: Vec<&str> = out.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "attention",
                "head/W",
                "rnn/lateral/W",
                "rnn/upward/W",
                "rnn/upward/b"
            ]
        );
        let rows = |name: &str| Vec::<f32>::try_from(out[name].flatten(0, -1)).unwrap();
        assert_eq!(rows("rnn/upward/W"), [4., 5., 0., 1., 2., 3., 6., 7.]);
        assert_eq!(rows("rnn/lateral/W"), [2., 0., 1., 3.]);
        assert_eq!(rows("rnn/upward/b"), [22., 0., 11., 33.]);
    }

    #[test]
    fn incomplete_or_stacked_lstms_are_refused_by_name() {
        let mut tensors = BTreeMap::new();
        tensors.insert("rnn/weight_ih_l0".into(), arange(8, &[4, 2]));
        let error = from_tch_names(tensors).unwrap_err().to_string();
        assert!(error.contains("rnn/bias_hh_l0"), "{error}");
        let mut tensors = BTreeMap::new();
        tensors.insert("rnn/weight_ih_l1".into(), arange(8, &[4, 2]));
        let error = from_tch_names(tensors).unwrap_err().to_string();
        assert!(error.contains("single-layer"), "{error}");
    }
}

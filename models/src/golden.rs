//! A package's golden input and output (`[model.golden]`, `golden.npz`):
//! written by the trainer and the importer from the model they just made,
//! re-run by `zoo verify` so that a copy (installed, converted, on another
//! device) can show it still computes the same numbers.
//!
//! The npz holds `inputs/NAME` (batch 1, deterministic values) and
//! `outputs/NAME` arrays; the comparison is relative per output,
//! max|a−b| / max|b| (absolute when the recorded output is all zeros;
//! NaN and infinities count as equal where they were recorded).

use crate::error::{ModelError, Result};
use crate::package::Architecture as BuiltinArchitecture;
use std::path::Path;
use tch::{Device, Kind, Tensor};
use zoo_format::manifest::{
    Architecture, DEFAULT_GOLDEN_TOLERANCE, DType, GOLDEN_INPUT_PREFIX, GOLDEN_OUTPUT_PREFIX,
    Golden, GoldenArray, Input, MANIFEST_FILE, Manifest,
};
use zoo_nn::Model;

/// The file name the trainer and importer give the golden arrays.
pub const GOLDEN_FILE: &str = "golden.npz";

/// The sizes tried, in order, for free (`-1`) dimensions other than the
/// batch: the first at which the model runs is recorded. Small first, so
/// that golden.npz stays a few KB; larger ones for graphs that need them
/// (a detector's feature pyramid wants multiples of 32, a text recogniser
/// pools a minimum width). Built-in architectures know their size.
fn free_sizes(manifest: &Manifest) -> &'static [i64] {
    let builtin = manifest.model.as_ref().and_then(|m| match &m.architecture {
        Architecture::Builtin { name, .. } => BuiltinArchitecture::from_name(name).ok(),
        _ => None,
    });
    match builtin {
        Some(BuiltinArchitecture::CellCounter) => &[32],
        Some(BuiltinArchitecture::NestedRnn) => &[2],
        Some(_) => &[16],
        None => &[16, 32, 64, 128, 256, 512],
    }
}

/// `input` with the image size its preprocessing produces (the crop, else
/// the resize) in place of free height and width: what `zoo run` feeds it.
fn with_image_size(input: &Input) -> Input {
    let mut input = input.clone();
    let size = input.preprocess.as_ref().and_then(|p| p.crop.or(p.resize));
    if let (Some([h, w]), 4) = (size, input.shape.len()) {
        for (axis, size) in [(2, h), (3, w)] {
            if input.shape[axis] == -1 {
                input.shape[axis] = i64::from(size);
            }
        }
    }
    input
}

/// The fixed input for `input`: batch 1, free dimensions `free`, values
/// from `zoo_nn::synthetic` (in about ±2.4; whole numbers 0–9 for integer
/// dtypes).
pub fn golden_input(input: &Input, free: i64) -> Tensor {
    let shape: Vec<i64> = input
        .shape
        .iter()
        .enumerate()
        .map(|(i, &d)| match (i, d) {
            (0, -1) => 1,
            (_, -1) => free,
            (_, d) => d,
        })
        .collect();
    let count: i64 = shape.iter().product();
    let values = zoo_nn::synthetic::synthetic_tensor(&format!("golden/{}", input.name), &[count])
        .reshape(&shape);
    match input.dtype {
        DType::F32 => values,
        DType::F16 => values.to_kind(Kind::Half),
        DType::Bf16 => values.to_kind(Kind::BFloat16),
        DType::I64 => (values.abs() * 4.0).floor().to_kind(Kind::Int64),
        DType::U8 => (values.abs() * 4.0).floor().to_kind(Kind::Uint8),
    }
}

/// Runs the package in `dir` (on the CPU) on its golden input and writes
/// `golden.npz` plus `[model.golden]` into its zoo.toml (keeping a
/// tolerance already there). Returns the section written.
pub fn record(dir: &Path) -> Result<Golden> {
    record_with(dir, &[])
}

/// [`record`] with some inputs given (by name) instead of made: a model
/// that needs real values (token ids with an end-of-sequence mark) runs
/// on them.
pub fn record_with(dir: &Path, given: &[(String, Tensor)]) -> Result<Golden> {
    let manifest = crate::package::read_manifest(dir)?;
    let section = manifest.model.as_ref().ok_or_else(|| ModelError::Package {
        package: manifest.package.name.clone(),
        message: "not a model package (no [model] section)".into(),
    })?;
    if section.inputs.is_empty() {
        return Err(ModelError::Package {
            package: manifest.package.name.clone(),
            message: "no [[model.inputs]]: a golden input needs the input's name and shape".into(),
        });
    }
    if let Some((name, _)) = given
        .iter()
        .find(|(name, _)| !section.inputs.iter().any(|i| &i.name == name))
    {
        let names: Vec<&str> = section.inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(ModelError::Package {
            package: manifest.package.name.clone(),
            message: format!(
                "a golden input is given for {name:?}, which is not an input (its inputs: {})",
                names.join(", ")
            ),
        });
    }
    let given_for = |input: &Input| given.iter().find(|(name, _)| name == &input.name);
    let shaped: Vec<Input> = section.inputs.iter().map(with_image_size).collect();
    // Given inputs are as they are: their free dimensions are theirs.
    let free_dims = shaped
        .iter()
        .filter(|i| given_for(i).is_none())
        .any(|i| i.shape.iter().skip(1).any(|&d| d == -1));
    let sizes = if free_dims {
        free_sizes(&manifest)
    } else {
        &[0][..]
    };
    // Trainers and importers record what they just wrote: no foreign code.
    let model = crate::package::load(dir, Device::Cpu, crate::LoadOptions::default())?.model;
    let wanted: Vec<String> = section.outputs.iter().map(|o| o.name.clone()).collect();
    let mut last_error = None;
    let mut run = None;
    for &free in sizes {
        let inputs: Vec<(String, Tensor)> = shaped
            .iter()
            .map(|input| {
                let tensor = match given_for(input) {
                    Some((_, t)) => t.shallow_clone(),
                    None => golden_input(input, free),
                };
                (input.name.clone(), tensor)
            })
            .collect();
        match model.run(&inputs, &wanted) {
            Ok(outputs) => {
                run = Some((inputs, outputs));
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some((inputs, outputs)) = run else {
        let tried: Vec<String> = sizes.iter().map(i64::to_string).collect();
        return Err(match last_error {
            Some(e) if sizes.len() == 1 => e.into(),
            e => ModelError::Package {
                package: manifest.package.name.clone(),
                message: format!(
                    "not at any size tried for its free dimensions ({}); at {}: {}",
                    tried.join(", "),
                    tried.last().map_or("", String::as_str),
                    e.map_or_else(String::new, |e| e.to_string())
                ),
            },
        });
    };
    let mut arrays: Vec<(String, Tensor)> = inputs
        .iter()
        .map(|(n, t)| (format!("{GOLDEN_INPUT_PREFIX}{n}"), t.shallow_clone()))
        .collect();
    for (name, tensor) in outputs {
        arrays.push((
            format!("{GOLDEN_OUTPUT_PREFIX}{name}"),
            tensor.to(Device::Cpu),
        ));
    }
    let path = dir.join(GOLDEN_FILE);
    zoo_nn::params::write_npz(&path, &arrays)?;
    let golden = Golden {
        file: GOLDEN_FILE.into(),
        tolerance: section
            .golden
            .as_ref()
            .map_or(DEFAULT_GOLDEN_TOLERANCE, |g| g.tolerance),
    };
    let mut manifest = manifest;
    if let Some(section) = manifest.model.as_mut() {
        section.golden = Some(golden.clone());
    }
    let toml_path = dir.join(MANIFEST_FILE);
    let toml = manifest
        .to_toml_string()
        .map_err(|e| ModelError::file(&toml_path, e.to_string()))?;
    let staged = dir.join(".zoo.toml.tmp");
    std::fs::write(&staged, toml).map_err(|source| ModelError::io(staged.clone(), source))?;
    std::fs::rename(&staged, &toml_path).map_err(|source| ModelError::io(toml_path, source))?;
    Ok(golden)
}

/// One recorded output compared with a re-run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputCheck {
    pub name: String,
    /// max|a−b| / max|b|; `None` when the output is missing or its shape
    /// differs (see `problem`).
    pub max_relative_difference: Option<f64>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// The golden arrays of a package: its inputs and recorded outputs.
pub struct GoldenArrays {
    pub inputs: Vec<(String, Tensor)>,
    pub outputs: Vec<(String, Tensor)>,
}

/// Reads `[model.golden]`'s file, split into inputs and outputs.
pub fn read(path: &Path) -> Result<GoldenArrays> {
    let arrays = zoo_nn::params::read_npz(path)?;
    let mut golden = GoldenArrays {
        inputs: Vec::new(),
        outputs: Vec::new(),
    };
    for (name, tensor) in arrays {
        match GoldenArray::parse(&name) {
            Some(GoldenArray::Input(input)) => golden.inputs.push((input.to_string(), tensor)),
            Some(GoldenArray::Output(output)) => golden.outputs.push((output.to_string(), tensor)),
            None => {
                return Err(ModelError::file(
                    path,
                    format!("array {name:?} is neither inputs/NAME nor outputs/NAME"),
                ));
            }
        }
    }
    if golden.inputs.is_empty() || golden.outputs.is_empty() {
        return Err(ModelError::file(
            path,
            "needs at least one inputs/NAME and one outputs/NAME array",
        ));
    }
    Ok(golden)
}

/// max|a−b| / max|b| over all elements (absolute when max|b| is 0).
pub fn relative_difference(actual: &Tensor, expected: &Tensor) -> f64 {
    let a = actual.to(Device::Cpu).to_kind(Kind::Double).flatten(0, -1);
    let b = expected
        .to(Device::Cpu)
        .to_kind(Kind::Double)
        .flatten(0, -1);
    // A NaN or infinity reproduced where it was recorded is the same
    // answer (a golden input in ±2.4 gives Log and Sqrt NaN); anywhere
    // else it is infinitely far off.
    let reproduced = a
        .isnan()
        .logical_and(&b.isnan())
        .logical_or(&a.isinf().logical_and(&a.eq_tensor(&b)));
    let rest = reproduced.logical_not();
    let (a, b) = (a.masked_select(&rest), b.masked_select(&rest));
    if a.numel() == 0 {
        return 0.0;
    }
    let finite = |t: &Tensor| t.isfinite().all().int64_value(&[]) != 0;
    if !(finite(&a) && finite(&b)) {
        return f64::INFINITY;
    }
    let diff = (&a - &b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]);
    if scale > 0.0 { diff / scale } else { diff }
}

/// Re-runs `model` on the golden inputs and compares every recorded output
/// within `tolerance`.
pub fn check(model: &dyn Model, golden: &GoldenArrays, tolerance: f64) -> Result<Vec<OutputCheck>> {
    let device = model.device();
    let inputs: Vec<(String, Tensor)> = golden
        .inputs
        .iter()
        .map(|(n, t)| (n.clone(), t.to(device)))
        .collect();
    let wanted: Vec<String> = golden.outputs.iter().map(|(n, _)| n.clone()).collect();
    let results = model.run(&inputs, &wanted)?;
    Ok(golden
        .outputs
        .iter()
        .map(|(name, expected)| {
            let problem = |text: String| OutputCheck {
                name: name.clone(),
                max_relative_difference: None,
                ok: false,
                problem: Some(text),
            };
            let Some((_, actual)) = results.iter().find(|(n, _)| n == name) else {
                return problem("the model did not produce it".into());
            };
            if actual.size() != expected.size() {
                return problem(format!(
                    "shape {:?}, recorded {:?}",
                    actual.size(),
                    expected.size()
                ));
            }
            let difference = relative_difference(actual, expected);
            OutputCheck {
                name: name.clone(),
                max_relative_difference: Some(difference),
                ok: difference <= tolerance,
                problem: None,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_difference_is_scaled_by_the_recorded_output() {
        let b = Tensor::from_slice(&[1.0f32, -4.0, 2.0]);
        let a = Tensor::from_slice(&[1.0f32, -4.0, 2.4]);
        assert!((relative_difference(&a, &b) - 0.1).abs() < 1e-6);
        assert_eq!(relative_difference(&b, &b), 0.0);
        let zeros = Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let small = Tensor::from_slice(&[0.0f32, 0.5]);
        assert!((relative_difference(&small, &zeros) - 0.5).abs() < 1e-6);
        let nan = Tensor::from_slice(&[f32::NAN, -4.0, 2.0]);
        assert_eq!(relative_difference(&nan, &b), f64::INFINITY);
        assert_eq!(relative_difference(&b, &nan), f64::INFINITY);
        // Recorded NaN and infinities reproduced at their places are equal.
        let odd = Tensor::from_slice(&[f32::NAN, f32::NEG_INFINITY, 2.0, 4.0]);
        let near = Tensor::from_slice(&[f32::NAN, f32::NEG_INFINITY, 2.0, 4.4]);
        assert!((relative_difference(&near, &odd) - 0.1).abs() < 1e-6);
        let flipped = Tensor::from_slice(&[f32::NAN, f32::INFINITY, 2.0, 4.0]);
        assert_eq!(relative_difference(&flipped, &odd), f64::INFINITY);
        let moved = Tensor::from_slice(&[1.0f32, f32::NEG_INFINITY, f32::NAN, 4.0]);
        assert_eq!(relative_difference(&moved, &odd), f64::INFINITY);
        let all_nan = Tensor::from_slice(&[f32::NAN, f32::NAN]);
        assert_eq!(relative_difference(&all_nan, &all_nan), 0.0);
    }

    #[test]
    fn free_image_sizes_come_from_the_crop_else_the_resize() {
        let pre = |resize, crop| zoo_format::manifest::Preprocess {
            resize,
            crop,
            channel_order: None,
            mean: vec![],
            scale: 1.0,
            std: vec![],
        };
        let input = |shape: Vec<i64>, preprocess| Input {
            name: "x".into(),
            shape,
            dtype: DType::F32,
            preprocess,
        };
        let free = vec![-1, 3, -1, -1];
        let shaped = |i: Input| with_image_size(&i).shape;
        assert_eq!(
            shaped(input(
                free.clone(),
                Some(pre(Some([256, 320]), Some([224, 192])))
            )),
            vec![-1, 3, 224, 192]
        );
        assert_eq!(
            shaped(input(free.clone(), Some(pre(Some([256, 320]), None)))),
            vec![-1, 3, 256, 320]
        );
        assert_eq!(shaped(input(free.clone(), None)), free);
        // Fixed dimensions stay; other ranks are not images.
        assert_eq!(
            shaped(input(vec![-1, 3, 48, -1], Some(pre(Some([32, 100]), None)))),
            vec![-1, 3, 48, 100]
        );
        assert_eq!(
            shaped(input(vec![-1, -1, 8], Some(pre(Some([32, 100]), None)))),
            vec![-1, -1, 8]
        );
    }

    #[test]
    fn golden_input_is_fixed_batch_one() {
        let input = Input {
            name: "x".into(),
            shape: vec![-1, -1, 1],
            dtype: DType::F32,
            preprocess: None,
        };
        let a = golden_input(&input, 16);
        assert_eq!(a.size(), vec![1, 16, 1]);
        assert!(a.equal(&golden_input(&input, 16)));
        assert!(a.abs().max().double_value(&[]) > 0.5);
    }
}

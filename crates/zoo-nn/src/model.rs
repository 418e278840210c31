//! A runnable model with named inputs and outputs: what `zoo run` drives,
//! whatever the architecture behind it (built-in, graph file, TorchScript).

use crate::error::Result;
use tch::{Device, Tensor};

/// Named tensors in, named tensors out.
pub trait Model {
    /// Names of the inputs in the order a positional caller supplies them.
    fn input_names(&self) -> Vec<String>;
    /// Names of the outputs returned when the caller asks for none in particular.
    fn default_outputs(&self) -> Vec<String>;
    /// Runs the model in test mode. `outputs` names the tensors wanted (any
    /// named intermediate the model exposes); empty means `default_outputs`.
    /// Wrong names, shapes or dtypes are errors naming the input, never panics.
    fn run(&self, inputs: &[(String, Tensor)], outputs: &[String])
    -> Result<Vec<(String, Tensor)>>;
    /// The device the model's parameters live on.
    fn device(&self) -> Device;
}

/// A model whose floating-point outputs must be finite. NaN or ±Inf in an
/// output means broken or hostile weights (or inputs); reporting it as a
/// result (a NaN count, an empty list of detections) would hide that, so it
/// is an error naming the output.
pub struct FiniteOutputs(pub Box<dyn Model>);

impl Model for FiniteOutputs {
    fn input_names(&self) -> Vec<String> {
        self.0.input_names()
    }

    fn default_outputs(&self) -> Vec<String> {
        self.0.default_outputs()
    }

    fn run(
        &self,
        inputs: &[(String, Tensor)],
        outputs: &[String],
    ) -> Result<Vec<(String, Tensor)>> {
        let results = self.0.run(inputs, outputs)?;
        for (name, tensor) in &results {
            check_finite(name, tensor)?;
        }
        Ok(results)
    }

    fn device(&self) -> Device {
        self.0.device()
    }
}

/// An error naming `name` when a floating-point `tensor` holds NaN or ±Inf.
pub fn check_finite(name: &str, tensor: &Tensor) -> Result<()> {
    if !tensor.is_floating_point() {
        return Ok(());
    }
    let count = |t: Tensor| -> Result<i64> { Ok(t.f_sum(tch::Kind::Int64)?.f_int64_value(&[])?) };
    let nan = count(tensor.f_isnan()?)?;
    let not_finite = count(tensor.f_isfinite()?.f_logical_not()?)?;
    if not_finite == 0 {
        return Ok(());
    }
    Err(crate::error::NnError::Other(format!(
        "output {name}: {nan} NaN and {} infinite values among {} (the weights or the input \
         are broken); no result is reported",
        not_finite - nan,
        tensor.numel()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_outputs_are_errors_naming_the_output() {
        let ok = Tensor::from_slice(&[1.0f32, -2.0]);
        assert!(check_finite("y", &ok).is_ok());
        let bad = Tensor::from_slice(&[1.0f32, f32::NAN, f32::INFINITY]);
        let error = check_finite("density", &bad).unwrap_err().to_string();
        assert!(
            error.contains("output density: 1 NaN and 1 infinite values among 3"),
            "{error}"
        );
        let ints = Tensor::from_slice(&[1i64, 2]);
        assert!(check_finite("ids", &ints).is_ok());
    }
}

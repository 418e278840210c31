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

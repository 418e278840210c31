//! The `Link` trait: a parameterised, callable building block.

use crate::error::Result;
use tch::Tensor;

/// Train or test behaviour, Chainer's `config.train`: dropout is active and
/// batch normalisation uses batch statistics only in `Train`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    Train,
    #[default]
    Test,
}

impl Mode {
    pub fn is_train(self) -> bool {
        self == Mode::Train
    }
}

/// A link maps one tensor to another. Its parameters live in the `VarStore`
/// it was built from (`tch::nn::Path`), named `<path>/W`, `<path>/b`, ...;
/// moving the store moves the link (`VarStore::set_device`, `VarStore::half`).
///
/// As in tch, `f_forward` reports bad input (shape, dtype, device) as an
/// error and `forward` panics on it: model runners driven by user input use
/// `f_forward`, code with known shapes may use `forward`.
pub trait Link: std::fmt::Debug + Send {
    fn f_forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor>;

    fn forward(&self, x: &Tensor, mode: Mode) -> Tensor {
        match self.f_forward(x, mode) {
            Ok(y) => y,
            Err(error) => panic!("{self:?}: {error}"),
        }
    }
}

/// Whether ops on `tensors` would be recorded right now: by a TorchScript
/// trace ([`crate::torchscript::trace`]), or by autograd (grad mode on and a
/// tensor that requires grad). Fast paths that work outside libtorch's ops or
/// write buffers in place are taken only when nothing records.
pub fn ops_are_recorded(tensors: &[&Tensor]) -> Result<bool> {
    if crate::torchscript::is_tracing() {
        return Ok(true);
    }
    if !tensors.iter().any(|t| t.requires_grad()) {
        return Ok(false);
    }
    // tch does not expose grad mode; an op on a one-element leaf that
    // requires grad tells it (under `no_grad` its result does not).
    let probe = Tensor::f_ones([1], (tch::Kind::Float, tch::Device::Cpu))?
        .f_set_requires_grad(true)?
        .f_mul_scalar(1.0)?;
    Ok(probe.requires_grad())
}

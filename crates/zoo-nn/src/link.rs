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

//! The `Link` trait: a parameterised, callable building block.

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
pub trait Link: std::fmt::Debug + Send {
    fn forward(&self, x: &Tensor, mode: Mode) -> Tensor;
}

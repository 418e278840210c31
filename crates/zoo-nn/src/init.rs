//! Where every parameter of a link or built-in model is created.
//!
//! A model built only to receive weights from a file (the strict loader
//! overwrites every parameter or refuses the file) need not initialise them.
//! Inside [`for_loading`] parameters are allocated uninitialised: building
//! VGG16 then costs neither the time of 138M random numbers nor resident
//! memory for pages nobody reads before the weights are copied in.

use std::cell::Cell;
use tch::Tensor;
use tch::nn::{Init, Path};

thread_local! {
    static LOADING: Cell<bool> = const { Cell::new(false) };
}

/// Builds with uninitialised parameters. Only for a model whose every
/// parameter is then assigned by a strict load (as `zoo_models`' package
/// loader and the importers do); a model that fails to load is dropped.
pub fn for_loading<T>(build: impl FnOnce() -> T) -> T {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            LOADING.with(|l| l.set(self.0));
        }
    }
    let _restore = Restore(LOADING.with(|l| l.replace(true)));
    build()
}

fn loading() -> bool {
    LOADING.with(Cell::get)
}

fn uninitialised(path: &Path, dims: &[i64]) -> Tensor {
    Tensor::empty(dims, (path.kind(), path.device()))
}

/// A trainable parameter `<path>/name` initialised by `init` (tch's own
/// `var`, so that seeded training draws the same random numbers).
pub fn param(path: &Path, name: &str, dims: &[i64], init: Init) -> Tensor {
    if loading() {
        path.add(name, uninitialised(path, dims), true)
    } else {
        path.var(name, dims, init)
    }
}

/// How a link's parameter starts: Chainer's initialisers (`initialW`,
/// `initial_bias`, `upward_init`, …), so that a model built from links can
/// keep the start its training recipe was tuned with. `fan_in` is the
/// product of all of a weight's dimensions but the first, as in Chainer.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Initializer {
    /// N(0, 1/fan_in): Chainer's default for weights.
    #[default]
    LeCunNormal,
    /// N(0, 2/fan_in) (He et al. 2015): for weights followed by a ReLU.
    HeNormal,
    /// U(±√(6/fan_in)): libtorch's default for `Linear` and `LSTM` weights
    /// (`kaiming_uniform_` with the ReLU gain, drawn by tch itself).
    HeUniform,
    /// U(−scale, scale).
    Uniform(f64),
    /// Every entry the same value.
    Constant(f64),
}

impl Initializer {
    /// tch's description of this initialiser for a tensor of shape `dims`.
    pub fn for_shape(self, dims: &[i64]) -> Init {
        let fan_in = dims.iter().skip(1).product::<i64>().max(1) as f64;
        match self {
            Initializer::LeCunNormal => Init::Randn {
                mean: 0.0,
                stdev: (1.0 / fan_in).sqrt(),
            },
            Initializer::HeNormal => Init::Randn {
                mean: 0.0,
                stdev: (2.0 / fan_in).sqrt(),
            },
            Initializer::HeUniform => tch::nn::init::DEFAULT_KAIMING_UNIFORM,
            Initializer::Uniform(scale) => Init::Uniform {
                lo: -scale,
                up: scale,
            },
            Initializer::Constant(value) => Init::Const(value),
        }
    }

    /// The trainable parameter `<path>/name` of shape `dims` ([`param`]).
    pub fn param(self, path: &Path, name: &str, dims: &[i64]) -> Tensor {
        param(path, name, dims, self.for_shape(dims))
    }
}

/// A saved but not trained tensor (running statistics).
pub fn buffer(path: &Path, name: &str, dims: &[i64], init: Init) -> Tensor {
    let tensor = if loading() {
        uninitialised(path, dims)
    } else {
        tch::nn::init(init, dims, path.device()).to_kind(path.kind())
    };
    path.add(name, tensor, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, nn::VarStore};

    #[test]
    fn parameters_are_initialised_outside_for_loading_only() {
        let vs = VarStore::new(Device::Cpu);
        let ones = param(&vs.root(), "a", &[4], Init::Const(1.0));
        assert_eq!(ones.sum(tch::Kind::Float).double_value(&[]), 4.0);
        assert!(ones.requires_grad());
        let (b, c) = for_loading(|| {
            (
                param(&vs.root(), "b", &[3, 2], Init::Const(1.0)),
                buffer(&vs.root(), "c", &[2], Init::Const(1.0)),
            )
        });
        assert_eq!(b.size(), [3, 2]);
        assert!(b.requires_grad() && !c.requires_grad());
        assert_eq!(vs.variables().len(), 3);
        // The flag is scoped: initialisation is back after the call.
        let d = param(&vs.root(), "d", &[2], Init::Const(2.0));
        assert_eq!(d.sum(tch::Kind::Float).double_value(&[]), 4.0);
    }
}

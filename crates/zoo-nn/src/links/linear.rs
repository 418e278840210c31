//! `L.Linear`: y = x Wᵀ + b with W of shape (out, in), as Chainer and Caffe's
//! InnerProduct store it.

use crate::error::Result;
use crate::init::Initializer;
use crate::link::{Link, Mode};
use tch::Tensor;

#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

/// Chainer's keyword arguments `nobias`, `initialW` and `initial_bias`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinearConfig {
    pub nobias: bool,
    pub initial_w: Initializer,
    pub initial_bias: Initializer,
}

impl Default for LinearConfig {
    fn default() -> Self {
        Self {
            nobias: false,
            initial_w: Initializer::LeCunNormal,
            initial_bias: Initializer::Constant(0.0),
        }
    }
}

/// A Linear link with parameters `<path>/W` (out, in) and `<path>/b` (out).
pub fn linear(path: &tch::nn::Path, in_size: i64, out_size: i64) -> Linear {
    linear_with(path, in_size, out_size, LinearConfig::default())
}

/// Chainer's `nobias=True`: only `<path>/W`.
pub fn linear_nobias(path: &tch::nn::Path, in_size: i64, out_size: i64) -> Linear {
    let config = LinearConfig {
        nobias: true,
        ..LinearConfig::default()
    };
    linear_with(path, in_size, out_size, config)
}

/// A Linear link built with Chainer's keyword arguments.
pub fn linear_with(
    path: &tch::nn::Path,
    in_size: i64,
    out_size: i64,
    config: LinearConfig,
) -> Linear {
    Linear {
        weight: config.initial_w.param(path, "W", &[out_size, in_size]),
        bias: (!config.nobias).then(|| config.initial_bias.param(path, "b", &[out_size])),
    }
}

impl Linear {
    pub fn in_size(&self) -> i64 {
        self.weight.size()[1]
    }

    pub fn out_size(&self) -> i64 {
        self.weight.size()[0]
    }
}

impl Link for Linear {
    /// Like Chainer (`n_batch_axes=1`) and Caffe's InnerProduct, everything
    /// after the first axis is flattened in C order.
    fn f_forward(&self, x: &Tensor, _mode: Mode) -> Result<Tensor> {
        let x = if x.dim() > 2 {
            x.f_flatten(1, -1)?
        } else {
            x.shallow_clone()
        };
        Ok(x.f_linear(&self.weight, self.bias.as_ref())?)
    }
}

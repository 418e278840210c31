//! `L.Linear`: y = x Wᵀ + b with W of shape (out, in), as Chainer and Caffe's
//! InnerProduct store it.

use crate::error::Result;
use crate::link::{Link, Mode};
use crate::links::lecun_normal;
use tch::Tensor;

#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

/// A Linear link with parameters `<path>/W` (out, in) and `<path>/b` (out).
pub fn linear(path: &tch::nn::Path, in_size: i64, out_size: i64) -> Linear {
    Linear {
        weight: lecun_normal(path, "W", &[out_size, in_size]),
        bias: Some(crate::init::param(
            path,
            "b",
            &[out_size],
            tch::nn::Init::Const(0.0),
        )),
    }
}

/// Chainer's `nobias=True`: only `<path>/W`.
pub fn linear_nobias(path: &tch::nn::Path, in_size: i64, out_size: i64) -> Linear {
    Linear {
        weight: lecun_normal(path, "W", &[out_size, in_size]),
        bias: None,
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

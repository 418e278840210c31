//! `L.Bias`: adds a learnt `b` broadcast along `axis` (Caffe's Bias layer and
//! the bias half of its Scale layer).

use crate::error::Result;
use crate::functions::add_along;
use crate::link::{Link, Mode};
use tch::Tensor;

#[derive(Debug)]
pub struct Bias {
    pub b: Tensor,
    pub axis: i64,
}

/// `<path>/b` with `shape`, matching the input's dimensions from `axis` on.
pub fn bias(path: &tch::nn::Path, axis: i64, shape: &[i64]) -> Bias {
    Bias {
        b: crate::init::param(path, "b", shape, tch::nn::Init::Const(0.0)),
        axis,
    }
}

impl Link for Bias {
    fn f_forward(&self, x: &Tensor, _mode: Mode) -> Result<Tensor> {
        add_along(x, &self.b, self.axis)
    }
}

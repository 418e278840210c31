//! `L.Scale` with a learnt `W`: multiplies by `W` broadcast along `axis`, then
//! an optional child link `bias` (so its parameter is `<path>/bias/b`),
//! exactly as Chainer nests it.

use crate::error::Result;
use crate::functions::mul_along;
use crate::link::{Link, Mode};
use crate::links::bias::{Bias, bias as bias_link};
use tch::Tensor;

#[derive(Debug)]
pub struct Scale {
    pub weight: Tensor,
    pub bias: Option<Bias>,
    pub axis: i64,
}

/// `<path>/W` with `shape` (initialised to 1 as in Chainer) and, with
/// `bias_term`, `<path>/bias/b` (initialised to 0).
pub fn scale(path: &tch::nn::Path, axis: i64, shape: &[i64], bias_term: bool) -> Scale {
    Scale {
        weight: crate::init::param(path, "W", shape, tch::nn::Init::Const(1.0)),
        bias: bias_term.then(|| bias_link(&(path / "bias"), axis, shape)),
        axis,
    }
}

impl Link for Scale {
    fn f_forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let y = mul_along(x, &self.weight, self.axis)?;
        match &self.bias {
            Some(bias) => bias.f_forward(&y, mode),
            None => Ok(y),
        }
    }
}

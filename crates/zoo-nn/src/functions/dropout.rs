//! `F.dropout`: active only in train mode, scaling kept units by 1/(1-ratio)
//! so that test mode is the identity (as in Chainer and Caffe).

use crate::error::{NnError, Result};
use crate::link::Mode;
use tch::Tensor;

pub fn dropout(x: &Tensor, ratio: f64, mode: Mode) -> Result<Tensor> {
    if !(0.0..1.0).contains(&ratio) {
        return Err(NnError::input(
            "dropout",
            format!("ratio must lie in [0, 1), got {ratio}"),
        ));
    }
    if !mode.is_train() || ratio == 0.0 {
        return Ok(x.shallow_clone());
    }
    Ok(x.f_dropout(ratio, true)?)
}

//! Chainer's `F.scale`/`F.bias` broadcasting: `y`'s shape matches `x`'s
//! dimensions from `axis` on, and is repeated over all the others.

use crate::error::{NnError, Result};
use crate::functions::normalize_axis;
use tch::Tensor;

fn broadcast_along(function: &str, x: &Tensor, y: &Tensor, axis: i64) -> Result<Tensor> {
    let axis = normalize_axis(function, axis, x.dim())? as usize;
    let xs = x.size();
    let ys = y.size();
    if axis + ys.len() > xs.len() || xs[axis..axis + ys.len()] != ys[..] {
        return Err(NnError::input(
            function,
            format!("a {ys:?} operand does not match input {xs:?} from axis {axis}"),
        ));
    }
    let mut shape = vec![1i64; xs.len()];
    shape[axis..axis + ys.len()].copy_from_slice(&ys);
    Ok(y.f_reshape(&shape)?)
}

/// x * y, y broadcast along `axis` (Caffe's Scale with a second bottom).
pub fn mul_along(x: &Tensor, y: &Tensor, axis: i64) -> Result<Tensor> {
    Ok(x.f_mul(&broadcast_along("scale", x, y, axis)?)?)
}

/// x + y, y broadcast along `axis`.
pub fn add_along(x: &Tensor, y: &Tensor, axis: i64) -> Result<Tensor> {
    Ok(x.f_add(&broadcast_along("bias", x, y, axis)?)?)
}

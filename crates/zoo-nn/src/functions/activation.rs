//! Element-wise activations and (log-)softmax.

use crate::error::Result;
use crate::functions::normalize_axis;
use tch::Tensor;

pub fn relu(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_relu()?)
}

/// Chainer's `F.leaky_relu` (default slope 0.2) and Caffe's ReLU with
/// `negative_slope`: x for x ≥ 0, slope·x otherwise.
pub fn leaky_relu(x: &Tensor, slope: f64) -> Result<Tensor> {
    let negative = x.f_clamp_max(0.0)?.f_mul_scalar(slope)?;
    Ok(x.f_clamp_min(0.0)?.f_add(&negative)?)
}

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_sigmoid()?)
}

pub fn tanh(x: &Tensor) -> Result<Tensor> {
    Ok(x.f_tanh()?)
}

/// Softmax along `axis` (Chainer's default 1, as Caffe's).
pub fn softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    let axis = normalize_axis("softmax", axis, x.dim())?;
    Ok(x.f_softmax(axis, x.kind())?)
}

pub fn log_softmax(x: &Tensor, axis: i64) -> Result<Tensor> {
    let axis = normalize_axis("log_softmax", axis, x.dim())?;
    Ok(x.f_log_softmax(axis, x.kind())?)
}

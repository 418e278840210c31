//! Element-wise activations and (log-)softmax.

use crate::error::Result;
use crate::functions::normalize_axis;
use crate::parallel::PARALLEL_MIN_VALUES;
use tch::{Device, Kind, Tensor};
use zoo_kernels::Activation;

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

/// `activation` through libtorch's ops (any device, dtype or layout; traced
/// and differentiable), for what zoo-kernels' in-place loops do not take.
pub fn activate(x: &Tensor, activation: Activation) -> Result<Tensor> {
    let hard_sigmoid = |alpha: f32, beta: f32| -> Result<Tensor> {
        if (alpha - 1.0 / 6.0).abs() < 1e-7 && beta == 0.5 {
            return Ok(x.f_hardsigmoid()?);
        }
        Ok(x.f_mul_scalar(f64::from(alpha))?
            .f_add_scalar(f64::from(beta))?
            .f_clamp(0.0, 1.0)?)
    };
    Ok(match activation {
        Activation::Identity => x.shallow_clone(),
        Activation::Relu => x.f_relu()?,
        Activation::LeakyRelu { slope } => leaky_relu(x, f64::from(slope))?,
        Activation::HardSigmoid { alpha, beta } => hard_sigmoid(alpha, beta)?,
        Activation::HardSwish { alpha, beta } => {
            if activation == Activation::HARD_SWISH {
                x.f_hardswish()?
            } else {
                x.f_mul(&hard_sigmoid(alpha, beta)?)?
            }
        }
        Activation::Clip { min, max } => x.f_clamp(f64::from(min), f64::from(max))?,
    })
}

/// `activation` on `y`, a tensor just made by the caller and held by no one
/// else: in place where it is a dense CPU f32 tensor (NCHW or NHWC), split
/// over libtorch's threads when large; through libtorch otherwise (and
/// whenever ops are recorded: a trace or autograd must see the op).
pub(crate) fn activate_fresh(y: Tensor, activation: Activation) -> Result<Tensor> {
    if activation == Activation::Identity {
        return Ok(y);
    }
    let dense = y.is_contiguous() || (y.dim() == 4 && super::convolution::is_channels_last(&y));
    let cpu_f32 = y.device() == Device::Cpu && y.kind() == Kind::Float;
    if !(dense && cpu_f32) || crate::link::ops_are_recorded(&[&y])? {
        return activate(&y, activation);
    }
    let len = y.numel();
    let parts = crate::parallel::parts_for(len, PARALLEL_MIN_VALUES, len);
    // In place: `y` serves as its own input, each part reading what it writes.
    crate::parallel::fill_in_parts("activation", &y, (len, 1), parts, &|_, share| {
        activation.apply(share);
        Ok::<(), std::convert::Infallible>(())
    })?;
    Ok(y)
}

/// `activation(a + b)` for two tensors of one shape: in one pass on dense
/// CPU f32 tensors with the same strides (a residual connection and its
/// ReLU); libtorch's broadcasting `add` and then the activation otherwise.
pub fn add_then(a: &Tensor, b: &Tensor, activation: Activation) -> Result<Tensor> {
    let cpu_f32 = |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float;
    let dense =
        |t: &Tensor| t.is_contiguous() || (t.dim() == 4 && super::convolution::is_channels_last(t));
    let same = a.size() == b.size() && a.stride() == b.stride();
    if !(same && cpu_f32(a) && cpu_f32(b) && dense(a) && a.numel() > 0)
        || crate::link::ops_are_recorded(&[a, b])?
    {
        return activate_fresh(a.f_add(b)?, activation);
    }
    // Same sizes and strides as `a` (dense: `empty_like` preserves them).
    let y = a.f_empty_like()?;
    if y.stride() != a.stride() {
        return activate_fresh(a.f_add(b)?, activation);
    }
    let (left, right) = (super::f32_slice(a), super::f32_slice(b));
    let len = left.len();
    let parts = crate::parallel::parts_for(len, PARALLEL_MIN_VALUES, len);
    crate::parallel::fill_in_parts("Add", &y, (len, 1), parts, &|first, share| {
        let range = first..first + share.len();
        zoo_kernels::elementwise::add_then(&left[range.clone()], &right[range], share, activation);
        Ok::<(), std::convert::Infallible>(())
    })?;
    Ok(y)
}

//! Local response normalisation across channels (Caffe's ACROSS_CHANNELS,
//! Chainer's `F.local_response_normalization`):
//! y_c = x_c · (k + alpha · Σ_{j in window(c)} x_j²)^(−beta).
//!
//! The two frameworks state alpha differently: Caffe divides its `alpha` by
//! the window size, Chainer does not ([`Lrn::caffe`] converts). For an even
//! window they also differ in extent: Caffe sums n channels starting
//! (n−1)/2 before c, Chainer sums n/2 on each side (n+1 channels).

use crate::error::{NnError, Result};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lrn {
    /// Channels summed before and after channel c.
    pub before: i64,
    pub after: i64,
    pub k: f64,
    /// Multiplies the sum directly (Chainer's convention).
    pub alpha: f64,
    pub beta: f64,
}

impl Lrn {
    /// Chainer's arguments (defaults n=5, k=2, alpha=1e-4, beta=0.75).
    pub fn chainer(n: i64, k: f64, alpha: f64, beta: f64) -> Self {
        Self {
            before: n / 2,
            after: n / 2,
            k,
            alpha,
            beta,
        }
    }

    /// Caffe's LRNParameter (`local_size`, `alpha`, `beta`, `k`; defaults
    /// 5, 1, 0.75, 1).
    pub fn caffe(local_size: i64, alpha: f64, beta: f64, k: f64) -> Self {
        let before = (local_size - 1) / 2;
        Self {
            before,
            after: local_size - 1 - before,
            k,
            alpha: alpha / local_size as f64,
            beta,
        }
    }
}

pub fn lrn(x: &Tensor, params: &Lrn) -> Result<Tensor> {
    if x.dim() < 2 || params.before < 0 || params.after < 0 {
        return Err(NnError::input(
            "local_response_normalization",
            format!(
                "needs an input with a channel axis (N, C, ...) and a window of at least one \
                 channel, got shape {:?}",
                x.size()
            ),
        ));
    }
    let channels = x.size()[1];
    let squared = x.f_square()?;
    let mut pad = vec![0i64; 2 * (x.dim() - 2)];
    pad.extend([params.before, params.after]);
    let padded = squared.f_constant_pad_nd(pad.as_slice())?;
    let mut sum = padded.f_narrow(1, 0, channels)?;
    for offset in 1..=(params.before + params.after) {
        sum = sum.f_add(&padded.f_narrow(1, offset, channels)?)?;
    }
    let scale = sum.f_mul_scalar(params.alpha)?.f_add_scalar(params.k)?;
    Ok(x.f_mul(&scale.f_pow_tensor_scalar(-params.beta)?)?)
}

//! 2-d max and average pooling with Caffe's or Chainer's output-size rule.
//!
//! The frameworks disagree on some shapes, so an importer must pick:
//! * Caffe (both kinds): out = ceil((in + 2p − k) / s) + 1, minus one when
//!   the last window would start at or beyond in + p (inside the right
//!   padding). Average divides by the window clipped to the padded input
//!   (`min(start + k, in + p) − start` per axis), so padding counts but the
//!   overhang past it does not.
//! * Chainer max (`cover_all=True`): out = ceil((in + 2p − k) / s) + 1 with no
//!   drop, padding is −∞ (a window wholly in padding yields −∞).
//! * Chainer average: out = floor((in + 2p − k) / s) + 1, zero padding,
//!   always divided by kh·kw.
//!
//! Every case is computed the same way: pad explicitly (p on the left, as
//! much as the last window needs on the right), pool without padding, keep
//! the first `out` windows, and for Caffe's average divide the window sums by
//! the clipped window sizes. libtorch's own `ceil_mode` matches Caffe only
//! while p ≤ k/2, which Caffe does not require.

use crate::error::{NnError, Result};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolRule {
    #[default]
    Caffe,
    Chainer,
}

/// Window geometry, `[h, w]` pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pool2d {
    pub ksize: [i64; 2],
    pub stride: [i64; 2],
    pub pad: [i64; 2],
    pub rule: PoolRule,
}

impl Pool2d {
    /// Chainer's defaults: stride = ksize, no padding.
    pub fn new(ksize: [i64; 2], rule: PoolRule) -> Self {
        Self {
            ksize,
            stride: ksize,
            pad: [0, 0],
            rule,
        }
    }

    pub fn stride(mut self, stride: [i64; 2]) -> Self {
        self.stride = stride;
        self
    }

    pub fn pad(mut self, pad: [i64; 2]) -> Self {
        self.pad = pad;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Max,
    Average,
}

/// Output length of one axis under `rule` (`max` selects Chainer's max rule).
pub fn pool_outsize(size: i64, k: i64, s: i64, p: i64, rule: PoolRule, max: bool) -> i64 {
    let span = size + 2 * p - k;
    match (rule, max) {
        (PoolRule::Caffe, _) => {
            let mut out = span.div_euclid(s) + 1 + i64::from(span.rem_euclid(s) != 0);
            if p > 0 && (out - 1) * s >= size + p {
                out -= 1;
            }
            out
        }
        (PoolRule::Chainer, true) => (span + s - 1).div_euclid(s) + 1,
        (PoolRule::Chainer, false) => span.div_euclid(s) + 1,
    }
}

pub fn max_pooling_2d(x: &Tensor, pool: &Pool2d) -> Result<Tensor> {
    pool_2d(x, pool, Op::Max)
}

pub fn average_pooling_2d(x: &Tensor, pool: &Pool2d) -> Result<Tensor> {
    pool_2d(x, pool, Op::Average)
}

/// Caffe's `global_pooling`: one window over the whole map.
pub fn global_max_pooling_2d(x: &Tensor) -> Result<Tensor> {
    check_4d("global_max_pooling_2d", x)?;
    Ok(x.f_amax([2i64, 3].as_slice(), true)?)
}

pub fn global_average_pooling_2d(x: &Tensor) -> Result<Tensor> {
    check_4d("global_average_pooling_2d", x)?;
    Ok(x.f_mean_dim([2i64, 3].as_slice(), true, x.kind())?)
}

fn check_4d(function: &str, x: &Tensor) -> Result<()> {
    if x.dim() != 4 {
        return Err(NnError::input(
            function,
            format!(
                "expected a 4-d input (N, C, H, W), got shape {:?}",
                x.size()
            ),
        ));
    }
    Ok(())
}

fn pool_2d(x: &Tensor, pool: &Pool2d, op: Op) -> Result<Tensor> {
    let name = match op {
        Op::Max => "max_pooling_2d",
        Op::Average => "average_pooling_2d",
    };
    check_4d(name, x)?;
    let size = x.size();
    let (k, s, p) = (pool.ksize, pool.stride, pool.pad);
    if k.iter().chain(&s).any(|&v| v < 1) || p.iter().any(|&v| v < 0) {
        return Err(NnError::input(
            name,
            format!("kernel {k:?} and stride {s:?} must be positive, pad {p:?} non-negative"),
        ));
    }
    let mut out = [0i64; 2];
    let mut right = [0i64; 2];
    for axis in 0..2 {
        let n = size[2 + axis];
        out[axis] = pool_outsize(n, k[axis], s[axis], p[axis], pool.rule, op == Op::Max);
        if out[axis] < 1 {
            return Err(NnError::input(
                name,
                format!(
                    "kernel {k:?} with pad {p:?} does not fit an input of {}x{}",
                    size[2], size[3]
                ),
            ));
        }
        right[axis] = ((out[axis] - 1) * s[axis] + k[axis] - n - p[axis]).max(0);
    }
    let fill = match op {
        Op::Max => f64::NEG_INFINITY,
        Op::Average => 0.0,
    };
    let padded = x.f_constant_pad_nd([p[1], right[1], p[0], right[0]].as_slice())?;
    let padded = if fill != 0.0 && (p.iter().chain(&right).any(|&v| v > 0)) {
        // constant_pad_nd pads with 0; re-fill the border with −∞ for max.
        let mask = Tensor::f_ones([size[2], size[3]], (Kind::Bool, x.device()))?
            .f_constant_pad_nd([p[1], right[1], p[0], right[0]].as_slice())?;
        padded.f_masked_fill(&mask.f_logical_not()?, fill)?
    } else {
        padded
    };
    let pooled = match op {
        Op::Max => padded.f_max_pool2d(k, s, [0, 0], [1, 1], false)?,
        Op::Average => padded.f_avg_pool2d(k, s, [0, 0], false, true, 1)?,
    };
    let pooled = pooled.f_narrow(2, 0, out[0])?.f_narrow(3, 0, out[1])?;
    match (op, pool.rule) {
        (Op::Max, _) => Ok(pooled),
        (Op::Average, PoolRule::Chainer) => Ok(pooled.f_div_scalar((k[0] * k[1]) as f64)?),
        (Op::Average, PoolRule::Caffe) => {
            let divisor = caffe_window_sizes(size[2], k[0], s[0], p[0], out[0])
                .f_outer(&caffe_window_sizes(size[3], k[1], s[1], p[1], out[1]))?
                .f_to_kind(x.kind())?
                .f_to_device(x.device())?;
            Ok(pooled.f_div(&divisor)?)
        }
    }
}

/// Caffe's per-window divisor along one axis: the window clipped to the
/// padded input, `min(start + k, n + p) − start` with start = i·s − p.
fn caffe_window_sizes(n: i64, k: i64, s: i64, p: i64, out: i64) -> Tensor {
    let sizes: Vec<f64> = (0..out)
        .map(|i| {
            let start = i * s - p;
            ((start + k).min(n + p) - start) as f64
        })
        .collect();
    Tensor::from_slice(&sizes)
}

//! `L.BatchNormalization`: gamma, beta (trainable), avg_mean, avg_var
//! (persistent, not trainable).
//!
//! Train mode normalises with the batch's statistics and updates the running
//! ones as Chainer does: `avg = decay * avg + (1 - decay) * batch`, the
//! variance scaled by m / (m - 1) first (unbiased); libtorch's batch_norm
//! with `momentum = 1 - decay` does exactly that. Test mode uses the running
//! statistics (Chainer's `fixed_batch_normalization`).

use crate::error::Result;
use crate::link::{Link, Mode};
use tch::Tensor;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchNormalizationConfig {
    /// Chainer's default 2e-5 (not libtorch's 1e-5).
    pub eps: f64,
    pub decay: f64,
    pub use_gamma: bool,
    pub use_beta: bool,
}

impl Default for BatchNormalizationConfig {
    fn default() -> Self {
        Self {
            eps: 2e-5,
            decay: 0.9,
            use_gamma: true,
            use_beta: true,
        }
    }
}

#[derive(Debug)]
pub struct BatchNormalization {
    pub gamma: Option<Tensor>,
    pub beta: Option<Tensor>,
    pub avg_mean: Tensor,
    pub avg_var: Tensor,
    pub config: BatchNormalizationConfig,
}

/// Batch normalisation over axis 1 of (N, C, ...) inputs with `size` = C.
pub fn batch_normalization(
    path: &tch::nn::Path,
    size: i64,
    config: BatchNormalizationConfig,
) -> BatchNormalization {
    BatchNormalization {
        gamma: config
            .use_gamma
            .then(|| crate::init::param(path, "gamma", &[size], tch::nn::Init::Const(1.0))),
        beta: config
            .use_beta
            .then(|| crate::init::param(path, "beta", &[size], tch::nn::Init::Const(0.0))),
        avg_mean: crate::init::buffer(path, "avg_mean", &[size], tch::nn::Init::Const(0.0)),
        avg_var: crate::init::buffer(path, "avg_var", &[size], tch::nn::Init::Const(1.0)),
        config,
    }
}

impl Link for BatchNormalization {
    fn f_forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let y = Tensor::f_batch_norm(
            x,
            self.gamma.as_ref(),
            self.beta.as_ref(),
            Some(&self.avg_mean),
            Some(&self.avg_var),
            mode.is_train(),
            1.0 - self.config.decay,
            self.config.eps,
            true,
        )?;
        Ok(y)
    }
}

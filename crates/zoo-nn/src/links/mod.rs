//! Chainer's built-in links on tch, with Chainer's parameter names and
//! layouts so that `save_npz` files and Caffe blobs load without reshaping.
//!
//! Each builder takes a `&tch::nn::Path` (the link's place in the
//! `VarStore`) and registers its parameters there, initialised like
//! Chainer's defaults where that is simple (LeCun-normal weights, zero
//! biases); real weights come from [`crate::params`].

mod batch_normalization;
mod bias;
mod convolution_2d;
mod deconvolution_2d;
mod embed_id;
mod gru;
mod linear;
mod lstm;
mod peephole_lstm;
mod recurrent;
mod scale;

pub use batch_normalization::{BatchNormalization, BatchNormalizationConfig, batch_normalization};
pub use bias::{Bias, bias};
pub use convolution_2d::{Convolution2D, Convolution2DConfig, convolution_2d};
pub use deconvolution_2d::{Deconvolution2D, Deconvolution2DConfig, deconvolution_2d};
pub use embed_id::{EmbedID, embed_id};
pub use gru::{Gru, GruState, gru};
pub use linear::{Linear, LinearConfig, linear, linear_nobias, linear_with};
pub use lstm::{
    Lstm, LstmConfig, LstmState, TorchLstmParams, lstm, lstm_params_from_torch, lstm_with,
};
pub use peephole_lstm::{Peephole, PeepholeLstm, peephole_lstm};
pub use recurrent::{Recurrent, Stateful};
pub use scale::{Scale, scale};

use crate::init::Initializer;
use tch::Tensor;

/// A convolution-like link ([`Convolution2D`], [`Deconvolution2D`]): its
/// kernel `W`, its bias `b` unless `nobias`, and Chainer's keyword
/// arguments `C`.
#[derive(Debug)]
pub struct Kernel2D<C> {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub config: C,
}

/// The keyword arguments every convolution-like link has: where its
/// [`Kernel2D`] reads `nobias` and `initial_w`.
pub trait KernelConfig {
    fn convolution(&self) -> &Convolution2DConfig;
}

impl<C: KernelConfig> Kernel2D<C> {
    /// `W` of `weight_shape` drawn by the config's `initial_w` and, unless
    /// `nobias`, `b` of zeros with one entry per output channel.
    pub(crate) fn new(
        path: &tch::nn::Path,
        weight_shape: [i64; 4],
        out_channels: i64,
        config: C,
    ) -> Self {
        let conv = config.convolution();
        let weight = conv.initial_w.param(path, "W", &weight_shape);
        let bias =
            (!conv.nobias).then(|| Initializer::Constant(0.0).param(path, "b", &[out_channels]));
        Kernel2D {
            weight,
            bias,
            config,
        }
    }
}

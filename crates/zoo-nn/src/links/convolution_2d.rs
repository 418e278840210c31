//! `L.Convolution2D`: W (out, in/groups, kh, kw), b (out).

use crate::error::Result;
use crate::init::Initializer;
use crate::link::{Link, Mode};
use crate::links::Kernel2D;
use tch::Tensor;

/// Chainer's keyword arguments; `[h, w]` pairs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Convolution2DConfig {
    pub stride: [i64; 2],
    pub pad: [i64; 2],
    pub dilate: [i64; 2],
    pub groups: i64,
    pub nobias: bool,
    /// Chainer's `initialW` (the bias starts at zero).
    pub initial_w: Initializer,
}

impl Default for Convolution2DConfig {
    fn default() -> Self {
        Self {
            stride: [1, 1],
            pad: [0, 0],
            dilate: [1, 1],
            groups: 1,
            nobias: false,
            initial_w: Initializer::LeCunNormal,
        }
    }
}

pub type Convolution2D = Kernel2D<Convolution2DConfig>;

/// A convolution from `in_channels` to `out_channels` with a `ksize` = [kh, kw]
/// kernel; `in_channels` must be divisible by `config.groups`.
pub fn convolution_2d(
    path: &tch::nn::Path,
    in_channels: i64,
    out_channels: i64,
    ksize: [i64; 2],
    config: Convolution2DConfig,
) -> Convolution2D {
    let shape = [
        out_channels,
        in_channels / config.groups.max(1),
        ksize[0],
        ksize[1],
    ];
    Kernel2D::new(path, shape, out_channels, config)
}

impl super::KernelConfig for Convolution2DConfig {
    fn convolution(&self) -> &Convolution2DConfig {
        self
    }
}

impl Link for Convolution2D {
    fn f_forward(&self, x: &Tensor, _mode: Mode) -> Result<Tensor> {
        let c = &self.config;
        Ok(x.f_conv2d(
            &self.weight,
            self.bias.as_ref(),
            c.stride,
            c.pad,
            c.dilate,
            c.groups.max(1),
        )?)
    }
}

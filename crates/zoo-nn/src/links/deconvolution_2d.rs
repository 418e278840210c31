//! `L.Deconvolution2D` (transposed convolution). Chainer stores W as
//! (in, out/groups, kh, kw), which is also libtorch's layout.

use crate::error::{NnError, Result};
use crate::link::{Link, Mode};
use crate::links::{Convolution2DConfig, Kernel2D};
use tch::Tensor;

/// `W` (in, out/groups, kh, kw), `b` (out).
pub type Deconvolution2D = Kernel2D<Deconvolution2DConfig>;

/// Chainer's keyword arguments: a convolution's (`stride`, `pad`, `dilate`,
/// `groups`, `nobias`), and `outsize`, which picks one of the output sizes
/// that map back to the input size (Chainer's `outsize`), else the smallest.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Deconvolution2DConfig {
    pub conv: Convolution2DConfig,
    pub outsize: Option<[i64; 2]>,
}

/// A transposed convolution from `in_channels` to `out_channels`; `config`
/// is a [`Deconvolution2DConfig`] or, without `outsize`, a convolution's.
pub fn deconvolution_2d(
    path: &tch::nn::Path,
    in_channels: i64,
    out_channels: i64,
    ksize: [i64; 2],
    config: impl Into<Deconvolution2DConfig>,
) -> Deconvolution2D {
    let config = config.into();
    // Chainer's fan-in for a deconvolution weight is out/groups * kh * kw,
    // which is what LeCunNormal computes from this layout.
    let shape = [
        in_channels,
        out_channels / config.conv.groups.max(1),
        ksize[0],
        ksize[1],
    ];
    Kernel2D::new(path, shape, out_channels, config)
}

impl super::KernelConfig for Deconvolution2DConfig {
    fn convolution(&self) -> &Convolution2DConfig {
        &self.conv
    }
}

/// The smallest output size for a convolution's keyword arguments.
impl From<Convolution2DConfig> for Deconvolution2DConfig {
    fn from(conv: Convolution2DConfig) -> Self {
        Deconvolution2DConfig {
            conv,
            outsize: None,
        }
    }
}

/// Chainer's `get_deconv_outsize` without `cover_all`.
pub(crate) fn deconv_outsize(size: i64, k: i64, s: i64, p: i64, d: i64) -> i64 {
    s * (size - 1) + (k - 1) * d + 1 - 2 * p
}

impl Link for Deconvolution2D {
    fn f_forward(&self, x: &Tensor, _mode: Mode) -> Result<Tensor> {
        let c = &self.config.conv;
        if x.dim() != 4 {
            return Err(NnError::input(
                "Deconvolution2D",
                format!(
                    "expected a 4-d input (N, C, H, W), got shape {:?}",
                    x.size()
                ),
            ));
        }
        let wsize = self.weight.size();
        let in_size = x.size();
        let mut output_padding = [0i64; 2];
        if let Some(outsize) = self.config.outsize {
            for axis in 0..2 {
                let natural = deconv_outsize(
                    in_size[2 + axis],
                    wsize[2 + axis],
                    c.stride[axis],
                    c.pad[axis],
                    c.dilate[axis],
                );
                let extra = outsize[axis] - natural;
                if extra < 0 || extra >= c.stride[axis].max(c.dilate[axis]) {
                    return Err(NnError::input(
                        "Deconvolution2D",
                        format!(
                            "outsize {outsize:?} does not fit input {in_size:?} (axis {axis}: \
                             natural size {natural}, stride {})",
                            c.stride[axis]
                        ),
                    ));
                }
                output_padding[axis] = extra;
            }
        }
        Ok(x.f_conv_transpose2d(
            &self.weight,
            self.bias.as_ref(),
            c.stride,
            c.pad,
            output_padding,
            c.groups.max(1),
            c.dilate,
        )?)
    }
}

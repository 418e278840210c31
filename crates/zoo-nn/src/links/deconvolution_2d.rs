//! `L.Deconvolution2D` (transposed convolution). Chainer stores W as
//! (in, out/groups, kh, kw), which is also libtorch's layout.

use crate::error::{NnError, Result};
use crate::init::Initializer;
use crate::link::{Link, Mode};
use crate::links::kernel_and_bias;
use tch::Tensor;

/// Chainer's keyword arguments; `outsize` picks one of the output sizes that
/// map back to the input size (Chainer's `outsize`), else the smallest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deconvolution2DConfig {
    pub stride: [i64; 2],
    pub pad: [i64; 2],
    pub dilate: [i64; 2],
    pub groups: i64,
    pub nobias: bool,
    pub outsize: Option<[i64; 2]>,
}

impl Default for Deconvolution2DConfig {
    fn default() -> Self {
        Self {
            stride: [1, 1],
            pad: [0, 0],
            dilate: [1, 1],
            groups: 1,
            nobias: false,
            outsize: None,
        }
    }
}

#[derive(Debug)]
pub struct Deconvolution2D {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    pub config: Deconvolution2DConfig,
}

pub fn deconvolution_2d(
    path: &tch::nn::Path,
    in_channels: i64,
    out_channels: i64,
    ksize: [i64; 2],
    config: Deconvolution2DConfig,
) -> Deconvolution2D {
    let groups = config.groups.max(1);
    // Chainer's fan-in for a deconvolution weight is out/groups * kh * kw,
    // which is what LeCunNormal computes from this layout.
    let shape = [in_channels, out_channels / groups, ksize[0], ksize[1]];
    let (weight, bias) = kernel_and_bias(
        path,
        &shape,
        out_channels,
        config.nobias,
        Initializer::LeCunNormal,
    );
    Deconvolution2D {
        weight,
        bias,
        config,
    }
}

/// Chainer's `get_deconv_outsize` without `cover_all`.
pub(crate) fn deconv_outsize(size: i64, k: i64, s: i64, p: i64, d: i64) -> i64 {
    s * (size - 1) + (k - 1) * d + 1 - 2 * p
}

impl Link for Deconvolution2D {
    fn f_forward(&self, x: &Tensor, _mode: Mode) -> Result<Tensor> {
        let c = &self.config;
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
        if let Some(outsize) = c.outsize {
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

//! Fused CPU kernels for zoo's links, on plain `f32` slices.
//!
//! A recurrent link's time loop is a chain of small products and
//! element-wise steps; run as separate libtorch calls, dispatch, temporaries
//! and thread wake-ups cost more than the arithmetic. The peephole LSTM
//! kernel runs a whole sequence in one call: each thread owns a block of
//! hidden units, keeps its slices of the weights hot in its cache, and meets
//! the others at a barrier only where a step needs the full state.
//!
//! A depthwise convolution is small arithmetic behind a large fixed cost in
//! libtorch (oneDNN); `depthwise_conv` computes it straight on NHWC rows, in
//! shares of rows that the caller hands to its own threads. Pointwise and
//! small-patch convolutions (`pointwise`, `patch_conv`) are products with a
//! layer's weights, which `product` reads in place in the input-major
//! layout a model stores them in, where a general GEMM would repack them on
//! every call.
//!
//! zoo-nn calls them for CPU `f32` inference and keeps libtorch for
//! everything else (CUDA, other dtypes, autograd).

#[macro_use]
mod simd;
mod activation;
mod barrier;
pub mod depthwise_conv;
pub mod elementwise;
pub mod linear;
pub mod max_pool;
pub mod patch_conv;
pub mod peephole_lstm;
pub mod pointwise;
mod product;

pub use depthwise_conv::DepthwiseConv2d;
pub use elementwise::Activation;
pub use linear::Linear;
pub use max_pool::MaxPool2d;
pub use patch_conv::PatchConv2d;
pub use peephole_lstm::{Layout, PeepholeLstm, Peepholes, Sequence};

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{0}")]
    Shape(String),
}

pub type Result<T> = std::result::Result<T, KernelError>;

/// `Ok` when a buffer named `what` holds the `expected` number of values.
pub(crate) fn check_length(what: &'static str, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(KernelError::Length {
            what,
            expected,
            got,
        })
    }
}

/// A sliding window's geometry on the two spatial axes (height, width):
/// what a convolution or pooling kernel slides over its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Kernel height and width.
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Zero padding before the first row and column.
    pub pad_begin: [usize; 2],
    /// Zero padding after the last row and column.
    pub pad_end: [usize; 2],
}

impl Window {
    /// The output height and width over an input of `height × width`, or
    /// an error naming `what` when the padded input is smaller than the
    /// dilated kernel (or a stride is 0).
    pub fn output_size(&self, what: &str, height: usize, width: usize) -> Result<[usize; 2]> {
        let mut size = [0; 2];
        for (axis, input) in [height, width].into_iter().enumerate() {
            let padded = input + self.pad_begin[axis] + self.pad_end[axis];
            let span = self.dilation[axis] * self.kernel[axis].saturating_sub(1) + 1;
            if padded < span || self.stride[axis] == 0 {
                return Err(KernelError::Shape(format!(
                    "{what}: padded input {padded} is smaller than the kernel's span {span} (or stride 0) on spatial axis {axis}"
                )));
            }
            size[axis] = (padded - span) / self.stride[axis] + 1;
        }
        Ok(size)
    }

    /// The input index that tap `k` of output `o` reads along spatial
    /// `axis` (0 rows, 1 columns), or `None` where it falls in the zero
    /// padding around an input `len` long.
    #[inline]
    pub fn source(&self, axis: usize, o: usize, k: usize, len: usize) -> Option<usize> {
        (o * self.stride[axis] + k * self.dilation[axis])
            .checked_sub(self.pad_begin[axis])
            .filter(|&i| i < len)
    }

    /// The outputs along spatial `axis`, of `outputs`, whose every tap lies
    /// inside an input `len` long: `o·stride ≥ pad` and
    /// `o·stride + span − pad ≤ len − 1`.
    pub fn interior(&self, axis: usize, len: usize, outputs: usize) -> std::ops::Range<usize> {
        let (stride, pad) = (self.stride[axis], self.pad_begin[axis]);
        let span = self.kernel[axis].saturating_sub(1) * self.dilation[axis];
        let first = pad.div_ceil(stride);
        let end = match (len + pad).checked_sub(span + 1) {
            Some(last) => (last / stride + 1).min(outputs),
            None => 0,
        };
        first..end.max(first)
    }
}

/// Deterministic test values in [-1, 1) (an LCG), shared by the kernels'
/// tests.
#[cfg(test)]
pub(crate) fn test_values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

#[cfg(test)]
mod window_tests {
    use super::Window;

    /// `interior` is the run of outputs whose every tap `source` finds in
    /// the input, for strides, dilations, paddings and sizes around the
    /// edges (a kernel wider than the input included).
    #[test]
    fn interior_is_where_every_tap_is_inside() {
        for kernel in 1..=4 {
            for stride in 1..=3 {
                for dilation in 1..=2 {
                    for pad in 0..=3 {
                        for len in 1..=9 {
                            let window = Window {
                                kernel: [kernel, 1],
                                stride: [stride, 1],
                                dilation: [dilation, 1],
                                pad_begin: [pad, 0],
                                pad_end: [pad, 0],
                            };
                            let outputs = (len + 2 * pad).saturating_sub((kernel - 1) * dilation);
                            let outputs = outputs.div_ceil(stride);
                            let inside: Vec<usize> = (0..outputs)
                                .filter(|&o| {
                                    (0..kernel).all(|k| window.source(0, o, k, len).is_some())
                                })
                                .collect();
                            let range: Vec<usize> = window.interior(0, len, outputs).collect();
                            assert_eq!(range, inside, "{window:?} over {len}");
                        }
                    }
                }
            }
        }
    }
}

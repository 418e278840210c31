//! Parameter-free functions (Chainer's `F.*`), each returning errors rather
//! than panicking on bad shapes or arguments, since graph files and user
//! inputs drive them.

mod activation;
mod array;
mod broadcast;
mod convolution;
mod dropout;
mod eltwise;
mod linear;
mod lrn;
mod nhwc;
mod pooling;

pub(crate) use activation::activate_fresh;
pub use activation::{activate, add_then, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh};
pub use array::{SplitAt, channels_last, concat, flatten, reshape, reshape_caffe, split};
pub use broadcast::{add_along, mul_along};
pub(crate) use convolution::f32_slice;
pub use convolution::{
    Conv2d, conv2d, conv2d_then, depthwise_weight_layout, is_depthwise_kernel, own_product_layout,
    pointwise_scaled,
};
pub use dropout::dropout;
pub use eltwise::{Eltwise, eltwise, eltwise_max, eltwise_prod, eltwise_sum};
pub use linear::linear_row;
pub use lrn::{Lrn, lrn};
pub use nhwc::{MaxPool, global_average_pool, max_pool, scale_channels};
pub use pooling::{
    Pool2d, PoolRule, average_pooling_2d, global_average_pooling_2d, global_max_pooling_2d,
    max_pooling_2d, pool_outsize,
};
/// What a convolution can finish with (`conv2d_then`).
pub use zoo_kernels::Activation;

use crate::error::{NnError, Result};

/// Resolves a possibly negative `axis` of a `ndim`-d tensor.
pub(crate) fn normalize_axis(function: &str, axis: i64, ndim: usize) -> Result<i64> {
    let n = ndim as i64;
    let resolved = if axis < 0 { axis + n } else { axis };
    if resolved < 0 || resolved >= n {
        return Err(NnError::input(
            function,
            format!("axis {axis} is out of range for a {ndim}-d input"),
        ));
    }
    Ok(resolved)
}

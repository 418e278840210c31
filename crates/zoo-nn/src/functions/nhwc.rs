//! Per-pixel ops on channels-last CPU f32 tensors through zoo-kernels:
//! global average pooling and a per-channel scale (squeeze-excitation). In
//! a mobile network both run on small tensors, where a libtorch call costs
//! more in dispatch than in arithmetic (MobileNet V3 small has ten of
//! each). And max pooling with its padding implied, where libtorch's
//! way for ONNX's pads is a padded copy of the input first. Each returns `None` for what it does not take (another device,
//! dtype or layout; recorded ops), which the caller runs through libtorch.

use super::convolution::is_channels_last;
use crate::error::Result;
use crate::parallel::PARALLEL_MIN_VALUES;
use tch::{Device, Kind, Tensor};

fn cpu_f32(t: &Tensor) -> bool {
    t.device() == Device::Cpu && t.kind() == Kind::Float
}

/// A 4-d channels-last CPU f32 tensor with values, nothing recording.
fn takes(x: &Tensor) -> Result<bool> {
    Ok(x.dim() == 4
        && x.numel() > 0
        && cpu_f32(x)
        && is_channels_last(x)
        && !crate::link::ops_are_recorded(&[x])?)
}

/// The mean of each image's channels over its pixels: `[N, C, 1, 1]`.
pub fn global_average_pool(x: &Tensor) -> Result<Option<Tensor>> {
    if !takes(x)? {
        return Ok(None);
    }
    let size = x.size();
    let (n, c) = (size[0] as usize, size[1] as usize);
    let image_len = x.numel() / n;
    let y = Tensor::f_empty([size[0], size[1], 1, 1], (Kind::Float, Device::Cpu))?;
    let input = super::f32_slice(x);
    let parts = crate::parallel::parts_for(x.numel(), PARALLEL_MIN_VALUES, n);
    crate::parallel::fill_in_parts("GlobalAveragePool", &y, (n, c), parts, &|first, share| {
        for (i, means) in share.chunks_exact_mut(c).enumerate() {
            let image = &input[(first + i) * image_len..][..image_len];
            zoo_kernels::elementwise::mean_of_pixels(image, means);
        }
        Ok::<(), std::convert::Infallible>(())
    })?;
    Ok(Some(y))
}

/// `x · scales` for `x` `[N, C, H, W]` and `scales` `[N or 1, C, 1, 1]`
/// (numpy broadcasting, either operand order is the caller's).
pub fn scale_channels(x: &Tensor, scales: &Tensor) -> Result<Option<Tensor>> {
    if !takes(x)? || !cpu_f32(scales) || scales.requires_grad() {
        return Ok(None);
    }
    let (size, scale_size) = (x.size(), scales.size());
    let (n, c) = (size[0], size[1]);
    let per_image = scale_size.len() == 4
        && (scale_size[0] == n || scale_size[0] == 1)
        && scale_size[1] == c
        && scale_size[2] == 1
        && scale_size[3] == 1
        && is_channels_last(scales);
    if !per_image {
        return Ok(None);
    }
    let y = x.f_empty_like()?;
    if y.stride() != x.stride() {
        return Ok(None);
    }
    let (c, pixels) = (c as usize, (size[2] * size[3]) as usize);
    let shared_scales = scale_size[0] == 1;
    let (input, gates) = (super::f32_slice(x), super::f32_slice(scales));
    let units = x.numel() / c;
    let parts = crate::parallel::parts_for(x.numel(), PARALLEL_MIN_VALUES, units);
    crate::parallel::fill_in_parts("Mul", &y, (units, c), parts, &|first, share| {
        by_image(first, share, (c, pixels), |image, pixel, now| {
            let gate = if shared_scales { 0 } else { image };
            zoo_kernels::elementwise::scale_pixels(
                &input[pixel * c..][..now.len()],
                &gates[gate * c..][..c],
                now,
            );
            Ok::<(), std::convert::Infallible>(())
        })
    })?;
    Ok(Some(y))
}

/// Splits a share of channels-last output pixels (`first` the first one,
/// `unit_len` values each, `per_image` pixels an image) at image
/// boundaries: `body(image, pixel, values)` for each piece, in order, so
/// that each can use its own image's per-channel values.
pub(crate) fn by_image<E>(
    first: usize,
    share: &mut [f32],
    (unit_len, per_image): (usize, usize),
    mut body: impl FnMut(usize, usize, &mut [f32]) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let (mut pixel, mut rest) = (first, share);
    while !rest.is_empty() {
        let image = pixel / per_image;
        let count = ((image + 1) * per_image - pixel).min(rest.len() / unit_len);
        let (now, later) = rest.split_at_mut(count * unit_len);
        body(image, pixel, now)?;
        (pixel, rest) = (pixel + count, later);
    }
    Ok(())
}

/// Max pooling geometry: window, strides, dilations, padding before the
/// image, and the output size (the caller's rounding rule, ceil mode).
#[derive(Debug, Clone, Copy)]
pub struct MaxPool {
    pub kernel: [i64; 2],
    pub stride: [i64; 2],
    pub dilation: [i64; 2],
    pub pad_begin: [i64; 2],
    pub output: [i64; 2],
}

/// Max pooling of a channels-last `x` (`[N, C, H, W]`) into `[N, C,
/// output…]`, channels-last; windows see only in-image values.
pub fn max_pool(x: &Tensor, pool: MaxPool) -> Result<Option<Tensor>> {
    let all = [
        pool.kernel,
        pool.stride,
        pool.dilation,
        pool.pad_begin,
        pool.output,
    ];
    if !takes(x)? || all.iter().flatten().any(|&v| v < 0) {
        return Ok(None);
    }
    let size = x.size();
    let us = |v: [i64; 2]| [v[0] as usize, v[1] as usize];
    let kernel = zoo_kernels::MaxPool2d {
        channels: size[1] as usize,
        kernel: us(pool.kernel),
        stride: us(pool.stride),
        dilation: us(pool.dilation),
        pad_begin: us(pool.pad_begin),
        output: us(pool.output),
    };
    let shape = zoo_kernels::depthwise_conv::Nhwc {
        batch: size[0] as usize,
        height: size[2] as usize,
        width: size[3] as usize,
    };
    let y = Tensor::f_empty(
        [size[0], pool.output[0], pool.output[1], size[1]],
        (Kind::Float, Device::Cpu),
    )?;
    let (rows, row_len) = kernel.output_rows(shape);
    let input = super::f32_slice(x);
    let window = (pool.kernel[0] * pool.kernel[1]) as usize;
    let parts = crate::parallel::parts_for(rows * row_len * window, PARALLEL_MIN_VALUES, rows);
    crate::parallel::fill_in_parts("MaxPool", &y, (rows, row_len), parts, &|first, share| {
        kernel.forward_rows(input, shape, first, share)
    })?;
    Ok(Some(y.f_permute([0, 3, 1, 2])?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::channels_last;

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn match_libtorch_on_channels_last_inputs() {
        tch::manual_seed(6);
        let x = channels_last(&Tensor::randn([3, 24, 9, 7], (Kind::Float, Device::Cpu))).unwrap();
        let pooled = global_average_pool(&x).unwrap().unwrap();
        let want = x.mean_dim([2i64, 3].as_slice(), true, Kind::Float);
        assert!(max_diff(&pooled, &want) < 1e-6);
        // Gates shaped as a pointwise convolution leaves them.
        let gates =
            channels_last(&Tensor::rand([3, 24, 1, 1], (Kind::Float, Device::Cpu))).unwrap();
        let scaled = scale_channels(&x, &gates).unwrap().unwrap();
        assert!(max_diff(&scaled, &(&x * &gates)) < 1e-7);
        assert_eq!(scaled.stride(), x.stride());
        let shared = Tensor::rand([1, 24, 1, 1], (Kind::Float, Device::Cpu));
        let scaled = scale_channels(&x, &shared).unwrap().unwrap();
        assert!(max_diff(&scaled, &(&x * &shared)) < 1e-7);
    }

    #[test]
    fn max_pool_matches_libtorch_on_a_padded_input() {
        tch::manual_seed(7);
        let x = channels_last(&Tensor::randn([2, 16, 11, 10], (Kind::Float, Device::Cpu))).unwrap();
        let pool = MaxPool {
            kernel: [3, 3],
            stride: [2, 2],
            dilation: [1, 1],
            pad_begin: [1, 1],
            output: [6, 5],
        };
        let got = max_pool(&x, pool).unwrap().unwrap();
        let want = x.max_pool2d([3, 3], [2, 2], [1, 1], [1, 1], false);
        assert_eq!(got.size(), want.size());
        assert_eq!(max_diff(&got, &want), 0.0);
        assert!(is_channels_last(&got));
    }

    #[test]
    fn decline_other_layouts_and_shapes() {
        let nchw = Tensor::randn([2, 4, 5, 5], (Kind::Float, Device::Cpu));
        assert!(global_average_pool(&nchw).unwrap().is_none());
        let x = channels_last(&nchw).unwrap();
        let wrong = Tensor::rand([2, 4, 5, 1], (Kind::Float, Device::Cpu));
        assert!(scale_channels(&x, &wrong).unwrap().is_none());
        let doubles = Tensor::rand([2, 4, 1, 1], (Kind::Double, Device::Cpu));
        assert!(scale_channels(&x, &doubles).unwrap().is_none());
    }
}

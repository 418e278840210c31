//! 2-D max pooling on channels-last (NHWC) `f32` data, padding included:
//! only the taps inside the image count, so the caller does not copy the
//! input into a −∞-padded one first (ResNet's stem pool: 0.54 ms through
//! libtorch's pad and pool on 2 cores, most of it the copy).

use crate::depthwise_conv::Nhwc;
use crate::{KernelError, Result};

/// One max pooling: a `kernel[0]×kernel[1]` window per output pixel.
#[derive(Debug, Clone, Copy)]
pub struct MaxPool2d {
    pub channels: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    pub dilation: [usize; 2],
    /// Rows and columns of padding before the image (after it, padding is
    /// whatever the output size implies).
    pub pad_begin: [usize; 2],
    /// Output height and width, as the caller's rounding rule gives them.
    pub output: [usize; 2],
}

impl MaxPool2d {
    /// Output rows (batch × output height) and each row's length.
    pub fn output_rows(&self, shape: Nhwc) -> (usize, usize) {
        (shape.batch * self.output[0], self.output[1] * self.channels)
    }

    /// Computes output rows `first..` into `rows` (whole rows): one
    /// thread's share. A window with no tap inside the image gives −∞.
    pub fn forward_rows(
        &self,
        input: &[f32],
        shape: Nhwc,
        first: usize,
        rows: &mut [f32],
    ) -> Result<()> {
        let c = self.channels;
        let positive = c > 0
            && !self.kernel.contains(&0)
            && !self.stride.contains(&0)
            && !self.dilation.contains(&0);
        if !positive {
            return Err(KernelError::Shape(format!(
                "max pooling: channels {c}, kernel {:?}, strides {:?} and dilations {:?} must be positive",
                self.kernel, self.stride, self.dilation
            )));
        }
        let image_len = shape.height * shape.width * c;
        if input.len() != shape.batch * image_len {
            return Err(KernelError::Length {
                what: "max pooling input",
                expected: shape.batch * image_len,
                got: input.len(),
            });
        }
        let (total, row_len) = self.output_rows(shape);
        if row_len == 0
            || !rows.len().is_multiple_of(row_len)
            || first + rows.len() / row_len > total
        {
            return Err(KernelError::Shape(format!(
                "max pooling: {} values are not whole output rows {first}.. of {total} rows of {row_len}",
                rows.len()
            )));
        }
        for (index, out) in rows.chunks_exact_mut(row_len).enumerate() {
            let (n, y) = (
                (first + index) / self.output[0],
                (first + index) % self.output[0],
            );
            pool_row(self, &input[n * image_len..][..image_len], shape, y, out);
        }
        Ok(())
    }
}

/// The in-image indices `i·stride + k·dilation − pad` for `k` in
/// `0..kernel`, at output index `i`.
fn taps(i: usize, axis: usize, pool: &MaxPool2d, size: usize) -> impl Iterator<Item = usize> {
    let (stride, dilation, pad) = (pool.stride[axis], pool.dilation[axis], pool.pad_begin[axis]);
    (0..pool.kernel[axis]).filter_map(move |k| {
        let at = (i * stride + k * dilation).checked_sub(pad)?;
        (at < size).then_some(at)
    })
}

/// One output row `y` of one image.
fn pool_row(pool: &MaxPool2d, image: &[f32], shape: Nhwc, y: usize, out: &mut [f32]) {
    let c = pool.channels;
    // Per output pixel, the offsets of its in-image taps' channel 0.
    let mut offsets = Vec::with_capacity(pool.kernel[0] * pool.kernel[1]);
    #[cfg(target_arch = "x86_64")]
    let avx = std::arch::is_x86_feature_detected!("avx");
    for (x, pixel) in out.chunks_exact_mut(c).enumerate() {
        offsets.clear();
        for iy in taps(y, 0, pool, shape.height) {
            offsets.extend(taps(x, 1, pool, shape.width).map(|ix| (iy * shape.width + ix) * c));
        }
        #[cfg(target_arch = "x86_64")]
        if avx {
            // SAFETY: the feature was detected above; the offsets are of
            // in-image pixels, each followed by `c` values.
            unsafe { avx::pixel(image, &offsets, pixel) };
            continue;
        }
        for (channel, m) in pixel.iter_mut().enumerate() {
            *m = offsets
                .iter()
                .map(|&o| image[o + channel])
                .fold(f32::NEG_INFINITY, larger);
        }
    }
}

/// The larger of two values, NaN winning as in libtorch.
#[inline(always)]
fn larger(m: f32, v: f32) -> f32 {
    if v > m || v.is_nan() { v } else { m }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// One output pixel, 8 channels at a time in a register: `max` over
    /// the taps, and NaN where any tap was NaN.
    #[target_feature(enable = "avx")]
    pub(super) unsafe fn pixel(image: &[f32], offsets: &[usize], out: &mut [f32]) {
        let c = out.len();
        let mut k = 0;
        while k + 8 <= c {
            let mut acc = _mm256_set1_ps(f32::NEG_INFINITY);
            let mut nan = _mm256_setzero_ps();
            for &o in offsets {
                // SAFETY: each offset starts `c` in-image values, k + 8 ≤ c.
                let v = unsafe { _mm256_loadu_ps(image.as_ptr().add(o + k)) };
                nan = _mm256_or_ps(nan, _mm256_cmp_ps::<_CMP_UNORD_Q>(v, v));
                acc = _mm256_max_ps(v, acc);
            }
            let result = _mm256_blendv_ps(acc, _mm256_set1_ps(f32::NAN), nan);
            // SAFETY: k + 8 ≤ c = out.len().
            unsafe { _mm256_storeu_ps(out.as_mut_ptr().add(k), result) };
            k += 8;
        }
        for (channel, m) in out.iter_mut().enumerate().skip(k) {
            *m = offsets
                .iter()
                .map(|&o| image[o + channel])
                .fold(f32::NEG_INFINITY, super::larger);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_a_padded_reference() {
        let (h, w, c) = (7, 6, 5);
        let shape = Nhwc {
            batch: 2,
            height: h,
            width: w,
        };
        let input: Vec<f32> = (0..2 * h * w * c)
            .map(|i| ((i * 7919) % 101) as f32 - 50.0)
            .collect();
        for (kernel, stride, dilation, pad) in [
            ([3, 3], [2, 2], [1, 1], [1, 1]),
            ([2, 3], [1, 2], [2, 1], [0, 2]),
            ([3, 2], [3, 1], [1, 1], [2, 0]),
        ] {
            // Output sizes with one extra row and column of padding after.
            let output = [0, 1].map(|a| {
                let size = [h, w][a] + pad[a] + 1;
                (size - (kernel[a] - 1) * dilation[a] - 1) / stride[a] + 1
            });
            let pool = MaxPool2d {
                channels: c,
                kernel,
                stride,
                dilation,
                pad_begin: pad,
                output,
            };
            let (rows, row_len) = pool.output_rows(shape);
            let mut out = vec![0f32; rows * row_len];
            let split = rows / 2 * row_len;
            let (a, b) = out.split_at_mut(split);
            pool.forward_rows(&input, shape, 0, a).unwrap();
            pool.forward_rows(&input, shape, rows / 2, b).unwrap();
            for n in 0..2 {
                for oy in 0..output[0] {
                    for ox in 0..output[1] {
                        for ch in 0..c {
                            let mut want = f32::NEG_INFINITY;
                            for ky in 0..kernel[0] {
                                for kx in 0..kernel[1] {
                                    let iy =
                                        (oy * stride[0] + ky * dilation[0]) as i64 - pad[0] as i64;
                                    let ix =
                                        (ox * stride[1] + kx * dilation[1]) as i64 - pad[1] as i64;
                                    if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < w
                                    {
                                        let v = input
                                            [((n * h + iy as usize) * w + ix as usize) * c + ch];
                                        want = want.max(v);
                                    }
                                }
                            }
                            let got = out[((n * output[0] + oy) * output[1] + ox) * c + ch];
                            assert_eq!(got, want, "{kernel:?} {stride:?} at {n} {oy} {ox} {ch}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let pool = MaxPool2d {
            channels: 2,
            kernel: [2, 2],
            stride: [2, 2],
            dilation: [1, 1],
            pad_begin: [0, 0],
            output: [1, 1],
        };
        let shape = Nhwc {
            batch: 1,
            height: 2,
            width: 2,
        };
        let mut out = [0f32; 2];
        assert!(pool.forward_rows(&[0.0; 7], shape, 0, &mut out).is_err());
        assert!(pool.forward_rows(&[0.0; 8], shape, 1, &mut out).is_err());
        assert!(
            pool.forward_rows(&[0.0; 8], shape, 0, &mut [0f32; 3])
                .is_err()
        );
        let zero = MaxPool2d {
            stride: [0, 1],
            ..pool
        };
        assert!(zero.forward_rows(&[0.0; 8], shape, 0, &mut out).is_err());
        pool.forward_rows(
            &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            shape,
            0,
            &mut out,
        )
        .unwrap();
        assert_eq!(out, [7.0, 8.0]);
    }
}

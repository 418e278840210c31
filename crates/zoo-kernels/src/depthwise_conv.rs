//! Depthwise 2-D convolution (one filter per channel) on channels-last
//! (NHWC) `f32` data.
//!
//! MobileNet, EfficientNet and ShuffleNet are built of these. Their
//! arithmetic is tiny (MobileNet V3's last one is 0.7 M multiply-adds), but
//! libtorch's oneDNN path builds a primitive descriptor and reorders the
//! weights on every call: 50–70 µs on this project's 2-core machine whatever
//! the size, several times the arithmetic. This kernel runs straight over the
//! NHWC rows: for each output pixel and each kernel tap it adds one
//! channel vector times the tap's weights, vectorised across channels.

use crate::elementwise::Activation;
use crate::simd::Simd;
use crate::{KernelError, Result, Window, check_length};

/// One depthwise convolution: `channels` inputs, one `kernel[0]×kernel[1]`
/// filter each, channel multiplier 1.
#[derive(Debug, Clone, Copy)]
pub struct DepthwiseConv2d<'a> {
    pub channels: usize,
    /// Kernel size, strides, dilations and zero padding.
    pub window: Window,
    /// Filters in tap-major order `[kh][kw][channel]`, so that one tap's
    /// weights for all channels are contiguous.
    pub weight: &'a [f32],
    /// One value per channel, or none.
    pub bias: Option<&'a [f32]>,
    /// Applied to each output row while it is in cache.
    pub activation: Activation,
}

/// An NHWC input's dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nhwc {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
}

impl DepthwiseConv2d<'_> {
    /// The output's height and width for an input of `height × width`, or an
    /// error when the padded input is smaller than the dilated kernel.
    pub fn output_size(&self, height: usize, width: usize) -> Result<[usize; 2]> {
        self.window
            .output_size("depthwise convolution", height, width)
    }

    fn validate(&self, input: &[f32], shape: Nhwc) -> Result<[usize; 2]> {
        let c = self.channels;
        if c == 0
            || shape.height == 0
            || shape.width == 0
            || self.window.kernel.contains(&0)
            || self.window.dilation.contains(&0)
        {
            return Err(KernelError::Shape(format!(
                "depthwise convolution: channels {c}, input {}×{}, kernel {:?} and dilation {:?} must be positive",
                shape.height, shape.width, self.window.kernel, self.window.dilation
            )));
        }
        check_length(
            "depthwise weight",
            self.window.kernel[0] * self.window.kernel[1] * c,
            self.weight.len(),
        )?;
        if let Some(bias) = self.bias {
            check_length("depthwise bias", c, bias.len())?;
        }
        check_length(
            "depthwise input",
            shape.batch * shape.height * shape.width * c,
            input.len(),
        )?;
        self.output_size(shape.height, shape.width)
    }

    /// Convolves `input` (NHWC, `shape`) into `output` (NHWC, the size from
    /// [`Self::output_size`]) on the calling thread.
    pub fn forward(&self, input: &[f32], shape: Nhwc, output: &mut [f32]) -> Result<()> {
        self.forward_rows(input, shape, 0, output)
    }

    /// Output rows (counted over batch × output height) and each row's
    /// length: the units that callers with a thread pool hand out.
    pub fn output_rows(&self, shape: Nhwc) -> Result<(usize, usize)> {
        let [oh, ow] = self.output_size(shape.height, shape.width)?;
        Ok((shape.batch * oh, ow * self.channels))
    }

    /// Computes output rows `first..first + n` into `rows` (`n` rows of
    /// [`Self::output_rows`]' length): one thread's share of the output.
    pub fn forward_rows(
        &self,
        input: &[f32],
        shape: Nhwc,
        first: usize,
        rows: &mut [f32],
    ) -> Result<()> {
        let [oh, ow] = self.validate(input, shape)?;
        let row_len = ow * self.channels;
        let total = shape.batch * oh;
        if row_len == 0
            || !rows.len().is_multiple_of(row_len)
            || first + rows.len() / row_len > total
        {
            return Err(KernelError::Shape(format!(
                "depthwise convolution: {} values are not whole output rows {first}.. of {total} rows of {row_len}",
                rows.len()
            )));
        }
        let image_len = shape.height * shape.width * self.channels;
        for (index, out_row) in rows.chunks_exact_mut(row_len).enumerate() {
            let (n, y) = ((first + index) / oh, (first + index) % oh);
            self.row(&input[n * image_len..][..image_len], shape, y, out_row);
            self.activation.apply(out_row);
        }
        Ok(())
    }

    /// One output row `y` of one image (`image`: H × W × C).
    fn row(&self, image: &[f32], shape: Nhwc, y: usize, out: &mut [f32]) {
        let [kh, kw] = self.window.kernel;
        // Kernel rows whose input row lies inside the image.
        let rows: Vec<(usize, usize)> = (0..kh)
            .filter_map(|ky| Some((ky, self.window.source(0, y, ky, shape.height)?)))
            .collect();
        let row = Row {
            conv: self,
            image,
            width: shape.width,
            rows: &rows,
            kernel_width: kw,
        };
        match crate::simd::best() {
            // SAFETY: `best` detected the features; `validate` checked the
            // buffer lengths that the taps index into.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe { avx512::row(&row, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { avx2::row(&row, out) },
            _ => row.portable(out, 0..self.channels),
        }
    }
}

/// One output row's inputs: the kernel rows that fall inside the image.
struct Row<'a> {
    conv: &'a DepthwiseConv2d<'a>,
    image: &'a [f32],
    width: usize,
    /// (kernel row, input row) pairs.
    rows: &'a [(usize, usize)],
    kernel_width: usize,
}

impl Row<'_> {
    /// For output column `x`, each in-image tap as (input offset, weight
    /// offset) of its channel 0.
    #[inline(always)]
    fn taps(&self, x: usize, mut f: impl FnMut(usize, usize)) {
        let c = self.conv.channels;
        let (sx, dx, px) = (
            self.conv.window.stride[1],
            self.conv.window.dilation[1],
            self.conv.window.pad_begin[1],
        );
        // Kernel columns whose input column x·sx + kx·dx − px is in [0, W).
        let kx0 = px.saturating_sub(x * sx).div_ceil(dx);
        let kx1 = (self.width + px)
            .saturating_sub(x * sx)
            .div_ceil(dx)
            .min(self.kernel_width);
        for &(ky, iy) in self.rows {
            for kx in kx0..kx1 {
                let ix = x * sx + kx * dx - px;
                f(
                    (iy * self.width + ix) * c,
                    (ky * self.kernel_width + kx) * c,
                );
            }
        }
    }

    /// Output columns whose every kernel column lies inside the image.
    fn interior(&self, out_width: usize) -> std::ops::Range<usize> {
        self.conv.window.interior(1, self.width, out_width)
    }

    /// Plain code (vectorised by the compiler) for `channels` of the row: all
    /// of them on CPUs without AVX2, the last few (under 8) on CPUs with it.
    fn portable(&self, out: &mut [f32], channels: std::ops::Range<usize>) {
        let c = self.conv.channels;
        let (from, n) = (channels.start, channels.len());
        for (x, pixel) in out.chunks_exact_mut(c).enumerate() {
            let pixel = &mut pixel[channels.clone()];
            match self.conv.bias {
                Some(b) => pixel.copy_from_slice(&b[channels.clone()]),
                None => pixel.fill(0.0),
            }
            self.taps(x, |xi, wi| {
                let xs = &self.image[xi + from..xi + from + n];
                let ws = &self.conv.weight[wi + from..wi + from + n];
                for ((p, &x), &w) in pixel.iter_mut().zip(xs).zip(ws) {
                    *p += x * w;
                }
            });
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::Row;
    use std::arch::x86_64::*;

    /// Channel blocks outermost, so that a block's weights stay in L1
    /// across the row: blocks of 64 channels, then of 16 (the last one
    /// masked). Columns whose taps all lie inside the image go `P` at a
    /// time, so that `P × B` independent sums hide the FMA latency and each
    /// weight vector loaded serves `P` pixels; border columns go one by one.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn row(row: &Row, out: &mut [f32]) {
        let c = row.conv.channels;
        let width = out.len() / c;
        let interior = row.interior(width);
        let mut from = 0;
        while from + 64 <= c {
            unsafe { block::<4, 2>(row, out, from, 0xffff, &interior) };
            from += 64;
        }
        while from < c {
            let mask = if c - from >= 16 {
                0xffff
            } else {
                ((1u32 << (c - from)) - 1) as u16
            };
            unsafe { block::<1, 8>(row, out, from, mask, &interior) };
            from += 16;
        }
    }

    /// Channels `from..from + 16·B` (the last vector masked by `mask`) of
    /// the whole output row.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn block<const B: usize, const P: usize>(
        row: &Row,
        out: &mut [f32],
        from: usize,
        mask: u16,
        interior: &std::ops::Range<usize>,
    ) {
        let c = row.conv.channels;
        let width = out.len() / c;
        let (image, weight) = (row.image.as_ptr(), row.conv.weight.as_ptr());
        let out = out.as_mut_ptr();
        // The last vector of the block carries the mask.
        let lane_mask = |i: usize| if i + 1 == B { mask } else { 0xffff };
        // SAFETY (every load and store below): `validate` checked that the
        // image holds H·W·C values, the weight KH·KW·C, the bias C and the
        // output row W'·C; taps are in-image only, and channel offsets stay
        // below C (masked lanes are neither read nor written).
        let bias: [__m512; B] = std::array::from_fn(|i| match row.conv.bias {
            Some(b) => unsafe {
                _mm512_maskz_loadu_ps(lane_mask(i), b.as_ptr().add(from + 16 * i))
            },
            None => _mm512_setzero_ps(),
        });
        let store = |x: usize, acc: &[__m512; B]| {
            for (i, a) in acc.iter().enumerate() {
                unsafe { _mm512_mask_storeu_ps(out.add(x * c + from + 16 * i), lane_mask(i), *a) };
            }
        };
        let one = |x: usize| {
            let mut acc = bias;
            row.taps(x, |xi, wi| {
                for (i, a) in acc.iter_mut().enumerate() {
                    let k = from + 16 * i;
                    unsafe {
                        *a = _mm512_fmadd_ps(
                            _mm512_maskz_loadu_ps(lane_mask(i), image.add(xi + k)),
                            _mm512_maskz_loadu_ps(lane_mask(i), weight.add(wi + k)),
                            *a,
                        );
                    }
                }
            });
            store(x, &acc);
        };
        let mut x = 0;
        while x < width {
            if interior.contains(&x) && x + P <= interior.end {
                // P whole-kernel columns: input column of pixel p, tap kx
                // is (x + p)·sx + kx·dx − px.
                let mut acc = [bias; P];
                let step = row.conv.window.stride[1] * c;
                row.taps(x, |xi, wi| {
                    for i in 0..B {
                        let k = from + 16 * i;
                        let w = unsafe { _mm512_maskz_loadu_ps(lane_mask(i), weight.add(wi + k)) };
                        for (p, acc) in acc.iter_mut().enumerate() {
                            unsafe {
                                acc[i] = _mm512_fmadd_ps(
                                    _mm512_maskz_loadu_ps(
                                        lane_mask(i),
                                        image.add(xi + p * step + k),
                                    ),
                                    w,
                                    acc[i],
                                );
                            }
                        }
                    }
                });
                for (p, acc) in acc.iter().enumerate() {
                    store(x + p, acc);
                }
                x += P;
            } else {
                one(x);
                x += 1;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::Row;
    use std::arch::x86_64::*;

    /// As `avx512::row` with 8 lanes: blocks of 32 channels two columns at
    /// a time, then of 8 channels four at a time; the last channels (under
    /// 8) through the portable code.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn row(row: &Row, out: &mut [f32]) {
        let c = row.conv.channels;
        let width = out.len() / c;
        let interior = row.interior(width);
        let mut from = 0;
        while from + 32 <= c {
            unsafe { block::<4, 2>(row, out, from, &interior) };
            from += 32;
        }
        while from + 8 <= c {
            unsafe { block::<1, 4>(row, out, from, &interior) };
            from += 8;
        }
        if from < c {
            row.portable(out, from..c);
        }
    }

    /// Channels `from..from + 8·B` of the whole output row.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn block<const B: usize, const P: usize>(
        row: &Row,
        out: &mut [f32],
        from: usize,
        interior: &std::ops::Range<usize>,
    ) {
        let c = row.conv.channels;
        let width = out.len() / c;
        let (image, weight) = (row.image.as_ptr(), row.conv.weight.as_ptr());
        let out = out.as_mut_ptr();
        // SAFETY (every load and store below): `validate` checked that the
        // image holds H·W·C values, the weight KH·KW·C, the bias C and the
        // output row W'·C; taps are in-image only, and the block's channels
        // `from + 8·B` do not exceed C.
        let bias: [__m256; B] = std::array::from_fn(|i| match row.conv.bias {
            Some(b) => unsafe { _mm256_loadu_ps(b.as_ptr().add(from + 8 * i)) },
            None => _mm256_setzero_ps(),
        });
        let store = |x: usize, acc: &[__m256; B]| {
            for (i, a) in acc.iter().enumerate() {
                unsafe { _mm256_storeu_ps(out.add(x * c + from + 8 * i), *a) };
            }
        };
        let one = |x: usize| {
            let mut acc = bias;
            row.taps(x, |xi, wi| {
                for (i, a) in acc.iter_mut().enumerate() {
                    let k = from + 8 * i;
                    unsafe {
                        *a = _mm256_fmadd_ps(
                            _mm256_loadu_ps(image.add(xi + k)),
                            _mm256_loadu_ps(weight.add(wi + k)),
                            *a,
                        );
                    }
                }
            });
            store(x, &acc);
        };
        let mut x = 0;
        while x < width {
            if interior.contains(&x) && x + P <= interior.end {
                let mut acc = [bias; P];
                let step = row.conv.window.stride[1] * c;
                row.taps(x, |xi, wi| {
                    for i in 0..B {
                        let k = from + 8 * i;
                        let w = unsafe { _mm256_loadu_ps(weight.add(wi + k)) };
                        for (p, acc) in acc.iter_mut().enumerate() {
                            unsafe {
                                acc[i] = _mm256_fmadd_ps(
                                    _mm256_loadu_ps(image.add(xi + p * step + k)),
                                    w,
                                    acc[i],
                                );
                            }
                        }
                    }
                });
                for (p, acc) in acc.iter().enumerate() {
                    store(x + p, acc);
                }
                x += P;
            } else {
                one(x);
                x += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::WIDEST;

    /// Straightforward NCHW reference in f64.
    #[allow(clippy::too_many_arguments)]
    fn reference(
        conv: &DepthwiseConv2d,
        input_nchw: &[f32],
        shape: Nhwc,
        weight_ckk: &[f32],
    ) -> Vec<f64> {
        let c = conv.channels;
        let [oh, ow] = conv.output_size(shape.height, shape.width).unwrap();
        let [kh, kw] = conv.window.kernel;
        let mut out = vec![0f64; shape.batch * c * oh * ow];
        for n in 0..shape.batch {
            for ch in 0..c {
                for y in 0..oh {
                    for x in 0..ow {
                        let mut acc = conv.bias.map_or(0.0, |b| b[ch] as f64);
                        for ky in 0..kh {
                            for kx in 0..kw {
                                let iy = (y * conv.window.stride[0] + ky * conv.window.dilation[0])
                                    as i64
                                    - conv.window.pad_begin[0] as i64;
                                let ix = (x * conv.window.stride[1] + kx * conv.window.dilation[1])
                                    as i64
                                    - conv.window.pad_begin[1] as i64;
                                if iy < 0
                                    || ix < 0
                                    || iy >= shape.height as i64
                                    || ix >= shape.width as i64
                                {
                                    continue;
                                }
                                let xi = ((n * c + ch) * shape.height + iy as usize) * shape.width
                                    + ix as usize;
                                acc += input_nchw[xi] as f64
                                    * weight_ckk[(ch * kh + ky) * kw + kx] as f64;
                            }
                        }
                        out[((n * c + ch) * oh + y) * ow + x] = acc;
                    }
                }
            }
        }
        out
    }

    use crate::test_values as values;

    struct Case {
        channels: usize,
        size: [usize; 2],
        window: Window,
        batch: usize,
        bias: bool,
        activation: Activation,
    }

    /// Runs `case` with the output computed in `parts` shares of rows, as a
    /// caller's thread pool would, and compares with the reference.
    fn check(case: Case, parts: usize) {
        let c = case.channels;
        let shape = Nhwc {
            batch: case.batch,
            height: case.size[0],
            width: case.size[1],
        };
        let input_nchw = values(case.batch * c * case.size[0] * case.size[1], 1);
        let weight_ckk = values(c * case.window.kernel[0] * case.window.kernel[1], 2);
        let bias = values(c, 3);
        // NCHW → NHWC, [c][kh][kw] → [kh][kw][c].
        let (h, w) = (case.size[0], case.size[1]);
        let mut input = vec![0f32; input_nchw.len()];
        for n in 0..case.batch {
            for ch in 0..c {
                for y in 0..h {
                    for x in 0..w {
                        input[((n * h + y) * w + x) * c + ch] =
                            input_nchw[((n * c + ch) * h + y) * w + x];
                    }
                }
            }
        }
        let taps = case.window.kernel[0] * case.window.kernel[1];
        let mut weight = vec![0f32; weight_ckk.len()];
        for ch in 0..c {
            for t in 0..taps {
                weight[t * c + ch] = weight_ckk[ch * taps + t];
            }
        }
        let conv = DepthwiseConv2d {
            channels: c,
            window: case.window,
            weight: &weight,
            bias: case.bias.then_some(bias.as_slice()),
            activation: case.activation,
        };
        let [oh, ow] = conv.output_size(h, w).unwrap();
        let mut out = vec![f32::NAN; case.batch * oh * ow * c];
        let (rows, row_len) = conv.output_rows(shape).unwrap();
        let mut rest = out.as_mut_slice();
        let mut first = 0;
        for part in 0..parts {
            let end = (part + 1) * rows / parts;
            let (mine, after) = rest.split_at_mut((end - first) * row_len);
            conv.forward_rows(&input, shape, first, mine).unwrap();
            (rest, first) = (after, end);
        }
        assert!(rest.is_empty());
        let conv_ref = DepthwiseConv2d {
            weight: &weight_ckk,
            ..conv
        };
        let expected = reference(&conv_ref, &input_nchw, shape, &weight_ckk);
        for n in 0..case.batch {
            for ch in 0..c {
                for y in 0..oh {
                    for x in 0..ow {
                        let got = out[((n * oh + y) * ow + x) * c + ch] as f64;
                        let linear = expected[((n * c + ch) * oh + y) * ow + x];
                        let want = case.activation.at(linear as f32) as f64;
                        assert!(
                            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "n {n} c {ch} y {y} x {x}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn matches_the_reference_for_strides_pads_and_dilations() {
        for stride in [[1, 1], [2, 2], [1, 3]] {
            for dilation in [[1, 1], [2, 1]] {
                for (pad_begin, pad_end) in [([0, 0], [0, 0]), ([1, 2], [1, 2]), ([0, 1], [2, 0])] {
                    for channels in [1, 7, 16, 37, 64, 70, 130] {
                        check(
                            Case {
                                channels,
                                size: [9, 8],
                                window: Window {
                                    kernel: [3, 2],
                                    stride,
                                    dilation,
                                    pad_begin,
                                    pad_end,
                                },
                                batch: 2,
                                bias: channels % 2 == 1,
                                activation: [
                                    Activation::Identity,
                                    Activation::Relu,
                                    Activation::HARD_SWISH,
                                ][channels % 3],
                            },
                            1,
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn the_portable_code_matches_the_reference() {
        WIDEST.with(|w| w.set(Simd::Portable));
        for (pad_begin, pad_end) in [([0, 0], [0, 0]), ([1, 2], [1, 2]), ([0, 1], [2, 0])] {
            for channels in [1, 16, 70] {
                check(
                    Case {
                        channels,
                        size: [9, 8],
                        window: Window {
                            kernel: [3, 3],
                            stride: [2, 1],
                            dilation: [1, 2],
                            pad_begin,
                            pad_end,
                        },
                        batch: 2,
                        bias: channels != 16,
                        activation: Activation::LeakyRelu { slope: 0.1 },
                    },
                    2,
                );
            }
        }
        WIDEST.with(|w| w.set(Simd::Avx512));
    }

    /// On a CPU with AVX-512, the AVX2 code would otherwise go untested.
    #[test]
    fn the_avx2_code_matches_the_reference() {
        WIDEST.with(|w| w.set(Simd::Avx2));
        for (pad_begin, pad_end) in [([0, 0], [0, 0]), ([1, 2], [1, 2]), ([0, 1], [2, 0])] {
            for channels in [3, 8, 37, 64, 70] {
                check(
                    Case {
                        channels,
                        size: [9, 8],
                        window: Window {
                            kernel: [3, 3],
                            stride: [1, 2],
                            dilation: [1, 1],
                            pad_begin,
                            pad_end,
                        },
                        batch: 2,
                        bias: channels != 8,
                        activation: Activation::HARD_SWISH,
                    },
                    2,
                );
            }
        }
        WIDEST.with(|w| w.set(Simd::Avx512));
    }

    #[test]
    fn shares_of_rows_give_the_same_results() {
        for parts in [2, 3, 8] {
            check(
                Case {
                    channels: 32,
                    size: [40, 40],
                    window: Window {
                        kernel: [5, 5],
                        stride: [1, 1],
                        dilation: [1, 1],
                        pad_begin: [2, 2],
                        pad_end: [2, 2],
                    },
                    batch: 3,
                    bias: true,
                    activation: Activation::Clip {
                        min: -0.5,
                        max: 0.5,
                    },
                },
                parts,
            );
        }
    }

    fn unpadded(weight: &[f32], channels: usize, kernel: [usize; 2]) -> DepthwiseConv2d<'_> {
        DepthwiseConv2d {
            channels,
            window: Window {
                kernel,
                stride: [1, 1],
                dilation: [1, 1],
                pad_begin: [0, 0],
                pad_end: [0, 0],
            },
            weight,
            bias: None,
            activation: Activation::Identity,
        }
    }

    fn one_image(height: usize, width: usize) -> Nhwc {
        Nhwc {
            batch: 1,
            height,
            width,
        }
    }

    #[test]
    fn a_kernel_larger_than_the_padded_input_is_an_error() {
        let weight = [0f32; 9];
        let conv = unpadded(&weight, 1, [3, 3]);
        assert!(conv.output_size(2, 5).is_err());
        let mut out = [0f32; 4];
        let shape = one_image(2, 2);
        assert!(conv.forward(&[0.0; 4], shape, &mut out).is_err());
    }

    #[test]
    fn wrong_buffer_lengths_are_errors() {
        let weight = [0f32; 4];
        let conv = unpadded(&weight, 2, [1, 1]);
        let shape = one_image(2, 2);
        let mut out = [0f32; 8];
        let err = conv.forward(&[0.0; 8], shape, &mut out).unwrap_err();
        assert!(err.to_string().contains("depthwise weight"), "{err}");
        let conv = DepthwiseConv2d {
            weight: &weight[..2],
            ..conv
        };
        // Output shares that are not whole rows, or run past the end.
        let err = conv.forward(&[0.0; 8], shape, &mut out[..3]).unwrap_err();
        assert!(err.to_string().contains("whole output rows"), "{err}");
        let err = conv
            .forward_rows(&[0.0; 8], shape, 1, &mut out)
            .unwrap_err();
        assert!(err.to_string().contains("whole output rows"), "{err}");
    }
}

//! A convolution with few input values per output: an image network's
//! first layer (3 colour channels × 3×3 taps = 27). Per tile of six output
//! pixels the kernel gathers their input patches into a small buffer and
//! multiplies it by the weights laid out input-major (see `product`); the
//! output is channels-last. The input may lie in any layout (a graph's
//! caller hands NCHW images), given by its strides.
//!
//! libtorch's oneDNN path for such a layer reorders the NCHW input, builds a
//! primitive and answers in NCHW for the executor to convert: 0.33 ms for
//! MobileNet V3's 3→16 stride-2 stem at 224×224 on this project's 2-core
//! machine, against 5.4 M multiply-adds.

use crate::elementwise::Activation;
use crate::product::{Patches, Product};
use crate::{KernelError, Result, Window, check_length};

/// One convolution of one group.
#[derive(Debug, Clone, Copy)]
pub struct PatchConv2d<'a> {
    pub inputs: usize,
    pub outputs: usize,
    /// Kernel size, strides, dilations and zero padding.
    pub window: Window,
    /// `[kh][kw][inputs][outputs]`: one patch value's weights for all
    /// outputs are contiguous.
    pub weight: &'a [f32],
    pub bias: Option<&'a [f32]>,
    /// Applied to each block of output pixels while it is in cache.
    pub activation: Activation,
}

/// Where a batch of images' values lie: sizes, and strides in values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Strided {
    pub batch: usize,
    pub height: usize,
    pub width: usize,
    /// Strides of the batch, channel, row and column axes.
    pub strides: [usize; 4],
}

/// Output pixels per gathered tile (the product's tile height).
const TILE: usize = 6;

impl PatchConv2d<'_> {
    /// Values per patch: the product's inner dimension.
    pub fn patch_len(&self) -> usize {
        self.window.kernel[0] * self.window.kernel[1] * self.inputs
    }

    /// The output's height and width for an input of `height × width`, or an
    /// error when the padded input is smaller than the dilated kernel.
    pub fn output_size(&self, height: usize, width: usize) -> Result<[usize; 2]> {
        self.window.output_size("convolution", height, width)
    }

    /// Output rows (counted over batch × output height) and each row's
    /// length: the units that callers with a thread pool hand out.
    pub fn output_rows(&self, shape: Strided) -> Result<(usize, usize)> {
        let [oh, ow] = self.output_size(shape.height, shape.width)?;
        Ok((shape.batch * oh, ow * self.outputs))
    }

    fn validate(&self, input: &[f32], shape: Strided) -> Result<[usize; 2]> {
        let dims = [shape.batch, self.inputs, shape.height, shape.width];
        if self.inputs == 0
            || self.outputs == 0
            || dims.contains(&0)
            || self.window.kernel.contains(&0)
            || self.window.dilation.contains(&0)
        {
            return Err(KernelError::Shape(format!(
                "convolution: inputs {}, outputs {}, input {}×{}×{}, kernel {:?} and dilation {:?} must be positive",
                self.inputs,
                self.outputs,
                shape.batch,
                shape.height,
                shape.width,
                self.window.kernel,
                self.window.dilation
            )));
        }
        check_length(
            "convolution weight",
            self.patch_len() * self.outputs,
            self.weight.len(),
        )?;
        if let Some(bias) = self.bias {
            check_length("convolution bias", self.outputs, bias.len())?;
        }
        // The last value the strides reach must lie inside `input`.
        let last: usize = dims
            .iter()
            .zip(shape.strides)
            .map(|(&size, stride)| (size - 1) * stride)
            .sum();
        if last >= input.len() {
            return Err(KernelError::Shape(format!(
                "convolution: an input of {dims:?} with strides {:?} does not fit in {} values",
                shape.strides,
                input.len()
            )));
        }
        self.output_size(shape.height, shape.width)
    }

    /// Computes output rows `first..first + n` into `rows` (`n` rows of
    /// [`Self::output_rows`]' length, NHWC): one thread's share.
    pub fn forward_rows(
        &self,
        input: &[f32],
        shape: Strided,
        first: usize,
        rows: &mut [f32],
    ) -> Result<()> {
        let [oh, ow] = self.validate(input, shape)?;
        let row_len = ow * self.outputs;
        if !rows.len().is_multiple_of(row_len) || first + rows.len() / row_len > shape.batch * oh {
            return Err(KernelError::Shape(format!(
                "convolution: {} values are not whole output rows {first}.. of {} rows of {row_len}",
                rows.len(),
                shape.batch * oh
            )));
        }
        let product = Product {
            k: self.patch_len(),
            n: self.outputs,
            b: self.weight,
            bias: self.bias,
            activation: self.activation,
        };
        let [_, sc, sy, sx] = shape.strides;
        let [kh, kw] = self.window.kernel;
        // Each patch value's place relative to its pixel's first tap.
        let offsets: Vec<usize> = (0..kh)
            .flat_map(|ky| (0..kw).map(move |kx| (ky, kx)))
            .flat_map(|(ky, kx)| {
                let tap = ky * self.window.dilation[0] * sy + kx * self.window.dilation[1] * sx;
                (0..self.inputs).map(move |channel| tap + channel * sc)
            })
            .collect();
        let inside_rows = self.window.interior(0, shape.height, oh);
        let inside_columns = self.window.interior(1, shape.width, ow);
        let n = self.outputs;
        let mut patches = vec![0f32; TILE * product.k];
        for (index, out_row) in rows.chunks_exact_mut(row_len).enumerate() {
            let (image, y) = ((first + index) / oh, (first + index) % oh);
            let inside = if inside_rows.contains(&y) {
                inside_columns.clone()
            } else {
                0..0
            };
            // Pixels whose taps all lie in the image read their patches in
            // place; the others (next to the padding) are gathered.
            let mut x = 0;
            while x < ow {
                if inside.contains(&x) {
                    let iy = y * self.window.stride[0] - self.window.pad_begin[0];
                    let ix = x * self.window.stride[1] - self.window.pad_begin[1];
                    let start = image * shape.strides[0] + iy * sy + ix * sx;
                    let layout = Patches {
                        step: self.window.stride[1] * sx,
                        offsets: &offsets,
                    };
                    let out = &mut out_row[x * n..inside.end * n];
                    // SAFETY: every tap of pixels `x..inside.end` of row `y`
                    // lies in the image (`inside`), whose values `validate`
                    // found in `input`.
                    unsafe { product.patches(input.as_ptr().add(start), layout, out) };
                    x = inside.end;
                    continue;
                }
                let end = if x < inside.start { inside.start } else { ow };
                let count = (end - x).min(TILE);
                let patches = &mut patches[..count * product.k];
                for (p, patch) in patches.chunks_exact_mut(product.k).enumerate() {
                    self.gather(input, shape, image, [y, x + p], patch);
                }
                product.rows(patches, &mut out_row[x * n..(x + count) * n]);
                x += count;
            }
        }
        Ok(())
    }

    /// The input patch of output pixel `at` of `image`, `(ky, kx, channel)`
    /// order, zero where it overlaps the padding.
    fn gather(
        &self,
        input: &[f32],
        shape: Strided,
        image: usize,
        at: [usize; 2],
        patch: &mut [f32],
    ) {
        let [kh, kw] = self.window.kernel;
        let [sn, sc, sy, sx] = shape.strides;
        let c = self.inputs;
        let base = image * sn;
        for ky in 0..kh {
            let iy = self.window.source(0, at[0], ky, shape.height);
            for kx in 0..kw {
                let taps = &mut patch[(ky * kw + kx) * c..][..c];
                let ix = self.window.source(1, at[1], kx, shape.width);
                match (iy, ix) {
                    (Some(iy), Some(ix)) => {
                        let pixel = base + iy * sy + ix * sx;
                        if sc == 1 {
                            taps.copy_from_slice(&input[pixel..pixel + c]);
                        } else {
                            for (channel, tap) in taps.iter_mut().enumerate() {
                                *tap = input[pixel + channel * sc];
                            }
                        }
                    }
                    _ => taps.fill(0.0),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_values as values;

    /// The convolution by its definition, in f64, NCHW in and NHWC out.
    fn reference(conv: &PatchConv2d, x: &[f32], [n, h, w]: [usize; 3]) -> Vec<f64> {
        let [oh, ow] = conv.output_size(h, w).unwrap();
        let (c, o) = (conv.inputs, conv.outputs);
        let mut out = vec![0f64; n * oh * ow * o];
        for b in 0..n {
            for y in 0..oh {
                for xo in 0..ow {
                    for oc in 0..o {
                        let mut sum = conv.bias.map_or(0.0, |b| b[oc] as f64);
                        for ky in 0..conv.window.kernel[0] {
                            for kx in 0..conv.window.kernel[1] {
                                let iy = (y * conv.window.stride[0] + ky * conv.window.dilation[0])
                                    as i64
                                    - conv.window.pad_begin[0] as i64;
                                let ix = (xo * conv.window.stride[1] + kx * conv.window.dilation[1])
                                    as i64
                                    - conv.window.pad_begin[1] as i64;
                                if iy < 0 || ix < 0 || iy >= h as i64 || ix >= w as i64 {
                                    continue;
                                }
                                for ic in 0..c {
                                    let v = x[((b * c + ic) * h + iy as usize) * w + ix as usize];
                                    let wt = conv.weight
                                        [((ky * conv.window.kernel[1] + kx) * c + ic) * o + oc];
                                    sum += v as f64 * wt as f64;
                                }
                            }
                        }
                        out[((b * oh + y) * ow + xo) * o + oc] = sum;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn matches_the_definition_in_both_layouts() {
        let (n, c, h, w, o) = (2, 3, 11, 9, 20);
        let x = values(n * c * h * w, 1);
        // The same values channels-last.
        let mut nhwc = vec![0f32; x.len()];
        for b in 0..n {
            for ic in 0..c {
                for y in 0..h {
                    for xi in 0..w {
                        nhwc[((b * h + y) * w + xi) * c + ic] = x[((b * c + ic) * h + y) * w + xi];
                    }
                }
            }
        }
        for (kernel, stride, pad_begin, pad_end, dilation) in [
            ([3, 3], [2, 2], [1, 1], [1, 1], [1, 1]),
            ([7, 5], [1, 2], [3, 0], [2, 2], [1, 1]),
            ([3, 2], [1, 1], [0, 1], [0, 0], [2, 3]),
            // No pixel clear of the padding.
            ([9, 9], [3, 3], [4, 4], [4, 4], [1, 1]),
            ([1, 1], [2, 2], [0, 0], [0, 0], [1, 1]),
        ] {
            let weight = values(kernel[0] * kernel[1] * c * o, 2);
            let bias = values(o, 3);
            let conv = PatchConv2d {
                inputs: c,
                outputs: o,
                window: Window {
                    kernel,
                    stride,
                    dilation,
                    pad_begin,
                    pad_end,
                },
                weight: &weight,
                bias: Some(&bias),
                activation: Activation::Identity,
            };
            let expected = reference(&conv, &x, [n, h, w]);
            let layouts = [
                (&x, [c * h * w, h * w, w, 1]),
                (&nhwc, [h * w * c, 1, w * c, c]),
            ];
            for (input, strides) in layouts {
                let shape = Strided {
                    batch: n,
                    height: h,
                    width: w,
                    strides,
                };
                let (rows, row_len) = conv.output_rows(shape).unwrap();
                let mut out = vec![f32::NAN; rows * row_len];
                // Two shares, as two threads would compute them.
                let (head, tail) = out.split_at_mut(row_len * (rows / 2));
                conv.forward_rows(input, shape, 0, head).unwrap();
                conv.forward_rows(input, shape, rows / 2, tail).unwrap();
                for (got, want) in out.iter().zip(&expected) {
                    assert!((*got as f64 - want).abs() < 1e-4, "{got} vs {want}");
                }
            }
        }
    }

    #[test]
    fn bad_shapes_are_errors() {
        let weight = [0f32; 27 * 4];
        let conv = PatchConv2d {
            inputs: 3,
            outputs: 4,
            window: Window {
                kernel: [3, 3],
                stride: [1, 1],
                dilation: [1, 1],
                pad_begin: [0, 0],
                pad_end: [0, 0],
            },
            weight: &weight,
            bias: None,
            activation: Activation::Relu,
        };
        let shape = Strided {
            batch: 1,
            height: 4,
            width: 4,
            strides: [48, 16, 4, 1],
        };
        let mut out = [0f32; 2 * 2 * 4];
        assert!(conv.forward_rows(&[0.0; 47], shape, 0, &mut out).is_err());
        assert!(conv.forward_rows(&[0.0; 48], shape, 1, &mut out).is_err());
        conv.forward_rows(&[0.0; 48], shape, 0, &mut out).unwrap();
        let small = Strided { height: 2, ..shape };
        assert!(conv.forward_rows(&[0.0; 48], small, 0, &mut out).is_err());
    }
}

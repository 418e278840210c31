//! A 1×1 convolution on channels-last pixels: `out = act(x·W + b)` for a
//! block of pixel rows on the calling thread. With `W` stored input-major
//! (`[inputs][outputs]`, laid out once when a model loads) no call repacks
//! it (see `product`); other layouts (and weights too large for the cache)
//! go through the `gemm` crate, which packs them per call. The caller
//! hands blocks of rows to its threads (no per-call thread team, as MKL's
//! products have, whose fixed cost dominates MobileNet's small shapes).

use crate::elementwise::Activation;
use crate::product::Product;
use crate::{KernelError, Result, check_length};
use gemm::{Parallelism, gemm};

/// A pointwise convolution's operands.
#[derive(Debug, Clone, Copy)]
pub struct Pointwise<'a> {
    pub inputs: usize,
    pub outputs: usize,
    /// `[inputs][outputs]` when `input_major`, else `[outputs][inputs]`.
    pub weight: &'a [f32],
    pub input_major: bool,
    pub bias: Option<&'a [f32]>,
    pub activation: Activation,
}

impl Pointwise<'_> {
    /// `pixels` (rows of `inputs` values) into `out` (rows of `outputs`).
    pub fn forward_rows(&self, pixels: &[f32], out: &mut [f32]) -> Result<()> {
        let (k, n) = (self.inputs, self.outputs);
        if k == 0 || n == 0 || !pixels.len().is_multiple_of(k) {
            return Err(KernelError::Shape(format!(
                "pointwise convolution: {} values are not pixels of {k} channels (outputs {n})",
                pixels.len()
            )));
        }
        let m = pixels.len() / k;
        check_length("pointwise weight", n * k, self.weight.len())?;
        check_length("pointwise output", m * n, out.len())?;
        if let Some(bias) = self.bias {
            check_length("pointwise bias", n, bias.len())?;
        }
        if self.input_major {
            Product {
                k,
                n,
                b: self.weight,
                bias: self.bias,
                activation: self.activation,
            }
            .rows(pixels, out);
            return Ok(());
        }
        if let Some(bias) = self.bias {
            for row in out.chunks_exact_mut(n) {
                row.copy_from_slice(bias);
            }
        }
        if m > 0 {
            // SAFETY: `out` holds m·n values (row stride n), `pixels` m·k
            // (row stride k) and `weight` n·k, read as its transpose (k×n:
            // row stride 1, column stride k); checked above. `out` does
            // not alias the inputs (distinct borrows).
            unsafe {
                gemm(
                    m,
                    n,
                    k,
                    out.as_mut_ptr(),
                    1,
                    n as isize,
                    self.bias.is_some(),
                    pixels.as_ptr(),
                    1,
                    k as isize,
                    self.weight.as_ptr(),
                    k as isize,
                    1,
                    1.0,
                    1.0,
                    false,
                    false,
                    false,
                    Parallelism::None,
                );
            }
        }
        self.activation.apply(out);
        Ok(())
    }

    /// As [`Self::forward_rows`] with every pixel first scaled channel by
    /// channel by `scales` (`inputs` values): a squeeze-excitation gate
    /// applied on the way into the product that follows it, so that the
    /// gated image is never written out. The scaled rows pass through a
    /// small buffer, a few tiles at a time.
    pub fn forward_scaled_rows(
        &self,
        pixels: &[f32],
        scales: &[f32],
        out: &mut [f32],
    ) -> Result<()> {
        /// Pixels per buffer: eight of the product's six-row tiles.
        const CHUNK: usize = 48;
        let (k, n) = (self.inputs, self.outputs);
        check_length("pointwise scales", k, scales.len())?;
        if k == 0 || n == 0 || !pixels.len().is_multiple_of(k) {
            return Err(KernelError::Shape(format!(
                "pointwise convolution: {} values are not pixels of {k} channels (outputs {n})",
                pixels.len()
            )));
        }
        check_length("pointwise output", pixels.len() / k * n, out.len())?;
        let mut scaled = vec![0f32; CHUNK.min(pixels.len() / k) * k];
        for (rows, out) in pixels.chunks(CHUNK * k).zip(out.chunks_mut(CHUNK * n)) {
            let scaled = &mut scaled[..rows.len()];
            crate::elementwise::scale_pixels(rows, scales, scaled);
            self.forward_rows(scaled, out)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_values as values;

    #[test]
    fn matches_a_plain_product() {
        let cases = [(49, 96, 576, true), (3136, 16, 72, false), (5, 3, 7, true)];
        for ((m, k, n, bias), input_major) in
            cases.into_iter().flat_map(|c| [(c, true), (c, false)])
        {
            let (x, w, b) = (values(m * k, 1), values(n * k, 2), values(n, 3));
            // Weight (c, i) of either layout.
            let at = |c: usize, i: usize| {
                if input_major {
                    w[i * n + c]
                } else {
                    w[c * k + i]
                }
            };
            let conv = Pointwise {
                inputs: k,
                outputs: n,
                weight: &w,
                input_major,
                bias: bias.then_some(b.as_slice()),
                activation: Activation::Relu,
            };
            let mut out = vec![f32::NAN; m * n];
            conv.forward_rows(&x, &mut out).unwrap();
            for p in (0..m).step_by(7) {
                for c in 0..n {
                    let linear: f64 = (0..k)
                        .map(|i| x[p * k + i] as f64 * at(c, i) as f64)
                        .sum::<f64>()
                        + if bias { b[c] as f64 } else { 0.0 };
                    let got = out[p * n + c] as f64;
                    assert!((got - linear.max(0.0)).abs() <= 1e-4, "{got} vs {linear}");
                }
            }
        }
    }

    #[test]
    fn scaled_rows_match_scaling_first() {
        for (m, k, n) in [(100, 24, 40), (5, 96, 16)] {
            let (x, w, scales) = (values(m * k, 4), values(n * k, 5), values(k, 6));
            let conv = Pointwise {
                inputs: k,
                outputs: n,
                weight: &w,
                input_major: true,
                bias: None,
                activation: Activation::HARD_SWISH,
            };
            let gated: Vec<f32> = x
                .chunks_exact(k)
                .flat_map(|row| row.iter().zip(&scales).map(|(v, s)| v * s))
                .collect();
            let (mut want, mut got) = (vec![0f32; m * n], vec![f32::NAN; m * n]);
            conv.forward_rows(&gated, &mut want).unwrap();
            conv.forward_scaled_rows(&x, &scales, &mut got).unwrap();
            assert_eq!(want, got);
            assert!(
                conv.forward_scaled_rows(&x, &scales[1..], &mut got)
                    .is_err()
            );
        }
    }

    #[test]
    fn bad_lengths_are_errors() {
        let w = [0f32; 6];
        let conv = Pointwise {
            inputs: 3,
            outputs: 2,
            weight: &w,
            input_major: true,
            bias: None,
            activation: Activation::Identity,
        };
        assert!(conv.forward_rows(&[0.0; 4], &mut [0.0; 2]).is_err());
        assert!(conv.forward_rows(&[0.0; 3], &mut [0.0; 3]).is_err());
        conv.forward_rows(&[0.0; 6], &mut [0.0; 4]).unwrap();
    }
}

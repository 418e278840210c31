//! `y = x·Wᵀ + b` for one row `x`: a fully connected layer at batch 1,
//! where the arithmetic is a pass over the weights and the time is
//! memory's. libtorch hands such products to MKL's single-threaded path
//! (a 1000×1024 classifier: about 0.27 ms inside a network whose other
//! layers pushed the weights out of cache); split by output columns over
//! the caller's threads, each streams its own share of the weights.

use crate::{KernelError, Result, check_length};

/// A fully connected layer's operands: `weight` is `[outputs][inputs]`
/// (ONNX Gemm with `transB`, PyTorch's `Linear`), `bias` one per output.
#[derive(Debug, Clone, Copy)]
pub struct Linear<'a> {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: &'a [f32],
    pub bias: Option<&'a [f32]>,
}

impl Linear<'_> {
    /// Computes outputs `columns` for the input row `x` into `out` (one
    /// value per column): one thread's share.
    pub fn forward_columns(
        &self,
        x: &[f32],
        columns: std::ops::Range<usize>,
        out: &mut [f32],
    ) -> Result<()> {
        let k = self.inputs;
        if columns.end > self.outputs {
            return Err(KernelError::Shape(format!(
                "linear: columns {columns:?} exceed {} outputs",
                self.outputs
            )));
        }
        check_length("linear input", k, x.len())?;
        check_length("linear weight", self.outputs * k, self.weight.len())?;
        if let Some(bias) = self.bias {
            check_length("linear bias", self.outputs, bias.len())?;
        }
        check_length("linear output", columns.len(), out.len())?;
        columns_kernel(self, x, columns.start, out);
        Ok(())
    }
}

with_best_simd! {
    columns_kernel(linear: &Linear, x: &[f32], first: usize, out: &mut [f32]) {
        let k = linear.inputs;
        for (j, y) in out.iter_mut().enumerate() {
            let column = first + j;
            let bias = linear.bias.map_or(0.0, |b| b[column]);
            *y = dot(x, &linear.weight[column * k..][..k]) + bias;
        }
    }
}

/// A dot product in 32 explicit lanes (4 × 8), so that the compiler keeps
/// four vector sums in flight without reassociating anything. (Multiply and
/// add rather than `mul_add`, which is a libm call on CPUs without FMA;
/// memory bounds this loop either way.)
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 32;
    let mut sums = [0f32; LANES];
    let (a_blocks, b_blocks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let (a_rest, b_rest) = (a_blocks.remainder(), b_blocks.remainder());
    for (x, y) in a_blocks.zip(b_blocks) {
        for lane in 0..LANES {
            sums[lane] += x[lane] * y[lane];
        }
    }
    let mut tail = 0f32;
    for (x, y) in a_rest.iter().zip(b_rest) {
        tail += x * y;
    }
    // Pairwise: 32 → 1.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            sums[lane] += sums[lane + width];
        }
    }
    sums[0] + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_values as values;

    #[test]
    fn matches_a_plain_product_in_shares_of_columns() {
        for (k, n) in [(576, 1024), (37, 10), (1, 5), (100, 7)] {
            let (x, w, b) = (values(k, 1), values(n * k, 2), values(n, 3));
            let linear = Linear {
                inputs: k,
                outputs: n,
                weight: &w,
                bias: Some(&b),
            };
            let split = n / 3;
            for columns in [0..split, split..n] {
                let mut out = vec![f32::NAN; columns.len()];
                linear
                    .forward_columns(&x, columns.clone(), &mut out)
                    .unwrap();
                for (c, value) in columns.zip(out) {
                    let want: f64 = (0..k)
                        .map(|i| x[i] as f64 * w[c * k + i] as f64)
                        .sum::<f64>()
                        + b[c] as f64;
                    let value = value as f64;
                    assert!(
                        (value - want).abs() <= 1e-4 * (1.0 + want.abs()),
                        "{value} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn bad_lengths_are_errors() {
        let w = [0f32; 6];
        let linear = Linear {
            inputs: 3,
            outputs: 2,
            weight: &w,
            bias: None,
        };
        let mut out = [0f32; 2];
        assert!(linear.forward_columns(&[0.0; 4], 0..2, &mut out).is_err());
        assert!(linear.forward_columns(&[0.0; 3], 0..3, &mut out).is_err());
        assert!(linear.forward_columns(&[0.0; 3], 0..1, &mut out).is_err());
        let short = Linear {
            weight: &w[..5],
            ..linear
        };
        assert!(short.forward_columns(&[0.0; 3], 0..2, &mut out).is_err());
        linear.forward_columns(&[0.0; 3], 0..2, &mut out).unwrap();
    }
}

//! `out = act(a · b + bias)` for the products inside convolutions: `a` a
//! few hundred rows at most per call (pixels), `b` a layer's weights laid
//! out input-major (`k` rows of `n` outputs) once, when the model loads.
//!
//! A general GEMM (the `gemm` crate, MKL) packs `b` on every call; for
//! MobileNet's shapes (49–3136 pixels, 16–576 channels) that packing costs
//! as much as the arithmetic. Here `b` is read as it lies: tiles of 6 rows
//! × 16 outputs keep 12 AVX2 accumulators in registers while `k` runs, the
//! bias is their start value, and the activation is applied to them in
//! registers before they are stored.

use crate::elementwise::Activation;
use crate::simd::Simd;

/// The fixed operand of a product and what finishes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Product<'a> {
    /// Rows per `a` row and per `b` column.
    pub k: usize,
    /// Outputs per row.
    pub n: usize,
    /// `k × n`, row-major.
    pub b: &'a [f32],
    pub bias: Option<&'a [f32]>,
    pub activation: Activation,
}

/// Rows of `a` per register tile.
const TILE_ROWS: usize = 6;

/// Where value `i` of row `r` of the left operand lies, counted from its
/// first row's first value.
pub(crate) trait Layout: Copy {
    fn at(self, r: usize, i: usize) -> usize;
}

/// Rows of `k` contiguous values, one after another.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dense {
    pub k: usize,
}

impl Layout for Dense {
    #[inline(always)]
    fn at(self, r: usize, i: usize) -> usize {
        r * self.k + i
    }
}

/// Convolution patches read in place from their input: row `r` starts
/// `r · step` values after the first, its values lie at `offsets`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Patches<'a> {
    pub step: usize,
    pub offsets: &'a [usize],
}

impl Layout for Patches<'_> {
    #[inline(always)]
    fn at(self, r: usize, i: usize) -> usize {
        // SAFETY: `i < k = offsets.len()` (the tiles' loops).
        r * self.step + unsafe { *self.offsets.get_unchecked(i) }
    }
}

impl Product<'_> {
    /// `out` (m rows of `n`) from `a` (m rows of `k`); the callers checked
    /// `b` (`k·n`), `bias` (`n`), `a` (`m·k`) and `out` (`m·n`).
    pub(crate) fn rows(&self, a: &[f32], out: &mut [f32]) {
        if self.n == 0 {
            return;
        }
        let m = out.len() / self.n;
        // The reads below rely on these (the callers' checks, kept here
        // because the kernels read through raw pointers).
        assert!(
            self.b.len() == self.k * self.n && a.len() == m * self.k && out.len() == m * self.n,
            "product: operands of {} × {} × {} do not fit",
            m,
            self.k,
            self.n
        );
        // SAFETY: `a` holds m·k values: `Dense` reaches `(m-1)·k + k-1`.
        unsafe { self.run(a.as_ptr(), Dense { k: self.k }, m, out) }
    }

    /// `out` (m rows of `n`) from the patches of `layout` at `a`.
    ///
    /// # Safety
    /// Every `a + layout.at(r, i)` for `r < m`, `i < k` must be a readable
    /// value; `layout.offsets` must hold `k` values.
    pub(crate) unsafe fn patches(&self, a: *const f32, layout: Patches, out: &mut [f32]) {
        debug_assert_eq!(layout.offsets.len(), self.k);
        if self.n == 0 {
            return;
        }
        let m = out.len() / self.n;
        unsafe { self.run(a, layout, m, out) }
    }

    /// Blocks of [`TILE_ROWS`] rows.
    unsafe fn run<L: Layout>(&self, a: *const f32, layout: L, m: usize, out: &mut [f32]) {
        let mut first = 0;
        while first < m {
            let rows = (m - first).min(TILE_ROWS);
            let block = &mut out[first * self.n..(first + rows) * self.n];
            // SAFETY: the block's rows are rows `first..` of the caller's.
            let a = a.wrapping_add(layout.at(first, 0) - layout.at(0, 0));
            unsafe { self.block(a, layout, block) };
            first += rows;
        }
    }

    /// Up to [`TILE_ROWS`] rows, on the widest code the CPU runs.
    unsafe fn block<L: Layout>(&self, a: *const f32, layout: L, out: &mut [f32]) {
        match crate::simd::best() {
            // SAFETY: `best` detected the features; the operands are the
            // callers' (see `rows`, `patches`).
            #[cfg(target_arch = "x86_64")]
            Simd::Avx512 => unsafe { avx512::block(self, a, layout, out) },
            // SAFETY: as above.
            #[cfg(target_arch = "x86_64")]
            Simd::Avx2 => unsafe { avx2::block(self, a, layout, out) },
            _ => unsafe { self.portable(a, layout, out, 0) },
        }
    }

    /// Columns `from..n` of a block, one value at a time.
    unsafe fn portable<L: Layout>(&self, a: *const f32, layout: L, out: &mut [f32], from: usize) {
        let (k, n) = (self.k, self.n);
        for (r, out) in out.chunks_exact_mut(n).enumerate() {
            let out = &mut out[from..];
            match self.bias {
                Some(bias) => out.copy_from_slice(&bias[from..]),
                None => out.fill(0.0),
            }
            for i in 0..k {
                // SAFETY: the callers' (see `patches`).
                let value = unsafe { *a.add(layout.at(r, i)) };
                let weights = &self.b[i * n + from..(i + 1) * n];
                for (o, &w) in out.iter_mut().zip(weights) {
                    *o += value * w;
                }
            }
            self.activation.apply(out);
        }
    }
}

/// One instruction set's kernel as a module: `block` computes up to six
/// rows in tiles of `2·LANES` outputs, then one of `LANES`, and hands the
/// last columns (under `LANES`) to `$rest`, a narrower kernel's `columns`
/// or the portable code. Each tile keeps its accumulators in registers
/// while `k` runs, starts them from the bias and applies the activation
/// before the store.
#[cfg(target_arch = "x86_64")]
macro_rules! product_kernel {
    (
        $name:ident, $features:literal, $vector:ty, $lanes:literal,
        load: $load:ident, store: $store:ident, splat: $set1:ident, zero: $zero:ident,
        fma: $fma:ident, min: $min:ident, max: $max:ident, mul: $mul:ident, add: $add:ident,
        rest: |$p:ident, $a:ident, $l:ident, $out:ident, $from:ident| $rest:expr
    ) => {
        mod $name {
            use super::{Layout, Product};
            #[allow(unused_imports)]
            use crate::elementwise::Activation;
            use std::arch::x86_64::*;

            #[target_feature(enable = $features)]
            pub(super) unsafe fn block<L: Layout>(
                p: &Product,
                a: *const f32,
                l: L,
                out: &mut [f32],
            ) {
                match out.len() / p.n {
                    6 => unsafe { columns::<6, L>(p, a, l, out, 0) },
                    5 => unsafe { columns::<5, L>(p, a, l, out, 0) },
                    4 => unsafe { columns::<4, L>(p, a, l, out, 0) },
                    3 => unsafe { columns::<3, L>(p, a, l, out, 0) },
                    2 => unsafe { columns::<2, L>(p, a, l, out, 0) },
                    1 => unsafe { columns::<1, L>(p, a, l, out, 0) },
                    _ => {}
                }
            }

            /// Columns `from..n` of `R` rows.
            #[target_feature(enable = $features)]
            #[inline]
            #[allow(dead_code)]
            pub(super) unsafe fn columns<const R: usize, L: Layout>(
                $p: &Product,
                $a: *const f32,
                $l: L,
                $out: &mut [f32],
                mut $from: usize,
            ) {
                while $from + 2 * $lanes <= $p.n {
                    unsafe { tile::<R, 2, L>($p, $a, $l, $out, $from) };
                    $from += 2 * $lanes;
                }
                if $from + $lanes <= $p.n {
                    unsafe { tile::<R, 1, L>($p, $a, $l, $out, $from) };
                    $from += $lanes;
                }
                if $from < $p.n {
                    // SAFETY: the callers' operands; a wider instruction
                    // set implies the narrower one's features.
                    #[allow(unused_unsafe)]
                    unsafe {
                        $rest
                    }
                }
            }

            /// Outputs `from..from + LANES·V` of `R` rows.
            #[target_feature(enable = $features)]
            #[inline]
            unsafe fn tile<const R: usize, const V: usize, L: Layout>(
                p: &Product,
                a: *const f32,
                l: L,
                out: &mut [f32],
                from: usize,
            ) {
                let (k, n) = (p.k, p.n);
                let (b, out) = (p.b.as_ptr(), out.as_mut_ptr());
                // SAFETY (every load and store below): `a` reaches R rows
                // of k values through `l`, `b` holds k·n values, `bias` n
                // and `out` R·n (see `Product::rows`, `Product::patches`);
                // the tile's columns end at `from + LANES·V ≤ n`.
                let start: [$vector; V] = std::array::from_fn(|v| match p.bias {
                    Some(bias) => unsafe { $load(bias.as_ptr().add(from + $lanes * v)) },
                    None => $zero(),
                });
                let mut acc = [start; R];
                for i in 0..k {
                    let weights: [$vector; V] =
                        std::array::from_fn(|v| unsafe { $load(b.add(i * n + from + $lanes * v)) });
                    for (r, acc) in acc.iter_mut().enumerate() {
                        let value = $set1(unsafe { *a.add(l.at(r, i)) });
                        for (acc, w) in acc.iter_mut().zip(&weights) {
                            *acc = $fma(value, *w, *acc);
                        }
                    }
                }
                for (r, acc) in acc.iter().enumerate() {
                    for (v, acc) in acc.iter().enumerate() {
                        let x = *acc;
                        let y = match p.activation {
                            Activation::Identity => x,
                            Activation::Relu => $max(x, $set1(0.0)),
                            Activation::LeakyRelu { slope } => {
                                $add($max(x, $set1(0.0)), $mul($min(x, $set1(0.0)), $set1(slope)))
                            }
                            Activation::HardSigmoid { alpha, beta } => $min(
                                $max($add($mul(x, $set1(alpha)), $set1(beta)), $set1(0.0)),
                                $set1(1.0),
                            ),
                            Activation::HardSwish { alpha, beta } => $mul(
                                x,
                                $min(
                                    $max($add($mul(x, $set1(alpha)), $set1(beta)), $set1(0.0)),
                                    $set1(1.0),
                                ),
                            ),
                            Activation::Clip { min, max } => $min($max(x, $set1(min)), $set1(max)),
                        };
                        unsafe { $store(out.add(r * n + from + $lanes * v), y) };
                    }
                }
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
product_kernel!(
    avx2, "avx2,fma", __m256, 8,
    load: _mm256_loadu_ps, store: _mm256_storeu_ps, splat: _mm256_set1_ps,
    zero: _mm256_setzero_ps, fma: _mm256_fmadd_ps, min: _mm256_min_ps,
    max: _mm256_max_ps, mul: _mm256_mul_ps, add: _mm256_add_ps,
    rest: |p, a, l, out, from| p.portable(a, l, out, from)
);

#[cfg(target_arch = "x86_64")]
product_kernel!(
    avx512, "avx512f", __m512, 16,
    load: _mm512_loadu_ps, store: _mm512_storeu_ps, splat: _mm512_set1_ps,
    zero: _mm512_setzero_ps, fma: _mm512_fmadd_ps, min: _mm512_min_ps,
    max: _mm512_max_ps, mul: _mm512_mul_ps, add: _mm512_add_ps,
    rest: |p, a, l, out, from| super::avx2::columns::<R, L>(p, a, l, out, from)
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simd::WIDEST;
    use crate::test_values as values;

    fn check(m: usize, k: usize, n: usize, bias: bool, widest: Simd) {
        let (a, b, c) = (values(m * k, 1), values(k * n, 2), values(n, 3));
        let product = Product {
            k,
            n,
            b: &b,
            bias: bias.then_some(c.as_slice()),
            activation: Activation::Relu,
        };
        let mut out = vec![f32::NAN; m * n];
        WIDEST.with(|w| w.set(widest));
        product.rows(&a, &mut out);
        WIDEST.with(|w| w.set(Simd::Avx512));
        for r in 0..m {
            for j in 0..n {
                let exact: f64 = (0..k)
                    .map(|i| a[r * k + i] as f64 * b[i * n + j] as f64)
                    .sum::<f64>()
                    + if bias { c[j] as f64 } else { 0.0 };
                let got = out[r * n + j] as f64;
                assert!(
                    (got - exact.max(0.0)).abs() <= 1e-5 * (1.0 + k as f64),
                    "{m}×{k}×{n} at ({r}, {j}): {got} vs {exact}"
                );
            }
        }
    }

    #[test]
    fn activations_in_registers_match_the_scalar_ones() {
        let (m, k, n) = (7, 5, 45);
        let (a, b, c) = (values(m * k, 7), values(k * n, 8), values(n, 9));
        let run = |activation, widest| {
            let product = Product {
                k,
                n,
                b: &b,
                bias: Some(&c),
                activation,
            };
            let mut out = vec![f32::NAN; m * n];
            WIDEST.with(|w| w.set(widest));
            product.rows(&a, &mut out);
            WIDEST.with(|w| w.set(Simd::Avx512));
            out
        };
        for widest in [Simd::Avx512, Simd::Avx2, Simd::Portable] {
            let plain = run(Activation::Identity, widest);
            for activation in [
                Activation::Relu,
                Activation::LeakyRelu { slope: 0.1 },
                Activation::HardSigmoid {
                    alpha: 0.2,
                    beta: 0.5,
                },
                Activation::HARD_SWISH,
                Activation::Clip {
                    min: -0.5,
                    max: 0.25,
                },
            ] {
                let got = run(activation, widest);
                for (g, p) in got.iter().zip(&plain) {
                    assert!(
                        (g - activation.at(*p)).abs() <= 1e-6,
                        "{activation:?}: {g} vs {p}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_tile_shape_matches_a_plain_product() {
        // Rows 1–13 cover each tile height; 16 to 61 outputs each tile
        // width (32 and 16 with AVX-512, 16 and 8 with AVX2) and the
        // portable columns. Each instruction set the CPU has runs them.
        for widest in [Simd::Avx512, Simd::Avx2, Simd::Portable] {
            for m in 1..=13 {
                for (k, n) in [
                    (27, 16),
                    (7, 24),
                    (40, 29),
                    (3, 5),
                    (0, 8),
                    (9, 61),
                    (5, 48),
                ] {
                    check(m, k, n, m % 2 == 0, widest);
                }
            }
            check(49, 576, 96, true, widest);
        }
    }
}

//! Chainer's `StatefulPeepholeLSTM` (full H×H peepholes) and the Gers-style
//! diagonal variant, a whole sequence per call, inference only.
//!
//! Per step, with gate pre-activations in Chainer's order a, i, f, o:
//!
//! ```text
//! z   = upward(x_t) + lateral(h_{t-1})
//! i   = σ(z_i + P_i c_{t-1})      f = σ(z_f + P_f c_{t-1})      a = tanh(z_a)
//! c_t = a·i + f·c_{t-1}
//! o   = σ(z_o + P_o c_t)          h_t = o·tanh(c_t)
//! ```
//!
//! How the work is laid out:
//! - Hidden units are split into one contiguous block per thread. A thread
//!   copies the rows of every weight that produce its units into gate blocks
//!   `[a | i | f | o]` (its own matrices, which stay in its cache), projects
//!   the whole sequence's inputs for its units in one product, and then runs
//!   the time loop for its units.
//! - Full peepholes: `c_t · [P_o; P_i; P_f]ᵀ` is one product per step. Its o
//!   block feeds this step's output gate; its i and f blocks are exactly what
//!   step t + 1 needs, as they read the same `c_t`.
//! - Threads meet twice per step: once `c_t` is complete (the peephole
//!   product reads all of it) and once `h_t` is (the next lateral product
//!   does).

use crate::activation::{sigmoid_times, tanh_sigmoid};
use crate::barrier::{BreakOnPanic, SpinBarrier};
use crate::{KernelError, Result};
use gemm::{Parallelism, gemm};

/// Steps whose input projections are computed together.
const CHUNK: usize = 8;

/// How the cell state feeds the gates; row-major, Chainer's layouts.
#[derive(Debug, Clone, Copy)]
pub enum Peepholes<'a> {
    /// `peep_i/W`, `peep_f/W`, `peep_o/W`: (H, H) each.
    Full {
        i: &'a [f32],
        f: &'a [f32],
        o: &'a [f32],
    },
    /// One weight per unit: (H) each.
    Diagonal {
        i: &'a [f32],
        f: &'a [f32],
        o: &'a [f32],
    },
}

/// The link's parameters, row-major, with Chainer's per-unit gate
/// interleaving: row `4u + g` of `upward` and `lateral` is gate g
/// (0 a, 1 i, 2 f, 3 o) of unit u.
#[derive(Debug, Clone, Copy)]
pub struct PeepholeLstm<'a> {
    pub in_size: usize,
    pub units: usize,
    /// `upward/W`: (4H, in).
    pub upward: &'a [f32],
    /// `upward/b`: (4H), if any.
    pub upward_bias: Option<&'a [f32]>,
    /// `lateral/W`: (4H, H).
    pub lateral: &'a [f32],
    pub peepholes: Peepholes<'a>,
}

/// How `Sequence::xs` is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// (steps, batch, in).
    TimeMajor,
    /// (batch, steps, in): each thread gathers the rows it projects (callers
    /// would otherwise copy it with a libtorch call, which leaves libtorch's
    /// OpenMP threads spinning on the cores this kernel needs).
    BatchMajor,
}

/// A batch of sequences and the state they start from.
#[derive(Debug, Clone, Copy)]
pub struct Sequence<'a> {
    pub steps: usize,
    pub batch: usize,
    pub layout: Layout,
    /// steps · batch · in values, laid out as `layout` says.
    pub xs: &'a [f32],
    /// (batch, H).
    pub h0: &'a [f32],
    /// (batch, H).
    pub c0: &'a [f32],
}

fn expect_len(what: &'static str, slice: &[f32], expected: usize) -> Result<()> {
    if slice.len() == expected {
        Ok(())
    } else {
        Err(KernelError::Length {
            what,
            expected,
            got: slice.len(),
        })
    }
}

impl PeepholeLstm<'_> {
    fn validate(&self, seq: &Sequence, hs: &[f32], c_last: &[f32]) -> Result<()> {
        let (h, i) = (self.units, self.in_size);
        if h == 0 || i == 0 || seq.steps == 0 || seq.batch == 0 {
            return Err(KernelError::Shape(format!(
                "empty dimension: {} steps, batch {}, {i} inputs, {h} units",
                seq.steps, seq.batch
            )));
        }
        expect_len("upward/W", self.upward, 4 * h * i)?;
        if let Some(bias) = self.upward_bias {
            expect_len("upward/b", bias, 4 * h)?;
        }
        expect_len("lateral/W", self.lateral, 4 * h * h)?;
        let (per, [pi, pf, po]) = match self.peepholes {
            Peepholes::Full { i, f, o } => (h * h, [i, f, o]),
            Peepholes::Diagonal { i, f, o } => (h, [i, f, o]),
        };
        expect_len("peep_i", pi, per)?;
        expect_len("peep_f", pf, per)?;
        expect_len("peep_o", po, per)?;
        expect_len("xs", seq.xs, seq.steps * seq.batch * i)?;
        expect_len("h0", seq.h0, seq.batch * h)?;
        expect_len("c0", seq.c0, seq.batch * h)?;
        expect_len("outputs", hs, seq.steps * seq.batch * h)?;
        expect_len("final c", c_last, seq.batch * h)
    }

    /// Runs `seq` on `threads` threads (the calling one included): writes
    /// every h_t into `hs` (steps, batch, H) and the last cell state into
    /// `c_last` (batch, H).
    pub fn forward(
        &self,
        seq: &Sequence,
        threads: usize,
        hs: &mut [f32],
        c_last: &mut [f32],
    ) -> Result<()> {
        self.validate(seq, hs, c_last)?;
        let units = self.units;
        // Blocks of at least 16 units (one AVX-512 vector), one per thread.
        let parts = threads.clamp(1, units.div_ceil(16));
        let bounds: Vec<(usize, usize)> = (0..parts)
            .map(|p| (p * units / parts, (p + 1) * units / parts))
            .collect();
        let state = units * seq.batch;
        let mut cells = vec![0f32; 2 * state];
        {
            let shared = Shared {
                hs: SharedBuf::new(hs),
                cells: SharedBuf::new(&mut cells),
                barrier: SpinBarrier::new(parts),
            };
            std::thread::scope(|scope| {
                for &block in &bounds[1..] {
                    let shared = &shared;
                    scope.spawn(move || self.run_block(seq, block, shared));
                }
                self.run_block(seq, bounds[0], &shared);
            });
        }
        let last = (seq.steps - 1) % 2;
        c_last.copy_from_slice(&cells[last * state..(last + 1) * state]);
        Ok(())
    }

    /// Units `u0..u1` for the whole sequence.
    fn run_block(&self, seq: &Sequence, (u0, u1): (usize, usize), shared: &Shared) {
        let _guard = BreakOnPanic(&shared.barrier);
        let (h, n, batch, i) = (self.units, u1 - u0, seq.batch, self.in_size);
        let state = h * batch;
        let lateral = gate_blocks(self.lateral, h, u0, n);
        let upward = gate_blocks(self.upward, i, u0, n);
        let bias: Vec<f32> = match self.upward_bias {
            Some(bias) => (0..4)
                .flat_map(|g| (u0..u1).map(move |u| bias[4 * u + g]))
                .collect(),
            None => vec![0f32; 4 * n],
        };
        // Input projections of CHUNK steps at a time: large enough for an
        // efficient product, small enough to stay in cache next to the
        // weights (a whole sequence's would not).
        let mut z = vec![0f32; CHUNK * batch * 4 * n];
        let mut x_chunk = match seq.layout {
            Layout::TimeMajor => Vec::new(),
            Layout::BatchMajor => vec![0f32; CHUNK * batch * i],
        };
        let mut peeps = OwnPeepholes::new(self.peepholes, h, u0, n, seq.c0, batch);

        for t in 0..seq.steps {
            let h_prev = if t == 0 {
                seq.h0
            } else {
                // SAFETY: h_{t-1} was completed before the last barrier and
                // nobody writes it again.
                unsafe { shared.hs.read((t - 1) * state, state) }
            };
            let slot = t % CHUNK;
            if slot == 0 {
                let len = CHUNK.min(seq.steps - t);
                let x = match seq.layout {
                    Layout::TimeMajor => &seq.xs[t * batch * i..(t + len) * batch * i],
                    Layout::BatchMajor => {
                        for s in 0..len {
                            for b in 0..batch {
                                x_chunk[(s * batch + b) * i..][..i]
                                    .copy_from_slice(&seq.xs[(b * seq.steps + t + s) * i..][..i]);
                            }
                        }
                        &x_chunk[..len * batch * i]
                    }
                };
                let z = &mut z[..len * batch * 4 * n];
                for row in z.chunks_exact_mut(4 * n) {
                    row.copy_from_slice(&bias);
                }
                matmul(z, 4 * n, true, x, &upward, len * batch, i, 4 * n);
            }
            let z_t = &mut z[slot * batch * 4 * n..(slot + 1) * batch * 4 * n];
            matmul(z_t, 4 * n, true, h_prev, &lateral, batch, h, 4 * n);

            let (c_prev_at, c_at) = ((t + 1) % 2 * state, t % 2 * state);
            for b in 0..batch {
                let row = &mut z_t[b * 4 * n..(b + 1) * 4 * n];
                let c_prev: &[f32] = if t == 0 {
                    &seq.c0[b * h + u0..b * h + u1]
                } else {
                    // SAFETY: this thread's own units of c_{t-1}, written by
                    // it in the previous step.
                    unsafe { shared.cells.read(c_prev_at + b * h + u0, n) }
                };
                // SAFETY: this thread's own units of c_t; others only read
                // them after the barrier below.
                let c = unsafe { shared.cells.write(c_at + b * h + u0, n) };
                peeps.add_input(row, c_prev, b);
                cell_update(row, c_prev, c);
            }
            shared.barrier.wait();

            // SAFETY: c_t is complete (barrier above) and is not written
            // again until after the next step's barrier.
            let c_full = unsafe { shared.cells.read(c_at, state) };
            peeps.after_cell(c_full, batch, h);
            for b in 0..batch {
                let row = &mut z_t[b * 4 * n..(b + 1) * 4 * n];
                let c = &c_full[b * h + u0..b * h + u1];
                peeps.add_output(row, c, b);
                // SAFETY: this thread's own units of h_t; others read them
                // only after the barrier below.
                let out = unsafe { shared.hs.write(t * state + b * h + u0, n) };
                output(row, c, out);
            }
            shared.barrier.wait();
        }
    }
}

/// Rows `4u + g` (u in `u0..u0+n`) of a (4H, k) weight, transposed into a
/// (k, 4n) matrix with columns `[a | i | f | o]` of the block's units.
fn gate_blocks(w: &[f32], k: usize, u0: usize, n: usize) -> Vec<f32> {
    transposed(k, 4 * n, |col| {
        let (g, u) = (col / n, col % n);
        &w[(4 * (u0 + u) + g) * k..][..k]
    })
}

/// The (k, cols) matrix whose column `col` is the k-vector `column(col)`.
/// Copies in tiles of 16 rows so that reads and writes both stay in cache.
fn transposed<'w>(k: usize, cols: usize, column: impl Fn(usize) -> &'w [f32]) -> Vec<f32> {
    const TILE: usize = 16;
    let mut out = vec![0f32; k * cols];
    for k0 in (0..k).step_by(TILE) {
        let k1 = (k0 + TILE).min(k);
        for col in 0..cols {
            for (kk, &v) in (k0..k1).zip(&column(col)[k0..k1]) {
                out[kk * cols + col] = v;
            }
        }
    }
    out
}

/// `dst (m×n, row stride ld) [+]= a (m×k) · b (k×n)`, all row-major.
#[allow(clippy::too_many_arguments)]
fn matmul(
    dst: &mut [f32],
    ld: usize,
    accumulate: bool,
    a: &[f32],
    b: &[f32],
    m: usize,
    k: usize,
    n: usize,
) {
    assert!(dst.len() >= (m - 1) * ld + n && a.len() >= m * k && b.len() >= k * n);
    // SAFETY: the bounds above cover every element gemm touches; dst does
    // not alias a or b (distinct borrows).
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            ld as isize,
            accumulate,
            a.as_ptr(),
            1,
            k as isize,
            b.as_ptr(),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

/// A thread's view of the peepholes of its units.
enum OwnPeepholes<'a> {
    /// `stacked` is (H, 3n): columns `[o | i | f]` of the block;
    /// `products` is (batch, 3n): `c · stacked` for the latest c.
    Full {
        stacked: Vec<f32>,
        products: Vec<f32>,
    },
    Diagonal {
        i: &'a [f32],
        f: &'a [f32],
        o: &'a [f32],
    },
}

impl<'a> OwnPeepholes<'a> {
    fn new(
        peepholes: Peepholes<'a>,
        h: usize,
        u0: usize,
        n: usize,
        c0: &[f32],
        batch: usize,
    ) -> Self {
        match peepholes {
            Peepholes::Full { i, f, o } => {
                let blocks = [o, i, f];
                let stacked = transposed(h, 3 * n, |col| {
                    let (block, u) = (col / n, col % n);
                    &blocks[block][(u0 + u) * h..][..h]
                });
                let mut products = vec![0f32; batch * 3 * n];
                // Step 0's input and forget peepholes read c0.
                matmul(&mut products, 3 * n, false, c0, &stacked, batch, h, 3 * n);
                OwnPeepholes::Full { stacked, products }
            }
            Peepholes::Diagonal { i, f, o } => OwnPeepholes::Diagonal {
                i: &i[u0..u0 + n],
                f: &f[u0..u0 + n],
                o: &o[u0..u0 + n],
            },
        }
    }

    fn row(products: &[f32], b: usize, n: usize) -> &[f32] {
        &products[b * 3 * n..(b + 1) * 3 * n]
    }

    /// Adds the peepholes of c_{t-1} to row b's i and f pre-activations.
    fn add_input(&self, row: &mut [f32], c_prev: &[f32], b: usize) {
        let n = c_prev.len();
        let (_, i_f) = row.split_at_mut(n);
        let (zi, rest) = i_f.split_at_mut(n);
        let zf = &mut rest[..n];
        match self {
            OwnPeepholes::Full { products, .. } => {
                let p = Self::row(products, b, n);
                add(zi, &p[n..2 * n]);
                add(zf, &p[2 * n..]);
            }
            OwnPeepholes::Diagonal { i, f, .. } => {
                add_product(zi, c_prev, i);
                add_product(zf, c_prev, f);
            }
        }
    }

    /// Called once c_t is complete: full peepholes take their one product.
    fn after_cell(&mut self, c: &[f32], batch: usize, h: usize) {
        if let OwnPeepholes::Full { stacked, products } = self {
            let n3 = stacked.len() / h;
            matmul(products, n3, false, c, stacked, batch, h, n3);
        }
    }

    /// Adds the peephole of c_t to row b's o pre-activation.
    fn add_output(&self, row: &mut [f32], c: &[f32], b: usize) {
        let n = c.len();
        let zo = &mut row[3 * n..];
        match self {
            OwnPeepholes::Full { products, .. } => add(zo, &Self::row(products, b, n)[..n]),
            OwnPeepholes::Diagonal { o, .. } => add_product(zo, c, o),
        }
    }
}

fn add(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

fn add_product(dst: &mut [f32], a: &[f32], b: &[f32]) {
    for ((d, x), y) in dst.iter_mut().zip(a).zip(b) {
        *d += x * y;
    }
}

with_best_simd!(cell_update(row: &mut [f32], c_prev: &[f32], c: &mut [f32]) {
    // c_t = tanh(z_a)·σ(z_i) + σ(z_f)·c_{t-1}, over one row of the block.
    let n = c.len();
    let (za, rest) = row.split_at(n);
    let (zi, rest) = rest.split_at(n);
    let zf = &rest[..n];
    for ((((c, &a), &i), &f), &cp) in c.iter_mut().zip(za).zip(zi).zip(zf).zip(c_prev) {
        *c = tanh_sigmoid(a, i) + sigmoid_times(f, cp);
    }
});

with_best_simd!(output(row: &mut [f32], c: &[f32], h: &mut [f32]) {
    // h_t = σ(z_o)·tanh(c_t).
    let n = c.len();
    let zo = &row[3 * n..];
    for ((h, &o), &c) in h.iter_mut().zip(zo).zip(c) {
        *h = tanh_sigmoid(c, o);
    }
});

/// Buffers every thread writes a disjoint part of and, after a barrier,
/// reads whole.
struct Shared {
    hs: SharedBuf,
    cells: SharedBuf,
    barrier: SpinBarrier,
}

/// A raw view of a buffer whose disjoint parts several threads write. The
/// barrier protocol of `run_block` makes every access race-free.
struct SharedBuf {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: access goes through `read`/`write`, whose callers uphold the
// disjoint-writes and barrier discipline documented there.
unsafe impl Sync for SharedBuf {}
unsafe impl Send for SharedBuf {}

impl SharedBuf {
    fn new(buf: &mut [f32]) -> Self {
        SharedBuf {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
        }
    }

    /// # Safety
    /// No thread may write `at..at + len` while the returned slice lives.
    unsafe fn read(&self, at: usize, len: usize) -> &[f32] {
        assert!(at + len <= self.len);
        unsafe { std::slice::from_raw_parts(self.ptr.add(at), len) }
    }

    /// # Safety
    /// No other thread may read or write `at..at + len` while the returned
    /// slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn write(&self, at: usize, len: usize) -> &mut [f32] {
        assert!(at + len <= self.len);
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(at), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic pseudo-random vector in [-scale, scale].
    fn noise(len: usize, seed: u64, scale: f32) -> Vec<f32> {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
            })
            .collect()
    }

    /// The equations of the module docs, one step at a time, in f64.
    fn reference(lstm: &PeepholeLstm, seq: &Sequence) -> (Vec<f64>, Vec<f64>) {
        let (h, i_n, b_n) = (lstm.units, lstm.in_size, seq.batch);
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        let mut hp: Vec<f64> = seq.h0.iter().map(|&v| v as f64).collect();
        let mut cp: Vec<f64> = seq.c0.iter().map(|&v| v as f64).collect();
        let mut hs = Vec::new();
        let peep = |which: usize, u: usize, c: &[f64]| -> f64 {
            match lstm.peepholes {
                Peepholes::Full { i, f, o } => {
                    let w = [i, f, o][which];
                    (0..h).map(|k| w[u * h + k] as f64 * c[k]).sum()
                }
                Peepholes::Diagonal { i, f, o } => [i, f, o][which][u] as f64 * c[u],
            }
        };
        for t in 0..seq.steps {
            let mut hn = vec![0f64; b_n * h];
            let mut cn = vec![0f64; b_n * h];
            for b in 0..b_n {
                let x = &seq.xs[(t * b_n + b) * i_n..][..i_n];
                let (hrow, crow) = (&hp[b * h..][..h], &cp[b * h..][..h]);
                let z = |u: usize, g: usize| -> f64 {
                    let r = 4 * u + g;
                    let up: f64 = (0..i_n)
                        .map(|k| lstm.upward[r * i_n + k] as f64 * x[k] as f64)
                        .sum();
                    let lat: f64 = (0..h)
                        .map(|k| lstm.lateral[r * h + k] as f64 * hrow[k])
                        .sum();
                    up + lat + lstm.upward_bias.map_or(0.0, |bias| bias[r] as f64)
                };
                let mut c_new = vec![0f64; h];
                for u in 0..h {
                    let i = sig(z(u, 1) + peep(0, u, crow));
                    let f = sig(z(u, 2) + peep(1, u, crow));
                    c_new[u] = z(u, 0).tanh() * i + f * crow[u];
                }
                for u in 0..h {
                    let o = sig(z(u, 3) + peep(2, u, &c_new));
                    hn[b * h + u] = o * c_new[u].tanh();
                }
                cn[b * h..][..h].copy_from_slice(&c_new);
            }
            hs.extend_from_slice(&hn);
            (hp, cp) = (hn, cn);
        }
        (hs, cp)
    }

    fn check(full: bool, units: usize, threads: usize, bias: bool, steps: usize) {
        let (in_size, batch) = (7, 3);
        let w = |len, seed| noise(len, seed, 0.4);
        let (upward, b, lateral) = (
            w(4 * units * in_size, 1),
            w(4 * units, 2),
            w(4 * units * units, 3),
        );
        let per = if full { units * units } else { units };
        let (pi, pf, po) = (w(per, 4), w(per, 5), w(per, 6));
        let peepholes = if full {
            Peepholes::Full {
                i: &pi,
                f: &pf,
                o: &po,
            }
        } else {
            Peepholes::Diagonal {
                i: &pi,
                f: &pf,
                o: &po,
            }
        };
        let lstm = PeepholeLstm {
            in_size,
            units,
            upward: &upward,
            upward_bias: bias.then_some(&b[..]),
            lateral: &lateral,
            peepholes,
        };
        let (xs, h0, c0) = (
            noise(steps * batch * in_size, 7, 2.0),
            w(batch * units, 8),
            w(batch * units, 9),
        );
        let seq = Sequence {
            steps,
            batch,
            layout: Layout::TimeMajor,
            xs: &xs,
            h0: &h0,
            c0: &c0,
        };
        let (want_h, want_c) = reference(&lstm, &seq);
        // The same inputs batch-major.
        let mut batch_major = vec![0f32; xs.len()];
        for t in 0..steps {
            for b in 0..batch {
                batch_major[(b * steps + t) * in_size..][..in_size]
                    .copy_from_slice(&xs[(t * batch + b) * in_size..][..in_size]);
            }
        }
        let transposed = Sequence {
            layout: Layout::BatchMajor,
            xs: &batch_major,
            ..seq
        };
        for seq in [seq, transposed] {
            let mut hs = vec![0f32; steps * batch * units];
            let mut c_last = vec![0f32; batch * units];
            lstm.forward(&seq, threads, &mut hs, &mut c_last).unwrap();
            let case = format!(
                "full {full} units {units} threads {threads} {:?}",
                seq.layout
            );
            for (k, (&got, &want)) in hs.iter().zip(&want_h).enumerate() {
                assert!(
                    (got as f64 - want).abs() < 2e-6,
                    "{case}: h[{k}] {got} vs {want}"
                );
            }
            for (&got, &want) in c_last.iter().zip(&want_c) {
                assert!(
                    (got as f64 - want).abs() < 2e-6,
                    "{case}: final c {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn matches_the_equations_for_both_peepholes_and_any_thread_count() {
        for full in [true, false] {
            for (units, threads) in [(5, 1), (40, 2), (40, 3), (33, 8)] {
                check(full, units, threads, true, 6);
            }
            check(full, 20, 2, false, 6);
            // Across input-projection chunks, the last one partial.
            check(full, 24, 2, true, 2 * CHUNK + 3);
        }
    }

    #[test]
    fn wrong_lengths_name_the_buffer() {
        let v = vec![0f32; 64];
        let lstm = PeepholeLstm {
            in_size: 2,
            units: 2,
            upward: &v[..16],
            upward_bias: None,
            lateral: &v[..15],
            peepholes: Peepholes::Diagonal {
                i: &v[..2],
                f: &v[..2],
                o: &v[..2],
            },
        };
        let seq = Sequence {
            steps: 1,
            batch: 1,
            layout: Layout::TimeMajor,
            xs: &v[..2],
            h0: &v[..2],
            c0: &v[..2],
        };
        let (mut hs, mut c) = (vec![0f32; 2], vec![0f32; 2]);
        let err = lstm
            .forward(&seq, 2, &mut hs, &mut c)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("lateral/W") && err.contains("16") && err.contains("15"),
            "{err}"
        );
        let seq = Sequence { steps: 0, ..seq };
        let lstm = PeepholeLstm {
            lateral: &v[..16],
            ..lstm
        };
        let err = lstm
            .forward(&seq, 2, &mut hs, &mut c)
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty"), "{err}");
    }
}

//! The inference loop of [`PeepholeLstm::seq`]: the same arithmetic as
//! `step_projected`, arranged for fewer and larger libtorch calls.
//!
//! - The weights' rows are permuted once per sequence from Chainer's
//!   per-unit interleaving (a, i, f, o of unit 0, then of unit 1, …) into
//!   gate blocks `[a | i f | o]`, so every gate is a contiguous column range.
//! - `tanh(a) = 2·σ(2a) − 1`: the a rows are scaled by 2 in that copy, so
//!   a, i and f share one sigmoid (libtorch's sigmoid is several times
//!   faster than its tanh on these sizes).
//! - Each step's lateral product is added in place onto that step's slice of
//!   the input projection, which then serves as the step's gate buffer.
//! - Full peepholes: `c_t` meets all three peephole matrices in one matmul,
//!   `c_t @ [P_o; P_i; P_f]ᵀ`. Its first block feeds this step's output gate;
//!   the other two are exactly the input- and forget-gate peepholes of step
//!   t + 1, which read the same `c_t`.
//! - Every intermediate lives in a buffer allocated before the loop and is
//!   written in place or through `*_out`; each h goes straight into its slot
//!   of the output tensor.
//!
//! In-place writes would break autograd, so the caller uses this only when
//! no tensor involved records a graph. On the CPU in f32, zoo-kernels'
//! fused kernel (`kernel.rs`) runs instead; this loop serves CUDA and other
//! dtypes.

use super::{PeepholeLstm, Peeps};
use crate::error::Result;
use crate::links::lstm::LstmState;
use tch::Tensor;

/// Rows of a (gates·H, …) weight or (gates·H) bias, from per-unit
/// interleaving to one block per gate, with the first (a) block doubled for
/// `tanh(a) = 2·σ(2a) − 1`.
fn gate_blocks(w: &Tensor, gates: i64, units: i64) -> Result<Tensor> {
    let size = w.size();
    let mut split = vec![units, gates];
    split.extend_from_slice(&size[1..]);
    let blocks = w
        .f_reshape(&split)?
        .f_transpose(0, 1)?
        .f_contiguous()?
        .f_reshape(&size)?;
    let _ = blocks.f_narrow(0, 0, units)?.f_mul_scalar_(2)?;
    Ok(blocks)
}

/// How the cell state enters the gates, prepared for the loop.
enum FusedPeeps {
    /// `stacked` is (H, 3H): `c @ stacked` = [c P_oᵀ | c P_iᵀ | c P_fᵀ];
    /// `products` holds that for the latest c.
    Full { stacked: Tensor, products: Tensor },
    /// `input` is (1, 2, H): the i and f weights; `output` is (H).
    Diagonal { input: Tensor, output: Tensor },
}

impl FusedPeeps {
    /// Adds the peepholes of c_{t-1} into the i, f block (batch, 2H).
    fn add_to_input_gates(&self, i_f: &mut Tensor, c_prev: &Tensor, units: i64) -> Result<()> {
        match self {
            FusedPeeps::Full { products, .. } => {
                let _ = i_f.f_add_(&products.f_narrow(1, units, 2 * units)?)?;
            }
            FusedPeeps::Diagonal { input, .. } => {
                let batch = i_f.size()[0];
                let _ = i_f
                    .f_view_([batch, 2, units])?
                    .f_addcmul_(&c_prev.f_unsqueeze(1)?, input)?;
            }
        }
        Ok(())
    }

    /// Adds the peephole of the new c_t into the o block (batch, H).
    fn add_to_output_gate(&mut self, o: &mut Tensor, c: &Tensor, units: i64) -> Result<()> {
        match self {
            FusedPeeps::Full { stacked, products } => {
                let _ = c.f_mm_out(products, stacked)?;
                let _ = o.f_add_(&products.f_narrow(1, 0, units)?)?;
            }
            FusedPeeps::Diagonal { output, .. } => {
                let _ = o.f_addcmul_(c, output)?;
            }
        }
        Ok(())
    }
}

impl PeepholeLstm {
    /// Runs the whole sequence `xs` (T, batch, in) with libtorch calls on
    /// any device; the caller has checked that no autograd graph is wanted.
    pub(super) fn seq_inference(
        &self,
        xs: &Tensor,
        state: &LstmState,
    ) -> Result<(Tensor, LstmState)> {
        let size = xs.size();
        let (steps, batch) = (size[0], size[1]);
        let units = self.out_size();

        let upward = gate_blocks(&self.upward.weight, 4, units)?;
        let flat = xs.f_reshape([steps * batch, size[2]])?;
        let projected = match &self.upward.bias {
            Some(bias) => gate_blocks(bias, 4, units)?.f_addmm(&flat, &upward.f_tr()?)?,
            None => flat.f_mm(&upward.f_tr()?)?,
        }
        .f_reshape([steps, batch, 4 * units])?;
        let lateral = gate_blocks(&self.lateral.weight, 4, units)?.f_tr()?;
        let mut peeps = match &self.peeps {
            Peeps::Full([i, f, o]) => {
                let stacked = Tensor::f_cat(&[&o.weight, &i.weight, &f.weight], 0)?.f_tr()?;
                let products = state.c.f_mm(&stacked)?;
                FusedPeeps::Full { stacked, products }
            }
            Peeps::Diagonal([i, f, o]) => FusedPeeps::Diagonal {
                input: Tensor::f_stack(&[i, f], 0)?.f_unsqueeze(0)?,
                output: o.shallow_clone(),
            },
        };
        let options = (projected.kind(), projected.device());
        let outputs = Tensor::f_empty([steps, batch, units], options)?;
        let tanh_c = Tensor::f_empty([batch, units], options)?;
        let mut c = Tensor::f_empty([batch, units], options)?;
        c.f_copy_(&state.c)?;
        let mut c_next = Tensor::f_empty([batch, units], options)?;
        let mut h = state.h.shallow_clone();
        // The `*_out` and in-place calls return handles to the tensors they
        // wrote; the buffers themselves are what the loop reads.
        for t in 0..steps {
            let mut gates = projected.f_get(t)?;
            let _ = gates.f_addmm_(&h, &lateral)?;
            let mut a_i_f = gates.f_narrow(1, 0, 3 * units)?;
            let mut a = gates.f_narrow(1, 0, units)?;
            let mut i_f = gates.f_narrow(1, units, 2 * units)?;
            let (i, f) = (i_f.f_narrow(1, 0, units)?, i_f.f_narrow(1, units, units)?);
            let mut o = gates.f_narrow(1, 3 * units, units)?;
            peeps.add_to_input_gates(&mut i_f, &c, units)?;
            let _ = a_i_f.f_sigmoid_()?;
            let _ = a.f_mul_scalar_(2)?.f_sub_scalar_(1)?;
            let _ = f.f_mul_out(&c_next, &c)?;
            let _ = c_next.f_addcmul_(&i, &a)?;
            std::mem::swap(&mut c, &mut c_next);
            peeps.add_to_output_gate(&mut o, &c, units)?;
            let _ = o.f_sigmoid_()?;
            let _ = c.f_tanh_out(&tanh_c)?;
            h = outputs.f_get(t)?;
            let _ = o.f_mul_out(&h, &tanh_c)?;
        }
        Ok((outputs, LstmState { h, c }))
    }
}

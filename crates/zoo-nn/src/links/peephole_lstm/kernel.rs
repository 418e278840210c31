//! CPU `f32` inference through zoo-kernels' fused peephole LSTM: one call
//! per sequence instead of a dozen libtorch calls per step.

use super::{PeepholeLstm, Peeps};
use crate::error::{NnError, Result};
use crate::links::lstm::LstmState;
use tch::{Device, Kind, Tensor};
use zoo_kernels::peephole_lstm as k;

/// A contiguous CPU f32 copy (or the tensor itself when it is one already),
/// kept alive while the kernel reads it.
struct Contiguous(Tensor);

impl Contiguous {
    fn new(t: &Tensor) -> Result<Self> {
        Ok(Contiguous(t.f_contiguous()?))
    }

    fn slice(&self) -> &[f32] {
        // A contiguous CPU f32 tensor (checked by `applies`), kept alive by
        // the borrow of `self`.
        crate::functions::f32_slice(&self.0)
    }
}

/// A fresh tensor the kernel writes into.
fn output_slice(t: &mut Tensor) -> &mut [f32] {
    // SAFETY: `t` is a new contiguous CPU f32 tensor (from `f_empty`) owned
    // by the caller; the mutable borrow makes this the only access.
    unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut f32, t.numel()) }
}

impl PeepholeLstm {
    /// Whether the kernel can run this: everything on the CPU in f32.
    fn applies(&self, xs: &Tensor, state: &LstmState) -> bool {
        let cpu_f32 = |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float;
        self.tensors().into_iter().all(cpu_f32) && [xs, &state.h, &state.c].into_iter().all(cpu_f32)
    }

    /// Runs the sequence through the fused kernel on libtorch's intra-op
    /// thread count; `None` when it does not apply (another device or
    /// dtype). The caller has checked that no autograd graph is wanted.
    pub(super) fn seq_cpu_kernel(
        &self,
        xs: &Tensor,
        state: &LstmState,
    ) -> Result<Option<(Tensor, LstmState)>> {
        if !self.applies(xs, state) {
            return Ok(None);
        }
        let size = xs.size();
        let (steps, batch) = (size[0], size[1]);
        let units = self.out_size();
        let keep = |t: &Tensor| Contiguous::new(t);
        let (upward, lateral) = (keep(&self.upward.weight)?, keep(&self.lateral.weight)?);
        let bias = self.upward.bias.as_ref().map(keep).transpose()?;
        let peeps: Vec<Contiguous> = match &self.peeps {
            Peeps::Full(links) => links
                .iter()
                .map(|l| keep(&l.weight))
                .collect::<Result<_>>()?,
            Peeps::Diagonal(weights) => weights.iter().map(keep).collect::<Result<_>>()?,
        };
        let (i, f, o) = (peeps[0].slice(), peeps[1].slice(), peeps[2].slice());
        let lstm = k::PeepholeLstm {
            in_size: size[2] as usize,
            units: units as usize,
            upward: upward.slice(),
            upward_bias: bias.as_ref().map(Contiguous::slice),
            lateral: lateral.slice(),
            peepholes: match self.peeps {
                Peeps::Full(_) => k::Peepholes::Full { i, f, o },
                Peeps::Diagonal(_) => k::Peepholes::Diagonal { i, f, o },
            },
        };
        // A batch-major input arrives as a transposed view (see
        // `run_batch_major`); the kernel reorders it on its own threads.
        let (xs, layout) = if xs.is_contiguous() {
            (Contiguous(xs.shallow_clone()), k::Layout::TimeMajor)
        } else if xs.f_transpose(0, 1)?.is_contiguous() {
            (Contiguous(xs.f_transpose(0, 1)?), k::Layout::BatchMajor)
        } else {
            (keep(xs)?, k::Layout::TimeMajor)
        };
        let (h0, c0) = (keep(&state.h)?, keep(&state.c)?);
        let seq = k::Sequence {
            steps: steps as usize,
            batch: batch as usize,
            layout,
            xs: xs.slice(),
            h0: h0.slice(),
            c0: c0.slice(),
        };
        let options = (Kind::Float, Device::Cpu);
        let mut outputs = Tensor::f_empty([steps, batch, units], options)?;
        let mut c = Tensor::f_empty([batch, units], options)?;
        let threads = tch::get_num_threads().max(1) as usize;
        lstm.forward(
            &seq,
            threads,
            output_slice(&mut outputs),
            output_slice(&mut c),
        )
        .map_err(|e| NnError::input("peephole LSTM", e.to_string()))?;
        let h = outputs.f_get(steps - 1)?;
        Ok(Some((outputs, LstmState { h, c })))
    }
}

#[cfg(test)]
mod tests {
    use crate::links::{Peephole, Recurrent, peephole_lstm};
    use tch::{Device, Kind, Tensor, nn::VarStore};

    #[test]
    fn runs_for_cpu_f32_only() {
        let mut vs = VarStore::new(Device::Cpu);
        let lstm = peephole_lstm(&vs.root(), 3, 4, Peephole::Full);
        let xs = Tensor::randn([2, 1, 3], (Kind::Float, Device::Cpu));
        let state = lstm.zero_state(1).unwrap();
        assert!(lstm.seq_cpu_kernel(&xs, &state).unwrap().is_some());
        vs.double();
        let state = lstm.zero_state(1).unwrap();
        let xs = xs.to_kind(Kind::Double);
        assert!(lstm.seq_cpu_kernel(&xs, &state).unwrap().is_none());
    }
}

//! `L.StatefulPeepholeLSTM` (chainer/links/rnn/peephole.py) and a Gers-style
//! variant with diagonal peepholes.
//!
//! Chainer's peepholes are full H×H Linear links without bias (`peep_i`,
//! `peep_f`, `peep_o`, each `<name>/W`), applied to c_{t-1} for the input and
//! forget gates and to the new c_t for the output gate. Gers & Schmidhuber's
//! original peepholes are per-unit weights (a vector each); the diagonal
//! variant stores them as `<path>/peep_i`, `<path>/peep_f`, `<path>/peep_o`
//! of shape (H).

use crate::error::Result;
use crate::link::{Link, Mode, ops_are_recorded};
use crate::links::linear::{Linear, linear, linear_nobias};
use crate::links::lstm::{LstmState, split_gates};
use crate::links::recurrent::Recurrent;
use tch::Tensor;

mod fused;
mod kernel;

/// How the cell state feeds the gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Peephole {
    /// Chainer's: full H×H matrices.
    #[default]
    Full,
    /// Gers': one weight per unit.
    Diagonal,
}

#[derive(Debug)]
enum Peeps {
    Full([Linear; 3]),
    Diagonal([Tensor; 3]),
}

#[derive(Debug)]
pub struct PeepholeLstm {
    pub upward: Linear,
    pub lateral: Linear,
    peeps: Peeps,
}

pub fn peephole_lstm(
    path: &tch::nn::Path,
    in_size: i64,
    out_size: i64,
    kind: Peephole,
) -> PeepholeLstm {
    let peeps = match kind {
        Peephole::Full => Peeps::Full(
            ["peep_i", "peep_f", "peep_o"]
                .map(|name| linear_nobias(&(path / name), out_size, out_size)),
        ),
        Peephole::Diagonal => Peeps::Diagonal(
            ["peep_i", "peep_f", "peep_o"]
                .map(|name| crate::init::param(path, name, &[out_size], tch::nn::Init::Const(0.0))),
        ),
    };
    PeepholeLstm {
        upward: linear(&(path / "upward"), in_size, 4 * out_size),
        lateral: linear_nobias(&(path / "lateral"), out_size, 4 * out_size),
        peeps,
    }
}

impl PeepholeLstm {
    pub fn out_size(&self) -> i64 {
        self.lateral.in_size()
    }

    pub fn peephole(&self) -> Peephole {
        match self.peeps {
            Peeps::Full(_) => Peephole::Full,
            Peeps::Diagonal(_) => Peephole::Diagonal,
        }
    }

    /// Peephole g (0 i, 1 f, 2 o) applied to a cell state.
    fn peep(&self, gate: usize, c: &Tensor) -> Result<Tensor> {
        match &self.peeps {
            Peeps::Full(links) => links[gate].f_forward(c, Mode::Test),
            Peeps::Diagonal(weights) => Ok(c.f_mul(&weights[gate])?),
        }
    }
}

impl Recurrent for PeepholeLstm {
    type State = LstmState;

    fn zero_state(&self, batch: i64) -> Result<LstmState> {
        LstmState::zeros(&self.upward.weight, batch, self.out_size())
    }

    fn step(&self, x: &Tensor, state: &LstmState) -> Result<LstmState> {
        self.step_projected(&self.upward.f_forward(x, Mode::Test)?, state)
    }

    /// A whole sequence. Without autograd: zoo-kernels' fused kernel on the
    /// CPU in f32 ([`kernel`]), else libtorch calls arranged for speed
    /// ([`fused`]). With autograd or while tracing: one `step` per time
    /// step, after projecting all inputs in one matmul.
    fn seq(&self, xs: &Tensor, state: LstmState) -> Result<(Tensor, LstmState)> {
        let size = xs.size();
        if size.len() != 3 || size[0] == 0 {
            // The default reports the shape or the empty sequence.
            return crate::links::recurrent::step_by_step(self, xs, state);
        }
        // Traces and autograd need every op recorded: the kernel runs
        // outside libtorch, and the fused loop writes buffers in place.
        let mut inputs = self.tensors();
        inputs.extend([xs, &state.h, &state.c]);
        if !ops_are_recorded(&inputs)? {
            if let Some(done) = self.seq_cpu_kernel(xs, &state)? {
                return Ok(done);
            }
            return self.seq_inference(xs, &state);
        }
        let projected = self
            .upward
            .f_forward(&xs.f_reshape([size[0] * size[1], size[2]])?, Mode::Test)?
            .f_reshape([size[0], size[1], -1])?;
        let mut state = state;
        let mut outputs = Vec::with_capacity(size[0] as usize);
        for t in 0..size[0] {
            state = self.step_projected(&projected.f_get(t)?, &state)?;
            outputs.push(state.h.shallow_clone());
        }
        Ok((Tensor::f_stack(&outputs, 0)?, state))
    }

    fn output(&self, state: &LstmState) -> Tensor {
        state.h.shallow_clone()
    }
}

impl PeepholeLstm {
    /// Every parameter tensor.
    fn tensors(&self) -> Vec<&Tensor> {
        let mut all = vec![&self.upward.weight, &self.lateral.weight];
        all.extend(self.upward.bias.as_ref());
        match &self.peeps {
            Peeps::Full(links) => all.extend(links.iter().map(|l| &l.weight)),
            Peeps::Diagonal(weights) => all.extend(weights.iter()),
        }
        all
    }

    /// One step from the input's projection `upward(x)` (batch, 4·out).
    fn step_projected(&self, upward_x: &Tensor, state: &LstmState) -> Result<LstmState> {
        let z = upward_x.f_add(&self.lateral.f_forward(&state.h, Mode::Test)?)?;
        let [a, i, f, o] = split_gates(&z)?;
        let i = i.f_add(&self.peep(0, &state.c)?)?.f_sigmoid()?;
        let f = f.f_add(&self.peep(1, &state.c)?)?.f_sigmoid()?;
        let c = a.f_tanh()?.f_mul(&i)?.f_add(&f.f_mul(&state.c)?)?;
        let o = o.f_add(&self.peep(2, &c)?)?.f_sigmoid()?;
        let h = o.f_mul(&c.f_tanh()?)?;
        Ok(LstmState { h, c })
    }
}

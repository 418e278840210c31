//! `L.LSTM`: `upward` Linear in→4H (with bias), `lateral` Linear H→4H (no
//! bias). The 4H pre-activations are interleaved per unit — row 4k+g belongs
//! to unit k, gate g = 0 a (cell input, tanh), 1 i, 2 f, 3 o — which is
//! Chainer's `F.lstm` layout, not PyTorch's blocked one.

use crate::error::Result;
use crate::link::{Link, Mode};
use crate::links::linear::{Linear, linear, linear_nobias};
use crate::links::recurrent::Recurrent;
use tch::Tensor;

#[derive(Debug)]
pub struct LstmState {
    pub h: Tensor,
    pub c: Tensor,
}

impl LstmState {
    /// h = c = 0 of (batch, size), on the device and dtype of `like` (the
    /// link's input weight): the start of a sequence.
    pub(crate) fn zeros(like: &Tensor, batch: i64, size: i64) -> Result<Self> {
        let h = zeros_like_param(like, batch, size)?;
        Ok(LstmState {
            c: h.zeros_like(),
            h,
        })
    }
}

#[derive(Debug)]
pub struct Lstm {
    pub upward: Linear,
    pub lateral: Linear,
}

/// Initialised as Chainer's L.LSTM: forget-gate biases 1, the others 0.
pub fn lstm(path: &tch::nn::Path, in_size: i64, out_size: i64) -> Lstm {
    let upward = linear(&(path / "upward"), in_size, 4 * out_size);
    if let Some(bias) = &upward.bias {
        tch::no_grad(|| {
            let mut forget = bias.view([out_size, 4]).select(1, 2);
            let _ = forget.fill_(1.0);
        });
    }
    Lstm {
        upward,
        lateral: linear_nobias(&(path / "lateral"), out_size, 4 * out_size),
    }
}

/// Splits interleaved (B, 4H) pre-activations into the a, i, f, o gates.
pub(crate) fn split_gates(z: &Tensor) -> Result<[Tensor; 4]> {
    let size = z.size();
    let z = z.f_reshape([size[0], size[1] / 4, 4])?;
    Ok([
        z.f_select(2, 0)?,
        z.f_select(2, 1)?,
        z.f_select(2, 2)?,
        z.f_select(2, 3)?,
    ])
}

/// A zero (batch, size) tensor on the device and dtype of `like`.
pub(crate) fn zeros_like_param(like: &Tensor, batch: i64, size: i64) -> Result<Tensor> {
    Ok(Tensor::f_zeros(
        [batch, size],
        (like.kind(), like.device()),
    )?)
}

impl Lstm {
    pub fn out_size(&self) -> i64 {
        self.lateral.in_size()
    }
}

impl Recurrent for Lstm {
    type State = LstmState;

    fn zero_state(&self, batch: i64) -> Result<LstmState> {
        LstmState::zeros(&self.upward.weight, batch, self.out_size())
    }

    /// Chainer skips `lateral` on the first step; with no bias and h = 0 the
    /// result is the same, so the zero state needs no special case.
    fn step(&self, x: &Tensor, state: &LstmState) -> Result<LstmState> {
        let z = self
            .upward
            .f_forward(x, Mode::Test)?
            .f_add(&self.lateral.f_forward(&state.h, Mode::Test)?)?;
        let [a, i, f, o] = split_gates(&z)?;
        let c = a
            .f_tanh()?
            .f_mul(&i.f_sigmoid()?)?
            .f_add(&f.f_sigmoid()?.f_mul(&state.c)?)?;
        let h = o.f_sigmoid()?.f_mul(&c.f_tanh()?)?;
        Ok(LstmState { h, c })
    }

    fn output(&self, state: &LstmState) -> Tensor {
        state.h.shallow_clone()
    }
}

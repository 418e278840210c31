//! Chainer's GRU (`L.StatelessGRU` / `L.StatefulGRU`): six Linear links with
//! bias, `W_r`, `W_z`, `W` (in→H) and `U_r`, `U_z`, `U` (H→H):
//!
//! r = σ(W_r x + U_r h), z = σ(W_z x + U_z h), h̄ = tanh(W x + U(r⊙h)),
//! h' = z⊙h̄ + (1−z)⊙h.
//!
//! StatefulGRU's first step (no state yet) drops every `U` term — biases
//! included — and returns z⊙h̄, which differs from the stateless formula with
//! h = 0 whenever the `U` biases are non-zero. [`GruState::fresh`] keeps that
//! distinction.

use crate::error::Result;
use crate::link::{Link, Mode};
use crate::links::linear::{Linear, linear};
use crate::links::lstm::zeros_like_param;
use crate::links::recurrent::Recurrent;
use tch::Tensor;

#[derive(Debug)]
pub struct GruState {
    pub h: Tensor,
    /// True before the first step of a stateful GRU (Chainer's `h is None`).
    pub fresh: bool,
}

impl GruState {
    /// An explicit hidden state, StatelessGRU's `h` argument.
    pub fn from_h(h: Tensor) -> Self {
        Self { h, fresh: false }
    }
}

#[derive(Debug)]
pub struct Gru {
    pub w_r: Linear,
    pub u_r: Linear,
    pub w_z: Linear,
    pub u_z: Linear,
    pub w: Linear,
    pub u: Linear,
}

pub fn gru(path: &tch::nn::Path, in_size: i64, out_size: i64) -> Gru {
    Gru {
        w_r: linear(&(path / "W_r"), in_size, out_size),
        u_r: linear(&(path / "U_r"), out_size, out_size),
        w_z: linear(&(path / "W_z"), in_size, out_size),
        u_z: linear(&(path / "U_z"), out_size, out_size),
        w: linear(&(path / "W"), in_size, out_size),
        u: linear(&(path / "U"), out_size, out_size),
    }
}

impl Recurrent for Gru {
    type State = GruState;

    fn zero_state(&self, batch: i64) -> Result<GruState> {
        let h = zeros_like_param(&self.w.weight, batch, self.u.in_size())?;
        Ok(GruState { h, fresh: true })
    }

    fn step(&self, x: &Tensor, state: &GruState) -> Result<GruState> {
        let m = Mode::Test;
        let h = &state.h;
        if state.fresh {
            let z = self.w_z.f_forward(x, m)?.f_sigmoid()?;
            let h_bar = self.w.f_forward(x, m)?.f_tanh()?;
            return Ok(GruState::from_h(z.f_mul(&h_bar)?));
        }
        let r = self
            .w_r
            .f_forward(x, m)?
            .f_add(&self.u_r.f_forward(h, m)?)?
            .f_sigmoid()?;
        let z = self
            .w_z
            .f_forward(x, m)?
            .f_add(&self.u_z.f_forward(h, m)?)?
            .f_sigmoid()?;
        let h_bar = self
            .w
            .f_forward(x, m)?
            .f_add(&self.u.f_forward(&r.f_mul(h)?, m)?)?
            .f_tanh()?;
        // linear_interpolate(z, h̄, h) = z h̄ + (1 − z) h
        let h_new = z
            .f_mul(&h_bar)?
            .f_add(&z.f_neg()?.f_add_scalar(1.0)?.f_mul(h)?)?;
        Ok(GruState::from_h(h_new))
    }

    fn output(&self, state: &GruState) -> Tensor {
        state.h.shallow_clone()
    }
}

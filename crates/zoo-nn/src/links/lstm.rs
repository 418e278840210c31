//! `L.LSTM`: `upward` Linear in→4H (with bias), `lateral` Linear H→4H (no
//! bias). The 4H pre-activations are interleaved per unit — row 4k+g belongs
//! to unit k, gate g = 0 a (cell input, tanh), 1 i, 2 f, 3 o — which is
//! Chainer's `F.lstm` layout, not PyTorch's blocked one.

use crate::error::{NnError, Result};
use crate::init::Initializer;
use crate::link::{Link, Mode};
use crate::links::linear::{Linear, LinearConfig, linear_with};
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

/// Chainer's keyword arguments of `L.LSTM`: `bias_init` is for the a, i
/// and o gates' biases, `forget_bias_init` for the f gate's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LstmConfig {
    pub upward_init: Initializer,
    pub lateral_init: Initializer,
    pub bias_init: Initializer,
    pub forget_bias_init: Initializer,
}

impl Default for LstmConfig {
    fn default() -> Self {
        Self {
            upward_init: Initializer::LeCunNormal,
            lateral_init: Initializer::LeCunNormal,
            bias_init: Initializer::Constant(0.0),
            forget_bias_init: Initializer::Constant(1.0),
        }
    }
}

/// Initialised as Chainer's L.LSTM: forget-gate biases 1, the others 0.
pub fn lstm(path: &tch::nn::Path, in_size: i64, out_size: i64) -> Lstm {
    lstm_with(path, in_size, out_size, LstmConfig::default())
}

/// An LSTM link built with Chainer's keyword arguments.
pub fn lstm_with(path: &tch::nn::Path, in_size: i64, out_size: i64, config: LstmConfig) -> Lstm {
    let upward_config = LinearConfig {
        initial_w: config.upward_init,
        initial_bias: config.bias_init,
        ..LinearConfig::default()
    };
    let upward = linear_with(&(path / "upward"), in_size, 4 * out_size, upward_config);
    if let Some(bias) = &upward.bias {
        init_forget_gates(bias, out_size, config.forget_bias_init);
    }
    let lateral_config = LinearConfig {
        nobias: true,
        initial_w: config.lateral_init,
        ..LinearConfig::default()
    };
    Lstm {
        upward,
        lateral: linear_with(&(path / "lateral"), out_size, 4 * out_size, lateral_config),
    }
}

/// Overwrites the f gate's rows (4k+2) of an interleaved bias.
fn init_forget_gates(bias: &Tensor, out_size: i64, initializer: Initializer) {
    let values = tch::nn::init(
        initializer.for_shape(&[out_size]),
        &[out_size],
        bias.device(),
    );
    tch::no_grad(|| {
        let mut forget = bias.view([out_size, 4]).select(1, 2);
        forget.copy_(&values.to_kind(bias.kind()));
    });
}

/// PyTorch's gate blocks i, f, g, o → Chainer's interleaved a (= g), i, f, o.
const TORCH_BLOCK_OF_CHAINER_GATE: [i64; 4] = [2, 0, 1, 3];

/// One PyTorch LSTM parameter (4H rows in gate blocks i, f, g, o) with its
/// rows in this link's order (row 4k+g: unit k, gate a, i, f, o).
fn torch_rows_to_chainer(name: &str, t: &Tensor) -> Result<Tensor> {
    let size = t.size();
    let rows = size.first().copied().unwrap_or(0);
    if rows == 0 || rows % 4 != 0 {
        return Err(NnError::input(
            name,
            format!("expected 4·H rows of gate blocks i, f, g, o, got shape {size:?}"),
        ));
    }
    let mut blocked = vec![4, rows / 4];
    blocked.extend_from_slice(&size[1..]);
    let order = Tensor::from_slice(&TORCH_BLOCK_OF_CHAINER_GATE).to_device(t.device());
    Ok(t.f_reshape(&blocked)?
        .f_index_select(0, &order)?
        .f_transpose(0, 1)?
        .f_contiguous()?
        .f_reshape(&size)?)
}

/// A PyTorch (and tch `nn::lstm`) single-layer LSTM's parameters.
#[derive(Debug)]
pub struct TorchLstmParams<'a> {
    /// `weight_ih_l0`, (4H, in).
    pub weight_ih: &'a Tensor,
    /// `weight_hh_l0`, (4H, H).
    pub weight_hh: &'a Tensor,
    /// `bias_ih_l0`, (4H).
    pub bias_ih: &'a Tensor,
    /// `bias_hh_l0`, (4H).
    pub bias_hh: &'a Tensor,
}

/// The same LSTM as this link's parameters, named relative to the link
/// (`upward/W`, `upward/b`, `lateral/W`): rows interleaved per unit, and
/// the two biases summed into `upward/b` (they are only ever added).
pub fn lstm_params_from_torch(torch: &TorchLstmParams) -> Result<Vec<(&'static str, Tensor)>> {
    let bias = torch.bias_ih.f_add(torch.bias_hh)?;
    Ok(vec![
        (
            "upward/W",
            torch_rows_to_chainer("weight_ih", torch.weight_ih)?,
        ),
        ("upward/b", torch_rows_to_chainer("bias", &bias)?),
        (
            "lateral/W",
            torch_rows_to_chainer("weight_hh", torch.weight_hh)?,
        ),
    ])
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

//! The timing model: zoo-nn's `peephole_lstm` link (Chainer's
//! `StatefulPeepholeLSTM`: gates interleaved per unit, full H×H peephole
//! matrices; or Gers' diagonal peepholes as an option) followed by a linear
//! readout that emits one spike logit per step.
//!
//! The recurrent layer lives in zoo-nn so that there is one implementation;
//! this module only adds the readout, the input checks and the initialisation
//! the timing recipe trains from.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};
use zoo_nn::links::{Linear, Peephole, PeepholeLstm, Recurrent, linear, peephole_lstm};
use zoo_nn::{Link, Mode};

/// Full matrices (Chainer) or per-unit vectors (Gers et al. 2002): the
/// package config's spelling of [`Peephole`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Peepholes {
    #[default]
    Full,
    Diagonal,
}

impl From<Peepholes> for Peephole {
    fn from(peepholes: Peepholes) -> Self {
        match peepholes {
            Peepholes::Full => Peephole::Full,
            Peepholes::Diagonal => Peephole::Diagonal,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PeepholeConfig {
    pub input_size: i64,
    pub hidden: i64,
    #[serde(default)]
    pub peepholes: Peepholes,
}

impl Default for PeepholeConfig {
    fn default() -> Self {
        PeepholeConfig {
            input_size: 1,
            hidden: 16,
            peepholes: Peepholes::Full,
        }
    }
}

/// Runs a peephole LSTM over a batch-major (B, T, I) sequence from the zero
/// state; returns h for every step, (B, T, H).
pub fn run_batch_major(lstm: &PeepholeLstm, x: &Tensor) -> Result<Tensor> {
    let (h, _) = lstm.seq_init(&x.f_transpose(0, 1)?)?;
    Ok(h.f_transpose(0, 1)?)
}

/// Peephole LSTM `lstm/…` + linear readout `out/W`, `out/b`: one spike logit per step.
#[derive(Debug)]
pub struct TimingModel {
    pub config: PeepholeConfig,
    pub lstm: PeepholeLstm,
    out: Linear,
}

impl TimingModel {
    pub fn new(path: &nn::Path, config: PeepholeConfig) -> Self {
        let lstm = peephole_lstm(
            &path.sub("lstm"),
            config.input_size,
            config.hidden,
            config.peepholes.into(),
        );
        let out = linear(&path.sub("out"), config.hidden, 1);
        open_forget_gates(&lstm);
        TimingModel { config, lstm, out }
    }

    /// Checks a (B, T, I) float sequence with T ≥ 1.
    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        let size = x.size();
        if size.len() != 3 || size[2] != self.config.input_size {
            return Err(ModelError::input(
                "x",
                format!(
                    "expected shape [N, T, {}], got {size:?}",
                    self.config.input_size
                ),
            ));
        }
        if size[0] == 0 || size[1] == 0 {
            return Err(ModelError::input("x", "empty sequence"));
        }
        Ok(())
    }

    /// Spike logits, (B, T).
    pub fn logits(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        let (batch, steps) = (x.size()[0], x.size()[1]);
        let h = run_batch_major(&self.lstm, &x.to_kind(Kind::Float))?;
        // Linear flattens from axis 1, so the readout sees one step per row.
        let rows = h.f_reshape([batch * steps, self.config.hidden])?;
        Ok(self
            .out
            .f_forward(&rows, Mode::Test)?
            .f_view([batch, steps])?)
    }
}

/// Forget-gate biases (rows 4k+2 of `upward/b`) start at 1 so that the cell
/// keeps the first spike's trace across the interval (Gers et al. 2000);
/// Chainer's default of 0 halves the memory every step at first.
fn open_forget_gates(lstm: &PeepholeLstm) {
    if let Some(bias) = &lstm.upward.bias {
        let hidden = bias.size()[0] / 4;
        tch::no_grad(|| {
            let _ = bias.view([hidden, 4]).select(1, 2).fill_(1.0);
        });
    }
}

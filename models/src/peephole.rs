//! The timing model: Chainer's `StatefulPeepholeLSTM` (gates interleaved per
//! unit, full H×H peephole matrices; or Gers' diagonal peepholes as an
//! option) followed by a linear readout that emits one spike logit per step.
//!
//! Equations (chainer.md): z = upward(x) + lateral(h) (no lateral term on the
//! first step, c₀ = 0), split per unit into a, i, f, o;
//! a = tanh(a); i = σ(i + peep_i(c)); f = σ(f + peep_f(c)); c' = a·i + f·c;
//! o = σ(o + peep_o(c')); h' = o·tanh(c').

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};

/// Full matrices (Chainer) or per-unit vectors (Gers et al. 2002).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Peepholes {
    #[default]
    Full,
    Diagonal,
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

/// The recurrent layer, parameters `lstm/upward/W`, `lstm/upward/b`,
/// `lstm/lateral/W`, `lstm/peep_{i,f,o}/W`.
#[derive(Debug)]
pub struct PeepholeLstm {
    pub hidden: i64,
    pub peepholes: Peepholes,
    upward_w: Tensor,
    upward_b: Tensor,
    lateral_w: Tensor,
    peep_i: Tensor,
    peep_f: Tensor,
    peep_o: Tensor,
}

impl PeepholeLstm {
    pub fn new(path: &nn::Path, input_size: i64, hidden: i64, peepholes: Peepholes) -> Self {
        let bound = 1.0 / (hidden as f64).sqrt();
        let uniform = nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let up = path.sub("upward");
        let upward_w = up.var("W", &[4 * hidden, input_size], uniform);
        // Forget gates (row 4k+2) start open, the usual trick for long memories.
        let bias: Vec<f32> = (0..4 * hidden)
            .map(|r| if r % 4 == 2 { 1.0 } else { 0.0 })
            .collect();
        let upward_b = up.var_copy("b", &Tensor::from_slice(&bias));
        let lateral_w = path.sub("lateral").var("W", &[4 * hidden, hidden], uniform);
        let peep_shape: Vec<i64> = match peepholes {
            Peepholes::Full => vec![hidden, hidden],
            Peepholes::Diagonal => vec![hidden],
        };
        let peep = |name: &str| path.sub(name).var("W", &peep_shape, uniform);
        PeepholeLstm {
            hidden,
            peepholes,
            upward_w,
            upward_b,
            lateral_w,
            peep_i: peep("peep_i"),
            peep_f: peep("peep_f"),
            peep_o: peep("peep_o"),
        }
    }

    fn peep(&self, weight: &Tensor, c: &Tensor) -> Tensor {
        match self.peepholes {
            Peepholes::Full => c.linear::<Tensor>(weight, None),
            Peepholes::Diagonal => c * weight,
        }
    }

    /// Runs over a (B, T, I) sequence from the zero state; returns h for every step, (B, T, H).
    ///
    /// The packed weights are re-ordered once per call from Chainer's
    /// interleaved gate rows (4k+g) into blocks (g·H+k), so that each step's
    /// gates are contiguous column blocks; the input and forget peepholes
    /// (both on c_{t−1}) share one matmul.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (batch, steps) = (x.size()[0], x.size()[1]);
        let h_size = self.hidden;
        let blocked = |w: &Tensor| {
            let cols = w.size()[1];
            w.view([h_size, 4, cols])
                .transpose(0, 1)
                .reshape([4 * h_size, cols])
        };
        let upward_w = blocked(&self.upward_w);
        let upward_b = self
            .upward_b
            .view([h_size, 4])
            .transpose(0, 1)
            .reshape([4 * h_size]);
        let lateral_w = blocked(&self.lateral_w);
        let peep_if = match self.peepholes {
            Peepholes::Full => Some(Tensor::cat(&[&self.peep_i, &self.peep_f], 0)),
            Peepholes::Diagonal => None,
        };
        let up = x.linear(&upward_w, Some(&upward_b)); // (B, T, 4H), blocked
        let mut c = Tensor::zeros([batch, h_size], (Kind::Float, x.device()));
        let mut h: Option<Tensor> = None;
        let mut outputs = Vec::with_capacity(steps as usize);
        for t in 0..steps {
            let z = match &h {
                Some(h) => up.select(1, t) + h.linear::<Tensor>(&lateral_w, None),
                None => up.select(1, t),
            };
            let gates = z.chunk(4, 1);
            let (peep_i, peep_f) = match &peep_if {
                Some(w) => {
                    let both = c.linear::<Tensor>(w, None).chunk(2, 1);
                    (both[0].shallow_clone(), both[1].shallow_clone())
                }
                None => (&c * &self.peep_i, &c * &self.peep_f),
            };
            let a = gates[0].tanh();
            let i = (&gates[1] + peep_i).sigmoid();
            let f = (&gates[2] + peep_f).sigmoid();
            c = a * i + f * &c;
            let o = (&gates[3] + self.peep(&self.peep_o, &c)).sigmoid();
            let h_new = o * c.tanh();
            outputs.push(h_new.shallow_clone());
            h = Some(h_new);
        }
        Tensor::stack(&outputs, 1)
    }
}

/// Peephole LSTM + linear readout `out/W`, `out/b`: one spike logit per step.
#[derive(Debug)]
pub struct TimingModel {
    pub config: PeepholeConfig,
    pub lstm: PeepholeLstm,
    out_w: Tensor,
    out_b: Tensor,
}

impl TimingModel {
    pub fn new(path: &nn::Path, config: PeepholeConfig) -> Self {
        let lstm = PeepholeLstm::new(
            &path.sub("lstm"),
            config.input_size,
            config.hidden,
            config.peepholes,
        );
        let bound = 1.0 / (config.hidden as f64).sqrt();
        let out = path.sub("out");
        let out_w = out.var(
            "W",
            &[1, config.hidden],
            nn::Init::Uniform {
                lo: -bound,
                up: bound,
            },
        );
        let out_b = out.var("b", &[1], nn::Init::Const(0.0));
        TimingModel {
            config,
            lstm,
            out_w,
            out_b,
        }
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
        let h = self.lstm.forward(&x.to_kind(Kind::Float));
        Ok(h.linear(&self.out_w, Some(&self.out_b)).squeeze_dim(2))
    }
}

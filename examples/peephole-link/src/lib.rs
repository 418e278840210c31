//! `peephole-link`: the peephole LSTM of Chainer Meetup #03's timing task as
//! one Link, published to zoo's Cargo registry.
//!
//! [`PeepholeTimer`] runs zoo-nn's `peephole_lstm` (Chainer's
//! `StatefulPeepholeLSTM`, full H×H peepholes) over a batch-major sequence
//! from a zero state and reads one logit per step out with a linear map.
//! Its parameters carry the names of the `peephole-lstm` model package
//! (`lstm/upward/W`, `lstm/peep_i/W`, …, `out/W`, `out/b`), so that
//! package's trained weights load into it by name.

use zoo_nn::links::{Linear, Peephole, PeepholeLstm, Recurrent, linear, peephole_lstm};
use zoo_nn::tch::{Tensor, nn};
use zoo_nn::{Link, Mode, NnError, Result};

/// (N, T, input_size) → (N, T) logits; a step "spikes" where its logit ≥ 0.
#[derive(Debug)]
pub struct PeepholeTimer {
    pub lstm: PeepholeLstm,
    pub out: Linear,
    input_size: i64,
    hidden: i64,
}

impl PeepholeTimer {
    /// Parameters under `path/lstm` and `path/out`.
    pub fn new(path: &nn::Path, input_size: i64, hidden: i64) -> Self {
        PeepholeTimer {
            lstm: peephole_lstm(&(path / "lstm"), input_size, hidden, Peephole::Full),
            out: linear(&(path / "out"), hidden, 1),
            input_size,
            hidden,
        }
    }
}

impl Link for PeepholeTimer {
    fn f_forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        let shape = x.size();
        if shape.len() != 3 || shape[2] != self.input_size || shape[0] == 0 || shape[1] == 0 {
            return Err(NnError::input(
                "x",
                format!(
                    "expected a non-empty (N, T, {}) sequence, got shape {shape:?}",
                    self.input_size
                ),
            ));
        }
        let (batch, steps) = (shape[0], shape[1]);
        // The recurrent link is time-major: (T, N, I) in, (T, N, H) out.
        let (h, _) = self.lstm.seq_init(&x.f_transpose(0, 1)?)?;
        let rows = h
            .f_transpose(0, 1)?
            .f_reshape([batch * steps, self.hidden])?;
        self.out
            .f_forward(&rows, mode)?
            .f_view([batch, steps])
            .map_err(NnError::from)
    }
}

/// The steps whose logit is ≥ 0, for each sequence of the batch.
pub fn spikes(logits: &Tensor) -> Result<Vec<Vec<i64>>> {
    let fired = logits.f_ge(0.0)?;
    let (batch, steps) = (fired.size()[0], fired.size()[1]);
    let flags = Vec::<bool>::try_from(fired.f_reshape([-1])?)?;
    Ok((0..batch as usize)
        .map(|row| {
            (0..steps)
                .filter(|&t| flags[row * steps as usize + t as usize])
                .collect()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use zoo_nn::tch::{Device, Kind, nn::VarStore};

    #[test]
    fn forward_maps_sequences_to_one_logit_per_step() {
        let vs = VarStore::new(Device::Cpu);
        let timer = PeepholeTimer::new(&vs.root(), 1, 16);
        let x = Tensor::zeros([3, 20, 1], (Kind::Float, Device::Cpu));
        let y = timer.f_forward(&x, Mode::Test).unwrap();
        assert_eq!(y.size(), [3, 20]);
        // Identical sequences give identical rows.
        assert!(y.get(0).allclose(&y.get(2), 0.0, 0.0, false));
    }

    #[test]
    fn parameters_carry_the_peephole_lstm_package_names() {
        let vs = VarStore::new(Device::Cpu);
        let _timer = PeepholeTimer::new(&vs.root(), 1, 16);
        let mut names: Vec<String> = vs
            .variables()
            .into_keys()
            .map(|n| zoo_nn::params::to_file_name(&n))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "lstm/lateral/W",
                "lstm/peep_f/W",
                "lstm/peep_i/W",
                "lstm/peep_o/W",
                "lstm/upward/W",
                "lstm/upward/b",
                "out/W",
                "out/b"
            ]
        );
    }

    #[test]
    fn a_wrong_shape_is_an_error_naming_x() {
        let vs = VarStore::new(Device::Cpu);
        let timer = PeepholeTimer::new(&vs.root(), 1, 4);
        let x = Tensor::zeros([2, 5, 3], (Kind::Float, Device::Cpu));
        let error = timer.f_forward(&x, Mode::Test).unwrap_err().to_string();
        assert!(error.contains("(N, T, 1)"), "{error}");
    }

    #[test]
    fn spikes_lists_the_steps_at_or_above_zero() {
        let logits = Tensor::from_slice(&[-1.0f32, 0.5, -0.2, 0.0, -3.0, -3.0]).view([2, 3]);
        assert_eq!(spikes(&logits).unwrap(), [vec![1], vec![0]]);
    }
}

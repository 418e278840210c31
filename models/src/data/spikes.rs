//! Interval reproduction (Gers et al.): two input spikes D steps apart, the
//! net must spike D steps after the second one. D ∈ [5, 25].

use crate::rng::{DataRng, Rng};
use tch::Tensor;

pub const STEPS: i64 = 64;
pub const MIN_INTERVAL: i64 = 5;
pub const MAX_INTERVAL: i64 = 25;
/// The first spike arrives in [0, FIRST_SPIKE_MAX).
pub const FIRST_SPIKE_MAX: i64 = 10;

/// Inputs (N, T, 1), the time of the second spike (N) and the target step (N).
pub struct SpikeBatch {
    pub inputs: Tensor,
    pub second: Tensor,
    pub target: Tensor,
}

pub fn batch(rng: &mut DataRng, n: usize) -> SpikeBatch {
    let t = STEPS as usize;
    let mut inputs = vec![0f32; n * t];
    let mut second = Vec::with_capacity(n);
    let mut target = Vec::with_capacity(n);
    for i in 0..n {
        let first = rng.gen_range(0..FIRST_SPIKE_MAX);
        let d = rng.gen_range(MIN_INTERVAL..=MAX_INTERVAL);
        inputs[i * t + first as usize] = 1.0;
        inputs[i * t + (first + d) as usize] = 1.0;
        second.push(first + d);
        target.push(first + 2 * d);
    }
    SpikeBatch {
        inputs: Tensor::from_slice(&inputs).view([n as i64, STEPS, 1]),
        second: Tensor::from_slice(&second),
        target: Tensor::from_slice(&target),
    }
}

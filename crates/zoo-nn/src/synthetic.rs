//! Deterministic "random" parameters that Rust and numpy reproduce bit for
//! bit (the formula and its Python twin: `zoo_graph::synthetic`), as tensors.

use tch::{Kind, Tensor};

pub use zoo_graph::synthetic::{fnv1a32, synthetic_values};

/// The parameter `key` with `shape` as an f32 CPU tensor.
pub fn synthetic_tensor(key: &str, shape: &[i64]) -> Tensor {
    Tensor::from_slice(&synthetic_values(key, shape))
        .reshape(shape)
        .to_kind(Kind::Float)
}

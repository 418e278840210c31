//! Fused CPU kernels for zoo's links, on plain `f32` slices.
//!
//! A recurrent link's time loop is a chain of small products and
//! element-wise steps; run as separate libtorch calls, dispatch, temporaries
//! and thread wake-ups cost more than the arithmetic. The kernels here run a
//! whole sequence in one call: each thread owns a block of hidden units, keeps
//! its slices of the weights hot in its cache, and meets the others at a
//! barrier only where a step needs the full state.
//!
//! zoo-nn calls them for CPU `f32` inference and keeps libtorch for
//! everything else (CUDA, other dtypes, autograd).

mod activation;
mod barrier;
pub mod peephole_lstm;

pub use peephole_lstm::{Layout, PeepholeLstm, Peepholes, Sequence};

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("{what}: expected {expected} values, got {got}")]
    Length {
        what: &'static str,
        expected: usize,
        got: usize,
    },
    #[error("{0}")]
    Shape(String),
}

pub type Result<T> = std::result::Result<T, KernelError>;

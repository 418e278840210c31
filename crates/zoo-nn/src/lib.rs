//! Chainer's user-facing ideas on libtorch.
//!
//! * a [`Link`] holds parameters (named by path, `conv1_1/W`) and child links;
//! * a chain is a link made of links (any struct holding links);
//! * a function is a parameter-free op on tensors ([`functions`]).
//!
//! Parameters live in a `tch::nn::VarStore`; tch separates path segments with
//! `.`, zoo's files (safetensors, Chainer npz) with `/`: [`params`] converts.

pub mod device;
pub mod error;
pub mod link;
pub mod model;
pub mod synthetic;

pub use device::parse_device;
pub use error::{NnError, Result};
pub use link::{Link, Mode};
pub use model::Model;

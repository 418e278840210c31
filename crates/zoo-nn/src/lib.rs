//! Chainer's user-facing ideas on libtorch.
//!
//! * a [`Link`] holds parameters (named by path, `conv1_1/W`) and child links;
//! * a chain is a link made of links (any struct holding links);
//! * a function is a parameter-free op on tensors ([`functions`]).
//!
//! Parameters live in a `tch::nn::VarStore`; tch separates path segments with
//! `.`, zoo's files (safetensors, Chainer npz) with `/`: [`params`] converts.
//!
//! [`links`] are Chainer 7.8.1's links with its parameter names and layouts,
//! [`functions`] its (and Caffe's, where they differ) parameter-free ops;
//! both are checked against Chainer's outputs by the golden tests in
//! `tests/`. [`parity`] compares a device against the CPU.

pub mod allocator;
pub mod device;
pub mod error;
pub mod functions;
pub mod graph;
pub mod guard;
pub mod init;
pub mod link;
pub mod links;
pub mod mkldnn;
pub mod model;
pub mod parallel;
pub mod params;
pub mod parity;
pub mod process;
pub mod synthetic;
pub mod torchscript;

pub use device::parse_device;
pub use error::{NnError, ParamMismatch, Result};
pub use link::{Link, Mode};
pub use model::{FiniteOutputs, Model};
/// The `tch` zoo-nn is built with, for Link crates outside this workspace
/// (`zoo_nn::tch::Tensor`): one version, no duplicate libtorch bindings.
pub use tch;

//! Synthetic data sets, each generated from a seeded [`crate::rng::DataRng`]
//! so that a seed reproduces every sample.

pub mod cells;
pub mod shapes;
pub mod spikes;
pub mod sprites;

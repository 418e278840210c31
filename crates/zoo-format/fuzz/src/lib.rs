//! zoo-format's fuzz targets ([`targets`]) and the seeded mutator that runs
//! them on stable Rust ([`mutate`]).

pub mod mutate;
pub mod targets;

//! zoo-nn's fuzz targets ([`targets`]) and the seeded mutator shared with
//! zoo-format's fuzz crate ([`mutate`]).

#[path = "../../../zoo-format/fuzz/src/mutate.rs"]
pub mod mutate;
pub mod targets;

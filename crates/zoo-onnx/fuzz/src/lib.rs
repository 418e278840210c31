//! The fuzzed reader, shared by the cargo-fuzz target and the stable smoke
//! runner (crates/zoo-onnx/tests/fuzz_smoke.rs includes the same files).

/// The seeded mutator shared with zoo-format's, zoo-nn's and zoo-caffe's fuzz crates.
#[path = "../../../zoo-format/fuzz/src/mutate.rs"]
pub mod mutate;
pub mod targets;

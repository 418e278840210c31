//! The cargo-fuzz target of crates/zoo-onnx/fuzz (the model reader) run on
//! stable Rust over its seeds, saved regressions and seeded mutations: what
//! libFuzzer finds (`cargo xtask fuzz onnx`) stays fixed. The files are
//! included by path; the fuzz crate itself builds only with cargo-fuzz.

#[path = "../../zoo-format/fuzz/src/mutate.rs"]
#[allow(dead_code)] // smoke_main is for the smoke binaries
mod mutate;
#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

const ITERATIONS: usize = 20_000;

#[test]
fn fuzz_targets_survive_seeds_regressions_and_mutations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    mutate::check_targets(targets::TARGETS, |t| targets::seeds(&dir, t), ITERATIONS);
}

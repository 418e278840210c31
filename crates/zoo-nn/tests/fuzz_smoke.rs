//! The cargo-fuzz targets of crates/zoo-nn/fuzz (npy, npz, safetensors
//! readers) run on stable Rust over their seeds, their saved regressions
//! and seeded mutations: what libFuzzer finds (`cargo xtask fuzz`) stays
//! fixed. The files are included by path; the fuzz crate itself builds only
//! with cargo-fuzz.

#[path = "../../zoo-format/fuzz/src/mutate.rs"]
mod mutate;
#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

const ITERATIONS: usize = 5_000;

#[test]
fn fuzz_targets_survive_seeds_regressions_and_mutations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, target) in targets::TARGETS {
        let seeds = targets::seeds(&dir, name);
        assert!(seeds.len() > 1, "{name}: no seeds in {}", dir.display());
        if let Err(input) = mutate::smoke(*target, &seeds, ITERATIONS, 0x5eed) {
            panic!("{name} panicked on {} bytes: {:?}", input.len(), input);
        }
    }
}

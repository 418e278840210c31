//! The cargo-fuzz targets of crates/zoo-nn/fuzz (npy, npz, safetensors
//! readers) run on stable Rust over their seeds, their saved regressions
//! and seeded mutations: what libFuzzer finds (`cargo xtask fuzz`) stays
//! fixed. The files are included by path; the fuzz crate itself builds only
//! with cargo-fuzz.

#[path = "../../zoo-format/fuzz/src/mutate.rs"]
#[allow(dead_code)] // smoke_main is for the smoke binaries
mod mutate;
#[path = "../fuzz/src/targets.rs"]
mod targets;

use std::path::Path;

const ITERATIONS: usize = 5_000;

#[test]
fn fuzz_targets_survive_seeds_regressions_and_mutations() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    mutate::check_targets(targets::TARGETS, |t| targets::seeds(&dir, t), ITERATIONS);
}

/// Found by the `npy` target: a dtype whose first character is multi-byte
/// (`'\u{359}'`) made the byte-order split panic; it is now refused.
#[test]
fn npy_with_a_multibyte_dtype_is_refused_not_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions/npy");
    let bytes = std::fs::read(dir.join("multibyte-dtype.npy")).unwrap();
    let error = zoo_nn::params::fuzzing::npy(&bytes).unwrap_err();
    assert!(error.contains("unsupported dtype"), "{error}");
}

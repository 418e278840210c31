//! The fuzzed functions: zoo-nn's npy, npz and safetensors readers on
//! in-memory bytes (`zoo_nn::params::fuzzing`, the code the file readers
//! run). Any input must give tensors or an error, never a panic. Shared by
//! the cargo-fuzz targets and the stable smoke runs (included by path from
//! crates/zoo-nn/tests/fuzz_smoke.rs).

use std::path::Path;

use zoo_nn::params::fuzzing;

/// Every target with the name of its seed directory.
pub const TARGETS: &[(&str, super::mutate::Target)] =
    &[("npy", npy), ("npz", npz), ("safetensors", safetensors)];

pub fn npy(data: &[u8]) {
    let _ = fuzzing::npy(data);
}

pub fn npz(data: &[u8]) {
    let _ = fuzzing::npz(data);
}

pub fn safetensors(data: &[u8]) {
    let _ = fuzzing::safetensors(data);
}

/// Seeds larger than this are skipped (mutating them is slow, and the
/// parsers' interesting parts are their headers).
const MAX_SEED: u64 = 64 << 10;

/// The seeds of `target`: `seeds/<target>/*`, `regressions/<target>/*`,
/// the golden npz files of zoo-nn's tests and the repository's small
/// weights files.
pub fn seeds(fuzz_dir: &Path, target: &str) -> Vec<Vec<u8>> {
    let mut dirs = vec![
        fuzz_dir.join("seeds").join(target),
        fuzz_dir.join("regressions").join(target),
    ];
    match target {
        "npz" => dirs.push(fuzz_dir.join("../tests/fixtures/golden")),
        "safetensors" => {
            let models = fuzz_dir.join("../../../models");
            for entry in std::fs::read_dir(models).into_iter().flatten().flatten() {
                dirs.push(entry.path());
            }
        }
        _ => {}
    }
    let mut seeds = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            let own = dir.ends_with(target);
            let small = entry
                .metadata()
                .is_ok_and(|m| m.is_file() && m.len() <= MAX_SEED);
            if small
                && (own || ext == target)
                && let Ok(bytes) = std::fs::read(&path)
            {
                seeds.push(bytes);
            }
        }
    }
    if seeds.is_empty() {
        seeds.push(Vec::new());
    }
    seeds
}

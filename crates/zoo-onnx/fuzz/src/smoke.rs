//! A bounded, seeded mutation run of the fuzz target on stable Rust (no
//! coverage feedback): `smoke [ITERATIONS]`. A panic exits 1 with the
//! offending input saved to `smoke-crash-onnx.bin`.

use std::path::Path;

use zoo_onnx_fuzz::{mutate::smoke_main, targets};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    smoke_main(targets::TARGETS, |t| targets::seeds(dir, t));
}

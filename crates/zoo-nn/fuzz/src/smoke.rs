//! `smoke [ITERATIONS]`: every target of this crate over its seeds and
//! ITERATIONS mutations each (default 20 000) on stable Rust; a panic
//! saves the input to `smoke-crash-<target>.bin` and exits 1.

use std::path::Path;

use zoo_nn_fuzz::mutate::smoke;
use zoo_nn_fuzz::targets::{TARGETS, seeds};

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::panic::set_hook(Box::new(|_| {}));
    for (name, target) in TARGETS {
        if let Err(input) = smoke(*target, &seeds(dir, name), iterations, 0x9e37_79b9) {
            let file = format!("smoke-crash-{name}.bin");
            let _ = std::fs::write(&file, &input);
            eprintln!("{name}: panic; input saved to {file}");
            std::process::exit(1);
        }
        println!("{name}: {iterations} mutated inputs, no panic");
    }
}

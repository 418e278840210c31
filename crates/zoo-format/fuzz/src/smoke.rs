//! `smoke [ITERATIONS]`: every target of this crate over its seeds and
//! ITERATIONS mutations each, on stable Rust (see `mutate::smoke_main`).

use std::path::Path;

use zoo_format_fuzz::mutate::smoke_main;
use zoo_format_fuzz::targets::{TARGETS, seeds};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    smoke_main(TARGETS, |target| seeds(dir, target));
}

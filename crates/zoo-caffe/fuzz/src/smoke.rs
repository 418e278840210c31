//! A bounded, seeded mutation run of the fuzz targets on stable Rust (no
//! coverage feedback): `smoke [ITERATIONS]`. Seeds are the committed
//! fixtures; the mutator is zoo-format's (`mutate::smoke_main`). A panic
//! exits 1 with the offending input saved to `smoke-crash-<target>.bin`.

use std::path::Path;

use zoo_caffe_fuzz::mutate::{Target, smoke_main};

const TARGETS: &[(&str, Target)] = &[
    ("caffemodel", zoo_caffe_fuzz::caffemodel),
    ("prototxt", zoo_caffe_fuzz::prototxt),
];

fn main() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    smoke_main(TARGETS, |ext| {
        let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&fixtures)
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .filter(|e| e.path().extension().is_some_and(|x| x == ext))
                    .filter_map(|e| std::fs::read(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if seeds.is_empty() {
            seeds.push(Vec::new());
        }
        seeds
    });
}

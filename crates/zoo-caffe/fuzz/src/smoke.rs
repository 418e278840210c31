//! A bounded, seeded mutation run of the fuzz targets on stable Rust (no
//! coverage feedback): `smoke [ITERATIONS]`. Seeds are the committed
//! fixtures; mutations flip, insert, delete and splice bytes and truncate.
//! A panic aborts with the offending input saved to `smoke-crash.bin`.

use std::path::Path;

/// xorshift64*: deterministic, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, seed: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 if at < data.len() => {
                data.remove(at);
            }
            3 => data.truncate(at),
            4 if at < data.len() => {
                data[at] = [0x00, 0x7f, 0x80, 0xff, b'{', b'}', b'"', b':'][rng.below(8)]
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let len = rng.below(64).min(other.len() - from);
                data.splice(at..at, other[from..from + len].iter().copied());
            }
        }
    }
    data
}

fn run(name: &str, target: fn(&[u8]), seeds: &[Vec<u8>], iterations: usize) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..iterations {
        let seed = &seeds[i % seeds.len()];
        let input = mutate(&mut rng, seed, seeds);
        let outcome = std::panic::catch_unwind(|| target(&input));
        if outcome.is_err() {
            let _ = std::fs::write("smoke-crash.bin", &input);
            eprintln!("{name}: panic on iteration {i}; input saved to smoke-crash.bin");
            std::process::exit(1);
        }
    }
    println!("{name}: {iterations} mutated inputs, no panic");
}

fn main() {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let read = |ext: &str| -> Vec<Vec<u8>> {
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
    };
    std::panic::set_hook(Box::new(|_| {}));
    run(
        "caffemodel",
        zoo_caffe_fuzz::caffemodel,
        &read("caffemodel"),
        iterations,
    );
    run(
        "prototxt",
        zoo_caffe_fuzz::prototxt,
        &read("prototxt"),
        iterations,
    );
}

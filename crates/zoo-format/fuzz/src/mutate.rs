//! A bounded, seeded mutation run of a fuzz target on stable Rust (no
//! coverage feedback): flips, inserts, deletes, truncates, splices and
//! "interesting" bytes over the seeds. Used by CI (the fuzz smoke tests of
//! zoo-format and zoo-nn include this file by path) and by the `smoke`
//! binaries of every fuzz crate (zoo-caffe's, zoo-nn's include it by path),
//! which `xtask fuzz` runs where no nightly toolchain is available.

use std::path::{Path, PathBuf};

/// A fuzzed function.
pub type Target = fn(&[u8]);

/// The files directly in `dirs` (missing ones are skipped) that `wanted`
/// keeps, read as seeds; one empty seed when there are none, so that every
/// target runs.
pub fn read_seeds(
    dirs: impl IntoIterator<Item = PathBuf>,
    wanted: impl Fn(&Path) -> bool,
) -> Vec<Vec<u8>> {
    let mut seeds = Vec::new();
    for dir in dirs {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if wanted(&path)
                && path.is_file()
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

/// xorshift64*: deterministic, no dependencies.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// Bytes that often sit on parser edges (lengths, quotes, brackets).
const INTERESTING: [u8; 12] = [
    0x00, 0x01, 0x7f, 0x80, 0xff, b'{', b'}', b'"', b':', b'[', b'\n', b'=',
];

/// One to eight random edits of `seed`, sometimes splicing in `others`.
pub fn mutate(rng: &mut Rng, seed: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seed.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(data.len() + 1);
        match rng.below(7) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => data.insert(at, rng.next() as u8),
            2 if at < data.len() => {
                data.remove(at);
            }
            3 => data.truncate(at),
            4 if at < data.len() => data[at] = INTERESTING[rng.below(INTERESTING.len())],
            5 if at + 8 <= data.len() => {
                // A length-like field set to an edge value.
                let edge = [0u64, 1, u32::MAX as u64, u64::MAX, 1 << 40][rng.below(5)];
                data[at..at + 8].copy_from_slice(&edge.to_le_bytes());
            }
            _ => {
                let other = &others[rng.below(others.len())];
                let from = rng.below(other.len());
                let len = rng.below(64).min(other.len() - from);
                data.splice(at..at, other[from..from + len].iter().copied());
            }
        }
    }
    data
}

/// Runs `target` on every seed, then on `iterations` mutated inputs.
/// Returns the first input that panicked.
pub fn smoke(
    target: Target,
    seeds: &[Vec<u8>],
    iterations: usize,
    seed: u64,
) -> Result<(), Vec<u8>> {
    let run = |input: &[u8]| std::panic::catch_unwind(|| target(input)).is_ok();
    for input in seeds {
        if !run(input) {
            return Err(input.clone());
        }
    }
    let mut rng = Rng(seed | 1);
    for i in 0..iterations {
        let input = mutate(&mut rng, &seeds[i % seeds.len()], seeds);
        if !run(&input) {
            return Err(input);
        }
    }
    Ok(())
}

/// For tests: every target over its seeds and `iterations` mutations;
/// panics naming the target and the input that panicked.
pub fn check_targets(
    targets: &[(&str, Target)],
    seeds: impl Fn(&str) -> Vec<Vec<u8>>,
    iterations: usize,
) {
    for (name, target) in targets {
        let seeds = seeds(name);
        assert!(seeds.len() > 1, "{name}: no seeds");
        if let Err(input) = smoke(*target, &seeds, iterations, 0x5eed) {
            panic!("{name} panicked on {} bytes: {:?}", input.len(), input);
        }
    }
}

/// For the `smoke` binaries: `smoke [ITERATIONS]` (default 20 000) over
/// every target; a panic saves the input to `smoke-crash-<target>.bin` and
/// exits 1.
pub fn smoke_main(targets: &[(&str, Target)], seeds: impl Fn(&str) -> Vec<Vec<u8>>) {
    let iterations: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    std::panic::set_hook(Box::new(|_| {}));
    for (name, target) in targets {
        if let Err(input) = smoke(*target, &seeds(name), iterations, 0x9e37_79b9) {
            let file = format!("smoke-crash-{name}.bin");
            let _ = std::fs::write(&file, &input);
            eprintln!("{name}: panic; input saved to {file}");
            std::process::exit(1);
        }
        println!("{name}: {iterations} mutated inputs, no panic");
    }
}

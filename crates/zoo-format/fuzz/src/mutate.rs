//! A bounded, seeded mutation run of a fuzz target on stable Rust (no
//! coverage feedback): flips, inserts, deletes, truncates, splices and
//! "interesting" bytes over the seeds. Used by CI (the fuzz smoke tests of
//! zoo-format and zoo-nn include this file by path) and by `xtask fuzz`
//! where no nightly toolchain is available.

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
    target: fn(&[u8]),
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

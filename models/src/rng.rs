//! The seeded random-number generator behind every synthetic data set, so a
//! seed reproduces the same images, sequences and videos on any machine.

pub use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub type DataRng = ChaCha8Rng;

/// A generator for data stream `stream` (train, held-out, ...) of run `seed`:
/// different streams never share samples.
pub fn data_rng(seed: u64, stream: u64) -> DataRng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ stream)
}

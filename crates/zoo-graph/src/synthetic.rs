//! Deterministic "random" parameters that Rust and numpy reproduce bit for bit.
//!
//! Pretrained weights can't be downloaded here, and full-size weights (VGG16
//! is 553 MB) can't be committed. Golden tests therefore fill both the
//! reference (Chainer) and zoo with the same formula and commit only small
//! inputs and outputs. The Python twin is `tests/fixtures/synthetic.py`.
//!
//! Element `i` (C order) of the parameter named `key` (e.g. `conv1_1/W`):
//! `u = ((i * 2654435761 + fnv1a32(key)) mod 2^32) / 2^32 - 0.5` (in f64), then
//! `f32((u * 2.0) * sqrt(6.0 / fan_in))` where `fan_in` is the product of all
//! dimensions but the first (1 for vectors): He-uniform in scale.
//!
//! Torch-free (importers write synthetic source files for tests and
//! benchmarks); `zoo_nn::synthetic` adds tensors.

/// FNV-1a, 32 bits, over the key's UTF-8 bytes.
pub fn fnv1a32(key: &str) -> u32 {
    key.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

/// The values of parameter `key` with `shape`, as a flat vector.
pub fn synthetic_values(key: &str, shape: &[i64]) -> Vec<f32> {
    let count: i64 = shape.iter().product();
    let fan_in: i64 = shape.iter().skip(1).product::<i64>().max(1);
    let scale = (6.0f64 / fan_in as f64).sqrt();
    let seed = u64::from(fnv1a32(key));
    (0..count as u64)
        .map(|i| {
            let mixed = (i.wrapping_mul(2_654_435_761).wrapping_add(seed)) % 4_294_967_296;
            let u = mixed as f64 / 4_294_967_296.0 - 0.5;
            ((u * 2.0) * scale) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_known_values() {
        // Values computed by tests/fixtures/synthetic.py (numpy).
        assert_eq!(fnv1a32("conv1_1/W"), 2_852_013_344);
        let expected = [
            -0.557_322_3_f32,
            1.190_741_8,
            0.110_378_73,
            -0.969_984_3,
            0.778_079_8,
            -0.302_283_26,
        ];
        assert_eq!(synthetic_values("a/W", &[2, 3]), expected);
    }
}

//! Branch-free `f32` exp and the LSTM's gate products. They call nothing (libm's
//! `expf` would keep the compiler from vectorising the loops around them),
//! and stay within a few units in the last place of the exact values.

const LOG2_E: f32 = std::f32::consts::LOG2_E;
/// ln 2 split so that `n · LN2_HI` is exact for the n that occur (Cody–Waite).
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2²³: adding and subtracting it rounds to the nearest integer.
const ROUND: f32 = 12_582_912.0;

/// e^x; inputs are clamped to [-87, 88], where the result stays normal.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    let x = x.clamp(-87.0, 88.0);
    // `shifted` holds n = round(x·log2 e) in its low mantissa bits; reading
    // n from there keeps the whole function in vector registers (a float to
    // int conversion would not vectorise as well).
    let shifted = x * LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    // Minimax polynomial for e^r on [-ln2/2, ln2/2] (Cephes' expf).
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
    let biased = shifted
        .to_bits()
        .wrapping_sub(ROUND.to_bits())
        .wrapping_add(127);
    y * f32::from_bits(biased << 23)
}

/// `σ(x)·v`.
#[inline(always)]
pub fn sigmoid_times(x: f32, v: f32) -> f32 {
    v / (1.0 + exp(-x))
}

/// `tanh(a)·σ(b)` with one division: `(1 − e^{−2a}) / ((1 + e^{−2a})(1 + e^{−b}))`.
/// An overflowing denominator gives 0, the right limit.
#[inline(always)]
pub fn tanh_sigmoid(a: f32, b: f32) -> f32 {
    let (ea, eb) = (exp(-2.0 * a), exp(-b));
    (1.0 - ea) / ((1.0 + ea) * (1.0 + eb))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid() -> impl Iterator<Item = f32> {
        (-20_000..=20_000).map(|i| i as f32 * 0.001)
    }

    #[test]
    fn exp_is_within_a_few_ulp() {
        for x in grid().chain([-86.9, -50.0, 50.0, 87.9]) {
            let (got, want) = (exp(x), (x as f64).exp());
            let rel = ((got as f64 - want) / want).abs();
            assert!(rel < 4e-7, "exp({x}) = {got}, want {want}");
        }
    }

    fn sigmoid64(x: f32) -> f64 {
        1.0 / (1.0 + (-(x as f64)).exp())
    }

    #[test]
    fn gate_products_match_f64() {
        let coarse: Vec<f32> = (-300..=300).map(|i| i as f32 * 0.05).collect();
        for &a in &coarse {
            for &b in &coarse {
                let want = (a as f64).tanh() * sigmoid64(b);
                let got = tanh_sigmoid(a, b) as f64;
                assert!(
                    (got - want).abs() < 3e-7,
                    "tanh({a})·σ({b}) = {got}, want {want}"
                );
                let want = sigmoid64(a) * b as f64;
                let got = sigmoid_times(a, b) as f64;
                assert!(
                    (got - want).abs() < 3e-7 * want.abs().max(1.0),
                    "σ({a})·{b}"
                );
            }
        }
        for x in grid() {
            assert!(
                (tanh_sigmoid(x, 100.0) as f64 - (x as f64).tanh()).abs() < 3e-7,
                "tanh({x})"
            );
            assert!(
                (sigmoid_times(x, 1.0) as f64 - sigmoid64(x)).abs() < 2e-7,
                "σ({x})"
            );
        }
    }

    #[test]
    fn extremes_saturate_without_nan() {
        let extremes = [
            -1e30f32,
            -1000.0,
            -90.0,
            0.0,
            90.0,
            1000.0,
            1e30,
            f32::MAX,
            f32::MIN,
        ];
        for a in extremes {
            for b in extremes {
                let t = tanh_sigmoid(a, b);
                assert!((-1.0..=1.0).contains(&t), "tanh({a})·σ({b}) = {t}");
            }
            let s = sigmoid_times(a, 1.0);
            assert!((0.0..=1.0).contains(&s), "σ({a}) = {s}");
        }
        assert_eq!(tanh_sigmoid(1000.0, 1000.0), 1.0);
        assert_eq!(tanh_sigmoid(-1000.0, 1000.0), -1.0);
        assert!(sigmoid_times(f32::NAN, 1.0).is_nan());
    }
}

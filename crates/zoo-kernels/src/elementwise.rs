//! Activations applied in place to a kernel's fresh output, while it is
//! still in cache: a graph's `Conv → Relu` or `Conv → HardSigmoid → Mul`
//! (h-swish) then costs one pass over memory instead of two or three, and
//! no libtorch call (8–15 µs each on small tensors, MobileNet V3 has sixty).

/// An element-wise function `f32 → f32` that a convolution can finish with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Activation {
    /// `x`: nothing to do.
    Identity,
    /// `max(x, 0)`.
    Relu,
    /// `x` where positive, `slope · x` elsewhere (Caffe's ReLU with a
    /// `negative_slope`, ONNX LeakyRelu).
    LeakyRelu { slope: f32 },
    /// `clamp(alpha · x + beta, 0, 1)` (ONNX HardSigmoid).
    HardSigmoid { alpha: f32, beta: f32 },
    /// `x · clamp(alpha · x + beta, 0, 1)` (ONNX HardSwish has alpha 1/6,
    /// beta 1/2; PyTorch exports h-swish as HardSigmoid then Mul).
    HardSwish { alpha: f32, beta: f32 },
    /// `clamp(x, min, max)` (ONNX Clip, ReLU6).
    Clip { min: f32, max: f32 },
}

impl Activation {
    /// ONNX HardSwish, PyTorch's `hardswish`.
    pub const HARD_SWISH: Activation = Activation::HardSwish {
        alpha: 1.0 / 6.0,
        beta: 0.5,
    };

    /// The function's name, for messages and profiles.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "Identity",
            Activation::Relu => "Relu",
            Activation::LeakyRelu { .. } => "LeakyRelu",
            Activation::HardSigmoid { .. } => "HardSigmoid",
            Activation::HardSwish { .. } => "HardSwish",
            Activation::Clip { .. } => "Clip",
        }
    }

    /// The function at one value.
    #[inline(always)]
    pub fn at(self, x: f32) -> f32 {
        match self {
            Activation::Identity => x,
            Activation::Relu => x.max(0.0),
            Activation::LeakyRelu { slope } => {
                if x > 0.0 {
                    x
                } else {
                    x * slope
                }
            }
            Activation::HardSigmoid { alpha, beta } => (alpha * x + beta).clamp(0.0, 1.0),
            Activation::HardSwish { alpha, beta } => x * (alpha * x + beta).clamp(0.0, 1.0),
            Activation::Clip { min, max } => x.max(min).min(max),
        }
    }

    /// Replaces every value by the function's value there.
    pub fn apply(self, values: &mut [f32]) {
        if self != Activation::Identity {
            apply_slice(self, values);
        }
    }
}

/// `out = activation(a + b)`, element by element (a residual connection
/// and the ReLU after it); the three slices have the same length.
pub fn add_then(a: &[f32], b: &[f32], out: &mut [f32], activation: Activation) {
    add_slices(a, b, out);
    activation.apply(out);
}

/// Per channel, the mean over the pixels of one channels-last image
/// (`image`: pixels × `out.len()` channels): global average pooling.
/// Sums go through blocks of 32 pixels, so that rounding grows with
/// `32 + pixels / 32` rather than with the pixel count.
pub fn mean_of_pixels(image: &[f32], out: &mut [f32]) {
    let channels = out.len();
    out.fill(0.0);
    if channels == 0 || image.is_empty() {
        return;
    }
    let pixels = image.len() / channels;
    let mut block = vec![0f32; channels];
    for pixels in image.chunks(32 * channels) {
        sum_pixels(pixels, &mut block);
        add_into(&block, out);
    }
    let scale = 1.0 / pixels as f32;
    for value in out.iter_mut() {
        *value *= scale;
    }
}

with_best_simd! {
    sum_pixels(pixels: &[f32], sums: &mut [f32]) {
        sums.fill(0.0);
        for pixel in pixels.chunks_exact(sums.len()) {
            for (s, &v) in sums.iter_mut().zip(pixel) {
                *s += v;
            }
        }
    }
}

with_best_simd! {
    add_into(values: &[f32], sums: &mut [f32]) {
        for (s, &v) in sums.iter_mut().zip(values) {
            *s += v;
        }
    }
}

/// Every pixel of a channels-last `image` times its channel's scale (a
/// squeeze-excitation gate): `out[p][c] = image[p][c] · scales[c]`.
pub fn scale_pixels(image: &[f32], scales: &[f32], out: &mut [f32]) {
    if !scales.is_empty() {
        scale_slices(image, scales, out);
    }
}

with_best_simd! {
    scale_slices(image: &[f32], scales: &[f32], out: &mut [f32]) {
        let c = scales.len();
        for (o, i) in out.chunks_exact_mut(c).zip(image.chunks_exact(c)) {
            for ((y, &x), &s) in o.iter_mut().zip(i).zip(scales) {
                *y = x * s;
            }
        }
    }
}

with_best_simd! {
    add_slices(a: &[f32], b: &[f32], out: &mut [f32]) {
        for ((y, &x), &z) in out.iter_mut().zip(a).zip(b) {
            *y = x + z;
        }
    }
}

with_best_simd! {
    apply_slice(activation: Activation, values: &mut [f32]) {
        // One loop per variant: a `match` inside the loop would keep the
        // compiler from vectorising it.
        macro_rules! each {
            ($x:ident => $e:expr) => {
                for v in values.iter_mut() {
                    let $x = *v;
                    *v = $e;
                }
            };
        }
        match activation {
            Activation::Identity => {}
            Activation::Relu => each!(x => x.max(0.0)),
            Activation::LeakyRelu { slope } => each!(x => if x > 0.0 { x } else { x * slope }),
            Activation::HardSigmoid { alpha, beta } => {
                each!(x => (alpha * x + beta).clamp(0.0, 1.0))
            }
            Activation::HardSwish { alpha, beta } => {
                each!(x => x * (alpha * x + beta).clamp(0.0, 1.0))
            }
            Activation::Clip { min, max } => each!(x => x.max(min).min(max)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_match_the_scalar_function() {
        let values: Vec<f32> = (-200..=200).map(|i| i as f32 * 0.037).collect();
        for activation in [
            Activation::Identity,
            Activation::Relu,
            Activation::LeakyRelu { slope: 0.1 },
            Activation::HardSigmoid {
                alpha: 0.2,
                beta: 0.5,
            },
            Activation::HARD_SWISH,
            Activation::Clip { min: 0.0, max: 6.0 },
        ] {
            let mut applied = values.clone();
            activation.apply(&mut applied);
            for (&x, &y) in values.iter().zip(&applied) {
                assert_eq!(y, activation.at(x), "{activation:?} at {x}");
            }
        }
    }

    #[test]
    fn add_then_adds_and_activates() {
        let a = [1.0f32, -2.0, 3.0];
        let b = [0.5f32, 1.0, -4.0];
        let mut out = [0f32; 3];
        add_then(&a, &b, &mut out, Activation::Relu);
        assert_eq!(out, [1.5, 0.0, 0.0]);
        add_then(&a, &b, &mut out, Activation::Identity);
        assert_eq!(out, [1.5, -1.0, -1.0]);
    }

    #[test]
    fn pixel_means_and_scales() {
        // 70 pixels of 3 channels: channel c of pixel p is p + 100·c.
        let image: Vec<f32> = (0..70)
            .flat_map(|p| (0..3).map(move |c| (p + 100 * c) as f32))
            .collect();
        let mut means = [0f32; 3];
        mean_of_pixels(&image, &mut means);
        assert_eq!(means, [34.5, 134.5, 234.5]);
        let mut scaled = vec![0f32; image.len()];
        scale_pixels(&image, &[1.0, 0.5, 0.0], &mut scaled);
        assert_eq!(&scaled[3..6], &[1.0, 50.5, 0.0]);
    }

    #[test]
    fn known_values() {
        assert_eq!(Activation::Relu.at(-2.0), 0.0);
        assert_eq!(Activation::LeakyRelu { slope: 0.5 }.at(-2.0), -1.0);
        assert_eq!(Activation::HARD_SWISH.at(-3.0), 0.0);
        assert_eq!(Activation::HARD_SWISH.at(3.0), 3.0);
        assert_eq!(Activation::HARD_SWISH.at(1.0), 1.0 * (1.0 / 6.0 + 0.5));
        assert_eq!(Activation::Clip { min: 0.0, max: 6.0 }.at(7.0), 6.0);
    }
}

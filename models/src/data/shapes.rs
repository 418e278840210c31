//! Ten-class 32×32 RGB "shapes": one shape per image at a random position,
//! size and colour on a random plain background with pixel noise. Chance is 10%.

use crate::rng::{DataRng, Rng};
use tch::Tensor;

pub const CLASSES: [&str; 10] = [
    "disc",
    "square",
    "triangle",
    "plus",
    "cross",
    "ring",
    "frame",
    "diamond",
    "horizontal-bars",
    "vertical-bars",
];
pub const SIZE: i64 = 32;

/// Whether (u, v), relative to the centre in units of the half-size, is inside shape `class`.
fn inside(class: usize, u: f32, v: f32) -> bool {
    let (au, av) = (u.abs(), v.abs());
    match class {
        0 => u * u + v * v <= 1.0,
        1 => au <= 0.8 && av <= 0.8,
        2 => (-0.9..=0.8).contains(&v) && au <= (v + 0.9) * 0.55,
        3 => (au <= 0.28 && av <= 1.0) || (av <= 0.28 && au <= 1.0),
        4 => ((u - v).abs() <= 0.35 || (u + v).abs() <= 0.35) && au <= 0.9 && av <= 0.9,
        5 => {
            let r = (u * u + v * v).sqrt();
            (0.55..=1.0).contains(&r)
        }
        6 => au <= 0.9 && av <= 0.9 && (au >= 0.55 || av >= 0.55),
        7 => au + av <= 1.0,
        8 => au <= 1.0 && ((0.2..=0.6).contains(&av)),
        _ => av <= 1.0 && ((0.2..=0.6).contains(&au)),
    }
}

/// A batch of images (N, 3, 32, 32), RGB in 0..255, and labels (N).
pub fn batch(rng: &mut DataRng, n: usize) -> (Tensor, Tensor) {
    let s = SIZE as usize;
    let mut pixels = vec![0f32; n * 3 * s * s];
    let mut labels = Vec::with_capacity(n);
    for (index, image) in pixels.chunks_mut(3 * s * s).enumerate() {
        let _ = index;
        let class = rng.gen_range(0..CLASSES.len());
        labels.push(class as i64);
        let background: [f32; 3] = [
            rng.gen_range(0.0..255.0),
            rng.gen_range(0.0..255.0),
            rng.gen_range(0.0..255.0),
        ];
        // A foreground far enough from the background to be seen.
        let mut foreground = [0f32; 3];
        loop {
            for c in &mut foreground {
                *c = rng.gen_range(0.0..255.0);
            }
            let distance: f32 = foreground
                .iter()
                .zip(background.iter())
                .map(|(a, b)| (a - b).abs())
                .sum();
            if distance > 180.0 {
                break;
            }
        }
        let half: f32 = rng.gen_range(6.0..11.0);
        let cx: f32 = rng.gen_range(half..(SIZE as f32 - half));
        let cy: f32 = rng.gen_range(half..(SIZE as f32 - half));
        for y in 0..s {
            for x in 0..s {
                let u = (x as f32 + 0.5 - cx) / half;
                let v = (y as f32 + 0.5 - cy) / half;
                let colour = if inside(class, u, v) {
                    &foreground
                } else {
                    &background
                };
                for c in 0..3 {
                    let noise: f32 = rng.gen_range(-20.0..20.0);
                    image[c * s * s + y * s + x] = (colour[c] + noise).clamp(0.0, 255.0);
                }
            }
        }
    }
    (
        Tensor::from_slice(&pixels).view([n as i64, 3, SIZE, SIZE]),
        Tensor::from_slice(&labels),
    )
}

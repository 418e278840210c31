//! Fluorescence-like microscopy images (models.md §4): 64×64, 5–60 nuclei,
//! each a soft ellipse (r ∈ [2, 4] px, aspect 0.7–1.3, random angle,
//! intensity 0.5–1, 15% multiplicative texture); overlaps add and saturate as
//! 1 − e^(−I); Gaussian blur σ = 1; offset + linear background gradient;
//! Poisson noise (×200) and read noise σ = 0.02. Target: the dots filtered by
//! a Gaussian σ = 1.5 with reflect boundary (sum = count exactly), × 100.

use crate::cell_counter::DENSITY_SCALE;
use crate::rng::{DataRng, Rng};
use rand_distr::{Distribution, Normal, Poisson};
use tch::Tensor;

pub const SIZE: usize = 64;
pub const MIN_CELLS: usize = 5;
pub const MAX_CELLS: usize = 60;

/// One image (H×W, row-major), its density target and the cell centres (row, col).
pub struct CellImage {
    pub image: Vec<f32>,
    pub density: Vec<f32>,
    pub centres: Vec<(f32, f32)>,
}

fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil() as i64;
    let mut kernel: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= total);
    kernel
}

/// Index reflection as scipy's `reflect` mode (d c b a | a b c d | d c b a).
fn reflect(i: i64, n: i64) -> usize {
    let period = 2 * n;
    let mut m = i.rem_euclid(period);
    if m >= n {
        m = period - 1 - m;
    }
    m as usize
}

/// Separable Gaussian blur with reflect boundary: preserves the total mass.
pub fn blur(image: &[f32], size: usize, sigma: f32) -> Vec<f32> {
    let kernel = gaussian_kernel(sigma);
    let radius = (kernel.len() / 2) as i64;
    let n = size as i64;
    let mut rows = vec![0f32; image.len()];
    for y in 0..size {
        for x in 0..size {
            rows[y * size + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * image[y * size + reflect(x as i64 + k as i64 - radius, n)])
                .sum();
        }
    }
    let mut out = vec![0f32; image.len()];
    for y in 0..size {
        for x in 0..size {
            out[y * size + x] = kernel
                .iter()
                .enumerate()
                .map(|(k, w)| w * rows[reflect(y as i64 + k as i64 - radius, n) * size + x])
                .sum();
        }
    }
    out
}

pub fn generate(rng: &mut DataRng) -> CellImage {
    let s = SIZE;
    let count = rng.gen_range(MIN_CELLS..=MAX_CELLS);
    let mut intensity = vec![0f32; s * s];
    let mut dots = vec![0f32; s * s];
    let mut centres = Vec::with_capacity(count);
    for _ in 0..count {
        let cy: f32 = rng.gen_range(0.0..s as f32);
        let cx: f32 = rng.gen_range(0.0..s as f32);
        let r: f32 = rng.gen_range(2.0..4.0);
        let aspect: f32 = rng.gen_range(0.7..1.3);
        let angle: f32 = rng.gen_range(0.0..std::f32::consts::PI);
        let peak: f32 = rng.gen_range(0.5..1.0);
        let (ra, rb) = (r * aspect.sqrt(), r / aspect.sqrt());
        let (sin, cos) = angle.sin_cos();
        let reach = (ra.max(rb) + 2.0).ceil() as i64;
        for y in (cy as i64 - reach).max(0)..(cy as i64 + reach + 1).min(s as i64) {
            for x in (cx as i64 - reach).max(0)..(cx as i64 + reach + 1).min(s as i64) {
                let (dy, dx) = (y as f32 + 0.5 - cy, x as f32 + 0.5 - cx);
                let u = (dx * cos + dy * sin) / ra;
                let v = (-dx * sin + dy * cos) / rb;
                let d = (u * u + v * v).sqrt();
                // Soft edge: 1 inside, falling off over ~1 px outside.
                let edge = 1.0 / (1.0 + ((d - 1.0) * r * 2.0).exp());
                let texture = 1.0 + rng.gen_range(-0.15..0.15);
                intensity[y as usize * s + x as usize] += peak * edge * texture;
            }
        }
        let (row, col) = ((cy as usize).min(s - 1), (cx as usize).min(s - 1));
        dots[row * s + col] += 1.0;
        centres.push((cy, cx));
    }
    let saturated: Vec<f32> = intensity.iter().map(|i| 1.0 - (-i).exp()).collect();
    let blurred = blur(&saturated, s, 1.0);
    let offset: f32 = rng.gen_range(0.05..0.2);
    let (gy, gx): (f32, f32) = (rng.gen_range(-0.1..0.1), rng.gen_range(-0.1..0.1));
    let read_noise = Normal::new(0.0f32, 0.02).expect("valid normal");
    let image = blurred
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let (y, x) = ((i / s) as f32 / s as f32, (i % s) as f32 / s as f32);
            let clean = (v + offset + gy * (y - 0.5) + gx * (x - 0.5)).max(0.0);
            let photons = Poisson::new(f64::from(clean * 200.0).max(1e-6))
                .map(|p| p.sample(rng) as f32)
                .unwrap_or(0.0);
            photons / 200.0 + read_noise.sample(rng)
        })
        .collect();
    let density = blur(&dots, s, 1.5)
        .into_iter()
        .map(|d| d * DENSITY_SCALE as f32)
        .collect();
    CellImage {
        image,
        density,
        centres,
    }
}

/// A batch: images (N, 1, 64, 64), density targets (N, 1, 64, 64), true counts (N).
pub fn batch(rng: &mut DataRng, n: usize) -> (Tensor, Tensor, Tensor) {
    let mut images = Vec::with_capacity(n * SIZE * SIZE);
    let mut densities = Vec::with_capacity(n * SIZE * SIZE);
    let mut counts = Vec::with_capacity(n);
    for _ in 0..n {
        let cell = generate(rng);
        images.extend_from_slice(&cell.image);
        densities.extend_from_slice(&cell.density);
        counts.push(cell.centres.len() as f32);
    }
    let shape = [n as i64, 1, SIZE as i64, SIZE as i64];
    (
        Tensor::from_slice(&images).view(shape),
        Tensor::from_slice(&densities).view(shape),
        Tensor::from_slice(&counts),
    )
}

//! FCRN-A-small (Xie, Noble & Zisserman): a conv encoder (3×3 convs + 2×2
//! max-pools, widths 16/32/64/128) and an upsampling decoder (nearest ×2 +
//! 3×3 conv, 64/32/16) to a one-channel density map trained on dots×100
//! blurred with a Gaussian; count = sum / 100. A second read-out finds peaks.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};
use zoo_nn::init::Initializer;
use zoo_nn::links::{Convolution2D, Convolution2DConfig, convolution_2d};
use zoo_nn::{Link, Mode};

/// The density map's target scale: each cell integrates to this value.
pub const DENSITY_SCALE: f64 = 100.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CellCounterConfig {
    /// Encoder widths; the decoder mirrors all but the last.
    pub widths: Vec<i64>,
}

/// Most encoder widths: the input's side must be a multiple of 2^(n−1),
/// and each stage halves the map.
pub const MAX_STAGES: usize = 8;
/// Widest stage: a 3×3 conv this wide both ways holds 151 M parameters.
pub const MAX_WIDTH: i64 = 4096;

impl CellCounterConfig {
    /// Checks what a package may set (it comes from an untrusted zoo.toml):
    /// 2 to [`MAX_STAGES`] widths, each 1 to [`MAX_WIDTH`]. The message
    /// names the field and the value.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let count = self.widths.len();
        if !(2..=MAX_STAGES).contains(&count) {
            return Err(format!(
                "[model.architecture] config.widths has {count} entries; the cell counter \
                 takes 2 to {MAX_STAGES}"
            ));
        }
        if let Some((index, width)) = self
            .widths
            .iter()
            .enumerate()
            .find(|(_, w)| !(1..=MAX_WIDTH).contains(*w))
        {
            return Err(format!(
                "[model.architecture] config.widths[{index}] = {width}: a width must be 1 to \
                 {MAX_WIDTH}"
            ));
        }
        Ok(())
    }
}

impl Default for CellCounterConfig {
    fn default() -> Self {
        CellCounterConfig {
            widths: vec![16, 32, 64, 128],
        }
    }
}

/// A k×k convolution keeping the map's size (padding k/2), He-initialised
/// (all but `out` feed a ReLU; `out` starts the same way as it always has).
fn conv(path: &nn::Path, name: &str, inp: i64, out: i64, k: i64) -> Convolution2D {
    let config = Convolution2DConfig {
        pad: [k / 2, k / 2],
        initial_w: Initializer::HeNormal,
        ..Default::default()
    };
    convolution_2d(&path.sub(name), inp, out, [k, k], config)
}

/// zoo-nn `Convolution2D` links `conv1..conv4` (encoder), `up1..up3`
/// (decoder), `out` (1×1): parameters `conv1/W`, `conv1/b`, …, `out/b`.
#[derive(Debug)]
pub struct CellCounter {
    pub config: CellCounterConfig,
    encoder: Vec<Convolution2D>,
    decoder: Vec<Convolution2D>,
    out: Convolution2D,
}

impl CellCounter {
    pub fn new(path: &nn::Path, config: CellCounterConfig) -> Result<Self> {
        config.validate().map_err(|message| ModelError::Package {
            package: "cell-counter".into(),
            message,
        })?;
        let mut encoder = Vec::new();
        let mut inp = 1;
        for (i, &w) in config.widths.iter().enumerate() {
            encoder.push(conv(path, &format!("conv{}", i + 1), inp, w, 3));
            inp = w;
        }
        let mut decoder = Vec::new();
        for (i, &w) in config.widths.iter().rev().skip(1).enumerate() {
            decoder.push(conv(path, &format!("up{}", i + 1), inp, w, 3));
            inp = w;
        }
        let out = conv(path, "out", inp, 1, 1);
        Ok(CellCounter {
            config,
            encoder,
            decoder,
            out,
        })
    }

    /// The input's side must be divisible by 2^(pools).
    pub fn stride(&self) -> i64 {
        1 << (self.config.widths.len() - 1)
    }

    pub fn check_input(&self, x: &Tensor) -> Result<()> {
        let size = x.size();
        let stride = self.stride();
        if size.len() != 4 || size[1] != 1 {
            return Err(ModelError::input(
                "image",
                format!("expected a one-channel batch [N, 1, H, W], got {size:?}"),
            ));
        }
        if size[0] == 0 || size[2] < stride || size[2] % stride != 0 || size[3] % stride != 0 {
            return Err(ModelError::input(
                "image",
                format!("height and width must be positive multiples of {stride}, got {size:?}"),
            ));
        }
        Ok(())
    }

    /// Density map (N, 1, H, W), scaled so that one cell sums to [`DENSITY_SCALE`].
    pub fn density(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        let mut h = x.f_to_kind(Kind::Float)?;
        let last = self.encoder.len() - 1;
        for (i, conv) in self.encoder.iter().enumerate() {
            h = conv.f_forward(&h, Mode::Test)?.f_relu()?;
            if i < last {
                h = h.f_max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false)?;
            }
        }
        for conv in &self.decoder {
            let (hh, ww) = (h.size()[2], h.size()[3]);
            h = h.f_upsample_nearest2d([2 * hh, 2 * ww], None, None)?;
            h = conv.f_forward(&h, Mode::Test)?.f_relu()?;
        }
        Ok(self.out.f_forward(&h, Mode::Test)?)
    }
}

/// count = sum of the density / 100, per image (N).
pub fn count_from_density(density: &Tensor) -> Tensor {
    density.sum_dim_intlist(&[1i64, 2, 3][..], false, Kind::Float) / DENSITY_SCALE
}

/// Local maxima of one density map (H, W): 5×5 non-maximum suppression, kept
/// when ≥ `relative_threshold` × the map's maximum. Returns (row, col) pairs.
pub fn find_peaks(density: &Tensor, relative_threshold: f64) -> Vec<(i64, i64)> {
    let d = density.to_kind(Kind::Float).to_device(tch::Device::Cpu);
    let (h, w) = (d.size()[0], d.size()[1]);
    let pooled = d
        .view([1, 1, h, w])
        .max_pool2d([5, 5], [1, 1], [2, 2], [1, 1], false)
        .view([h, w]);
    let peak = d.max().double_value(&[]);
    if peak <= 0.0 {
        return Vec::new();
    }
    let keep = d
        .eq_tensor(&pooled)
        .logical_and(&d.ge(relative_threshold * peak));
    let idx = keep.nonzero(); // (K, 2)
    let rows = idx.size()[0];
    (0..rows)
        .map(|k| (idx.int64_value(&[k, 0]), idx.int64_value(&[k, 1])))
        .collect()
}

/// The spread of one cell in the density map: the training targets are
/// dots blurred by a Gaussian of σ = 1.5 px (data/cells.rs), mass
/// [`DENSITY_SCALE`] each.
pub const CELL_SIGMA: f64 = 1.5;

/// `n` cell positions (row, col) that explain a density map (H, W): the
/// highest point of what is left, then one cell's kernel taken away there,
/// `n` times (fewer if nothing is left). Touching nuclei make one bump in
/// the map that holds two cells' mass; local-maximum peak finding marks it
/// once, this marks it twice. With `n` = the rounded count, the marks agree
/// with the count by construction.
pub fn mark_cells(density: &Tensor, n: usize) -> Vec<(i64, i64)> {
    use std::collections::BinaryHeap;
    let d = density
        .to_kind(Kind::Float)
        .to_device(tch::Device::Cpu)
        .contiguous();
    let size = d.size();
    let (h, w) = match size.as_slice() {
        [h, w] => (*h as usize, *w as usize),
        _ => return Vec::new(),
    };
    let Ok(mut residual) = Vec::<f32>::try_from(d.flatten(0, -1)) else {
        return Vec::new();
    };
    let radius = (3.0 * CELL_SIGMA).ceil() as i64;
    let norm = DENSITY_SCALE / (2.0 * std::f64::consts::PI * CELL_SIGMA * CELL_SIGMA);
    let kernel: Vec<(i64, i64, f32)> = (-radius..=radius)
        .flat_map(|dy| (-radius..=radius).map(move |dx| (dy, dx)))
        .map(|(dy, dx)| {
            let r2 = (dy * dy + dx * dx) as f64;
            (
                dy,
                dx,
                (norm * (-r2 / (2.0 * CELL_SIGMA * CELL_SIGMA)).exp()) as f32,
            )
        })
        .collect();
    // Non-negative f32s order like their bits. Entries go stale when a
    // pixel changes; its new value is pushed then and the old one skipped.
    let floor = (norm * 0.05) as f32;
    for v in residual.iter_mut() {
        *v = v.max(0.0);
    }
    let mut heap: BinaryHeap<(u32, usize)> = residual
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > floor)
        .map(|(i, v)| (v.to_bits(), i))
        .collect();
    let mut marks = Vec::with_capacity(n);
    while marks.len() < n {
        let Some((bits, i)) = heap.pop() else {
            break;
        };
        if residual[i].to_bits() != bits {
            continue;
        }
        let (row, col) = ((i / w) as i64, (i % w) as i64);
        marks.push((row, col));
        for &(dy, dx, k) in &kernel {
            let (y, x) = (row + dy, col + dx);
            if y < 0 || x < 0 || y >= h as i64 || x >= w as i64 {
                continue;
            }
            let j = y as usize * w + x as usize;
            residual[j] = (residual[j] - k).max(0.0);
            if residual[j] > floor {
                heap.push((residual[j].to_bits(), j));
            }
        }
    }
    marks
}

/// Where an image or its density map leaves what the model was trained on
/// (data/cells.rs: 64×64 fluorescence tiles with 5–60 bright nuclei on a
/// dark background). The count of such an image is not to be trusted; each
/// returned line says why. `image` is (H, W) in [0, 1], `density` the raw
/// (unclamped) map of the same size.
pub fn out_of_distribution(image: &Tensor, density: &Tensor) -> Vec<String> {
    let mut warnings = Vec::new();
    let values = sample_values(image);
    if !values.is_empty() {
        let at = |q: f64| values[((values.len() - 1) as f64 * q) as usize];
        let (p10, p99) = (at(0.10), at(0.99));
        if p99 < DARK_P99 {
            warnings.push(format!(
                "the image is dark (99th percentile intensity {p99:.3}); the training images \
                 have bright nuclei (99th percentile above {DARK_P99})"
            ));
        }
        if p10 > BRIGHT_BACKGROUND_P10 {
            warnings.push(format!(
                "the background is bright (10th percentile intensity {p10:.3}); the training \
                 images are fluorescence tiles on a dark background (below {BRIGHT_BACKGROUND_P10})"
            ));
        }
    }
    let d = density.to_kind(Kind::Float).to_device(tch::Device::Cpu);
    let size = d.size();
    if let [h, w] = size.as_slice() {
        let negative = -(d.clamp_max(0.0).sum(Kind::Double).double_value(&[])) / DENSITY_SCALE;
        if negative > 1.0 {
            warnings.push(format!(
                "the density map is negative worth {negative:.1} cells (clamped to zero in the count)"
            ));
        }
        if let Some(per_tile) = densest_tile(&d, *h, *w) {
            let tile = crate::data::cells::SIZE;
            let limit = DENSE_TILE_FACTOR * crate::data::cells::MAX_CELLS as f64;
            if per_tile > limit {
                warnings.push(format!(
                    "parts of the image hold {per_tile:.0} cells per {tile}×{tile} tile; the \
                     training images hold {}–{}",
                    crate::data::cells::MIN_CELLS,
                    crate::data::cells::MAX_CELLS
                ));
            }
        }
    }
    warnings
}

/// The most cells any window of the training tile's size holds in the
/// (H, W) `density`, scaled to a whole tile: an image smaller than a tile
/// is one window, its count scaled by area, so that a small crop of a
/// crowded image is as crowded as the image. `None` when no window holds
/// a whole cell (the scaling would turn noise into a crowd).
fn densest_tile(density: &Tensor, h: i64, w: i64) -> Option<f64> {
    let tile = crate::data::cells::SIZE as i64;
    let (wh, ww) = (h.min(tile), w.min(tile));
    if wh == 0 || ww == 0 {
        return None;
    }
    let per_window = density
        .clamp_min(0.0)
        .view([1, 1, h, w])
        .avg_pool2d([wh, ww], [wh, ww], [0, 0], false, true, None::<i64>)
        .max()
        .double_value(&[])
        * (wh * ww) as f64
        / DENSITY_SCALE;
    (per_window >= 1.0).then(|| per_window * (tile * tile) as f64 / (wh * ww) as f64)
}

/// Below this 99th-percentile intensity an image has no nucleus as bright
/// as the dimmest training nucleus.
const DARK_P99: f32 = 0.15;
/// Above this 10th-percentile intensity the background is brighter than
/// any training image's (offset ≤ 0.2, gradient ±0.1, noise).
const BRIGHT_BACKGROUND_P10: f32 = 0.45;
/// A tile may hold this many times the most cells seen in training.
const DENSE_TILE_FACTOR: f64 = 1.5;

/// Up to ~1M of a tensor's values, sorted (an even subsample of large images).
fn sample_values(x: &Tensor) -> Vec<f32> {
    let flat = x
        .to_kind(Kind::Float)
        .to_device(tch::Device::Cpu)
        .flatten(0, -1);
    let n = flat.size()[0];
    let step = (n / 1_000_000).max(1);
    let sampled = if step > 1 {
        flat.slice(0, 0, n, step)
    } else {
        flat
    };
    let mut values = Vec::<f32>::try_from(sampled.contiguous()).unwrap_or_default();
    values.retain(|v| v.is_finite());
    values.sort_by(f32::total_cmp);
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_images_are_in_distribution_and_others_are_named() {
        let mut rng = crate::rng::data_rng(7, 99);
        let (images, densities, _) = crate::data::cells::batch(&mut rng, 300);
        for i in 0..300 {
            let warnings = out_of_distribution(&images.get(i).get(0), &densities.get(i).get(0));
            assert!(warnings.is_empty(), "training image {i}: {warnings:?}");
        }
        let zeros = Tensor::zeros([128, 128], (Kind::Float, tch::Device::Cpu));
        let dark = out_of_distribution(&zeros, &zeros);
        assert!(dark.iter().any(|w| w.contains("dark")), "{dark:?}");
        let bright = out_of_distribution(&(zeros.ones_like() * 0.8), &zeros);
        assert!(
            bright.iter().any(|w| w.contains("background")),
            "{bright:?}"
        );
        // 200 cells' mass in one tile; some negative mass too.
        let dense = zeros.ones_like() * (200.0 * DENSITY_SCALE / (64.0 * 64.0));
        let photo = images.get(0).get(0).repeat([2, 2]);
        let crowded = out_of_distribution(&photo, &dense);
        assert!(
            crowded.iter().any(|w| w.contains("cells per 64×64")),
            "{crowded:?}"
        );
        // The same crowd in an image smaller than a tile.
        let small = Tensor::ones([32, 48], (Kind::Float, tch::Device::Cpu))
            * (200.0 * DENSITY_SCALE / (64.0 * 64.0));
        let crop = images.get(0).get(0).narrow(0, 0, 32).narrow(1, 0, 48);
        let crowded = out_of_distribution(&crop, &small);
        assert!(
            crowded.iter().any(|w| w.contains("200 cells per 64×64")),
            "{crowded:?}"
        );
        // Less than a cell in a tiny image is no crowd.
        let speck = Tensor::full([2, 2], 0.1, (Kind::Float, tch::Device::Cpu));
        let calm = out_of_distribution(&crop.narrow(0, 0, 2).narrow(1, 0, 2), &speck);
        assert!(!calm.iter().any(|w| w.contains("cells per")), "{calm:?}");
        let negative = out_of_distribution(&photo, &(zeros.ones_like() * -1.0));
        assert!(
            negative.iter().any(|w| w.contains("negative")),
            "{negative:?}"
        );
    }

    /// Two cells' kernels 2 px apart (under 2σ) make one bump.
    fn two_touching_cells() -> Tensor {
        let (h, w) = (24i64, 24i64);
        let norm = DENSITY_SCALE / (2.0 * std::f64::consts::PI * CELL_SIGMA * CELL_SIGMA);
        let mut values = vec![0f32; (h * w) as usize];
        for (cy, cx) in [(12.0f64, 10.0f64), (12.0, 12.0)] {
            for y in 0..h {
                for x in 0..w {
                    let r2 = (y as f64 - cy).powi(2) + (x as f64 - cx).powi(2);
                    values[(y * w + x) as usize] +=
                        (norm * (-r2 / (2.0 * CELL_SIGMA * CELL_SIGMA)).exp()) as f32;
                }
            }
        }
        Tensor::from_slice(&values).view([h, w])
    }

    #[test]
    fn touching_cells_get_one_mark_each() {
        let density = two_touching_cells();
        let count = density.sum(Kind::Double).double_value(&[]) / DENSITY_SCALE;
        assert!((count - 2.0).abs() < 0.01, "{count}");
        assert_eq!(find_peaks(&density, 0.3).len(), 1, "one bump");
        let mut marks = mark_cells(&density, count.round() as usize);
        marks.sort();
        assert_eq!(marks.len(), 2, "{marks:?}");
        for ((row, col), (er, ec)) in marks.iter().zip([(12, 10), (12, 12)]) {
            assert!((row - er).abs() <= 1 && (col - ec).abs() <= 1, "{marks:?}");
        }
        assert!(mark_cells(&Tensor::zeros([8, 8], (Kind::Float, tch::Device::Cpu)), 3).is_empty());
    }

    #[test]
    fn hostile_widths_are_refused_naming_the_field_and_value() {
        let check = |widths: Vec<i64>| CellCounterConfig { widths }.validate();
        assert!(check(vec![16, 32, 64, 128]).is_ok());
        let error = check(vec![-1, 16]).unwrap_err();
        assert!(error.contains("config.widths[0] = -1"), "{error}");
        let error = check(vec![0, 0]).unwrap_err();
        assert!(error.contains("config.widths[0] = 0"), "{error}");
        let error = check(vec![1 << 62, 2]).unwrap_err();
        assert!(
            error.contains("config.widths[0] = 4611686018427387904"),
            "{error}"
        );
        let error = check(vec![4; 65]).unwrap_err();
        assert!(error.contains("has 65 entries"), "{error}");
        let error = check(vec![4]).unwrap_err();
        assert!(error.contains("has 1 entries"), "{error}");
    }
}

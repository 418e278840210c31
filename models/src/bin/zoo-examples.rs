//! `zoo-examples`: writes a few example inputs into each trained package's
//! `examples/` folder (drawn from the same synthetic generators as training,
//! on a seed the training never uses), so users and `cargo xtask demo` have
//! something to `zoo run` the models on.

use anyhow::{Context, Result};
use image::{ImageBuffer, Luma, RgbImage};
use std::path::{Path, PathBuf};
use tch::Kind;
use zoo_models::data::{cells, shapes, sprites};
use zoo_models::rng::data_rng;

/// A seed far from the training (0..) and held-out streams.
const EXAMPLE_SEED: u64 = 9_000_001;

fn main() {
    zoo_nn::allocator::keep_freed_memory();
    if let Err(error) = run() {
        eprintln!("zoo-examples: error: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let models = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    shapes_examples(&examples_dir(&models, "vgg-mini")?)?;
    cell_example(&examples_dir(&models, "cell-counter")?)?;
    spike_example(&examples_dir(&models, "peephole-lstm")?)?;
    video_example(&examples_dir(&models, "nested-rnn")?)?;
    Ok(())
}

fn examples_dir(models: &Path, package: &str) -> Result<PathBuf> {
    let dir = models.join(package).join("examples");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// Three 32×32 shape images, named after their true class.
fn shapes_examples(dir: &Path) -> Result<()> {
    let mut rng = data_rng(EXAMPLE_SEED, 0);
    let (images, labels) = shapes::batch(&mut rng, 3);
    let size = shapes::SIZE as u32;
    for index in 0..3i64 {
        let image = images
            .get(index)
            .permute([1, 2, 0])
            .clamp(0.0, 255.0)
            .to_kind(Kind::Uint8);
        let pixels: Vec<u8> = Vec::<u8>::try_from(image.flatten(0, -1))?;
        let rgb = RgbImage::from_raw(size, size, pixels).context("shape image buffer")?;
        let class = shapes::CLASSES[labels.int64_value(&[index]) as usize];
        zoo_models::image_io::save_png(&rgb, &dir.join(format!("{index}-{class}.png")))?;
    }
    Ok(())
}

/// One fluorescence-like image, as 16-bit grey, with the true count in its name.
fn cell_example(dir: &Path) -> Result<()> {
    let mut rng = data_rng(EXAMPLE_SEED, 1);
    let cell = cells::generate(&mut rng);
    let size = cells::SIZE as u32;
    let pixels: Vec<u16> = cell
        .image
        .iter()
        .map(|v| (v.clamp(0.0, 1.0) * 65535.0).round() as u16)
        .collect();
    let image: ImageBuffer<Luma<u16>, Vec<u16>> =
        ImageBuffer::from_raw(size, size, pixels).context("cell image buffer")?;
    let path = dir.join(format!("cells-{}.png", cell.centres.len()));
    image
        .save(&path)
        .with_context(|| format!("writing {}", path.display()))
}

/// Two spikes 12 steps apart: the model should answer 12 steps after the second.
fn spike_example(dir: &Path) -> Result<()> {
    let mut steps = vec!["0"; 48];
    steps[5] = "1";
    steps[17] = "1";
    let path = dir.join("interval-12.txt");
    std::fs::write(&path, steps.join(",") + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// One moving-sprites video with at least two objects as (8, 1, 48, 48) .npy
/// (the generator's first draw for this seed is an empty video).
fn video_example(dir: &Path) -> Result<()> {
    let mut rng = data_rng(EXAMPLE_SEED, 2);
    let batch = loop {
        let batch = sprites::batch(&mut rng, 1);
        if batch.truth[0][0].len() >= 2 {
            break batch;
        }
    };
    zoo_models::inputs::write_npy(&batch.videos.get(0), &dir.join("sprites.npy"))?;
    Ok(())
}

//! Images in and out: decoding files into input tensors following a
//! package's preprocessing (Chainer's `prepare()` for VGG), and drawing
//! overlays (cell marks, boxes).

use crate::error::{ModelError, Result};
use image::{DynamicImage, ImageBuffer, Rgb, RgbImage, imageops::FilterType};
use std::path::Path;
use tch::Tensor;

/// How an image becomes an input tensor (a package's `[model.inputs.preprocess]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// `[height, width]` to resize to (bicubic); `None`: the size must already match.
    pub resize: Option<[u32; 2]>,
    /// Expected `[height, width]` when not resizing (`None`: any size).
    pub expect_size: Option<[u32; 2]>,
    /// Put channels in BGR order (Caffe/Chainer VGG) rather than RGB.
    pub bgr: bool,
    /// Subtracted per channel, in the output channel order.
    pub mean: Vec<f64>,
    /// Multiplied after subtracting the mean.
    pub scale: f64,
}

impl Preprocess {
    /// Chainer's `VGG16Layers.prepare()`: 224² bicubic, BGR, mean subtracted, 0–255.
    pub fn chainer_vgg() -> Self {
        Preprocess {
            resize: Some([224, 224]),
            expect_size: None,
            bgr: true,
            mean: vec![103.939, 116.779, 123.68],
            scale: 1.0,
        }
    }
}

/// Opens an image file, with an error naming it when it can't be decoded.
pub fn open(path: &Path) -> Result<DynamicImage> {
    if !path.is_file() {
        return Err(ModelError::file(path, "no such image file"));
    }
    image::open(path)
        .map_err(|error| ModelError::file(path, format!("cannot decode image: {error}")))
}

/// An RGB image as a (1, 3, H, W) float tensor following `pre`: values 0–255.
pub fn rgb_tensor(image: &DynamicImage, pre: &Preprocess, origin: &Path) -> Result<Tensor> {
    let mut rgb = image.to_rgb8();
    if let Some([h, w]) = pre.resize {
        rgb = image::imageops::resize(&rgb, w, h, FilterType::CatmullRom);
    } else if let Some([h, w]) = pre.expect_size
        && (rgb.height() != h || rgb.width() != w)
    {
        return Err(ModelError::file(
            origin,
            format!(
                "image is {}×{} (width×height), the model takes {w}×{h}",
                rgb.width(),
                rgb.height()
            ),
        ));
    }
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let mut chw = vec![0f32; 3 * h * w];
    for (x, y, pixel) in rgb.enumerate_pixels() {
        for c in 0..3 {
            let source = if pre.bgr { 2 - c } else { c };
            let mean = pre.mean.get(c).copied().unwrap_or(0.0);
            let value = (f64::from(pixel[source]) - mean) * pre.scale;
            chw[c * h * w + y as usize * w + x as usize] = value as f32;
        }
    }
    Ok(Tensor::from_slice(&chw).view([1, 3, h as i64, w as i64]))
}

/// A one-channel image as (1, 1, H, W) in [0, 1] (16-bit files divided by 65535).
pub fn gray_tensor(image: &DynamicImage) -> Tensor {
    let luma = image.to_luma32f();
    let (w, h) = (luma.width() as i64, luma.height() as i64);
    Tensor::from_slice(luma.as_raw()).view([1, 1, h, w])
}

/// Writes a PNG atomically (temp file in the same folder, then rename).
pub fn save_png(image: &RgbImage, path: &Path) -> Result<()> {
    let tmp = path.with_extension("png.tmp");
    image
        .save_with_format(&tmp, image::ImageFormat::Png)
        .map_err(|error| ModelError::file(&tmp, error.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// A (H, W) tensor in [0, 1] as a grey RGB image, scaled up by `zoom`.
pub fn gray_to_rgb(values: &Tensor, zoom: u32) -> RgbImage {
    let v = values
        .to_device(tch::Device::Cpu)
        .to_kind(tch::Kind::Float)
        .clamp(0.0, 1.0);
    let (h, w) = (v.size()[0] as u32, v.size()[1] as u32);
    let data: Vec<f32> = v.flatten(0, -1).try_into().unwrap_or_default();
    ImageBuffer::from_fn(w * zoom, h * zoom, |x, y| {
        let g = (data
            .get(((y / zoom) * w + x / zoom) as usize)
            .copied()
            .unwrap_or(0.0)
            * 255.0) as u8;
        Rgb([g, g, g])
    })
}

/// Draws a 1-px rectangle outline (corners in pixels of `image`).
pub fn draw_rect(image: &mut RgbImage, x0: f32, y0: f32, x1: f32, y1: f32, colour: [u8; 3]) {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let clamp = |v: f32, max: i64| (v.round() as i64).clamp(0, max - 1) as u32;
    let (x0, x1, y0, y1) = (clamp(x0, w), clamp(x1, w), clamp(y0, h), clamp(y1, h));
    for x in x0..=x1 {
        image.put_pixel(x, y0, Rgb(colour));
        image.put_pixel(x, y1, Rgb(colour));
    }
    for y in y0..=y1 {
        image.put_pixel(x0, y, Rgb(colour));
        image.put_pixel(x1, y, Rgb(colour));
    }
}

/// Draws a small cross centred at (x, y).
pub fn draw_cross(image: &mut RgbImage, x: f32, y: f32, colour: [u8; 3]) {
    let (w, h) = (image.width() as i64, image.height() as i64);
    let (cx, cy) = (x.round() as i64, y.round() as i64);
    for d in -2..=2 {
        for (px, py) in [(cx + d, cy), (cx, cy + d)] {
            if (0..w).contains(&px) && (0..h).contains(&py) {
                image.put_pixel(px as u32, py as u32, Rgb(colour));
            }
        }
    }
}

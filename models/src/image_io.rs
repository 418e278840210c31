//! Images in and out: decoding files into input tensors following a
//! package's preprocessing (Chainer's `prepare()` for VGG), and drawing
//! overlays (cell marks, boxes).

use crate::error::{ModelError, Result};
use image::{
    DynamicImage, ImageBuffer, ImageDecoder, ImageFormat, ImageReader, Rgb, RgbImage,
    metadata::Orientation,
};
use std::borrow::Cow;
use std::io::{BufRead, Read, Seek};
use std::path::Path;
use std::sync::OnceLock;
use tch::Tensor;

/// The input file name that means standard input: `curl -s URL | zoo run vgg16 -`.
pub const STDIN: &str = "-";

/// The most bytes read from standard input for one image.
const MAX_STDIN_BYTES: u64 = 512 << 20;

/// How an image becomes an input tensor (a package's `[model.inputs.preprocess]`).
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    /// `[height, width]` to resize to (bicubic).
    pub resize: Option<[u32; 2]>,
    /// The input's fixed `[height, width]` when not resizing: an image of
    /// another size is resized to it (bicubic), as Chainer's `prepare()`
    /// does for VGG. `None`: any size (fully convolutional models).
    pub expect_size: Option<[u32; 2]>,
    /// `[height, width]` cut from the centre after resizing (Caffe's `crop_size`).
    pub crop: Option<[u32; 2]>,
    /// Put channels in BGR order (Caffe/Chainer VGG) rather than RGB.
    pub bgr: bool,
    /// One channel, the image's luma (the input is N×1×H×W: a grayscale
    /// model such as MNIST's).
    pub gray: bool,
    /// Subtracted per channel, in the output channel order (one value
    /// serves every channel).
    pub mean: Vec<f64>,
    /// Multiplied after subtracting the mean.
    pub scale: f64,
    /// Per-channel divisor applied last (empty: none; one value serves
    /// every channel).
    pub std: Vec<f64>,
}

impl Preprocess {
    /// Chainer's `VGG16Layers.prepare()`: 224² bicubic, BGR, mean subtracted, 0–255.
    pub fn chainer_vgg() -> Self {
        Preprocess {
            resize: Some([224, 224]),
            expect_size: None,
            crop: None,
            bgr: true,
            gray: false,
            mean: vec![103.939, 116.779, 123.68],
            scale: 1.0,
            std: vec![],
        }
    }
}

/// A path that is no image file: missing, or a folder (given by mistake
/// for a package or a glob that matched one).
fn not_an_image_file(path: &Path) -> ModelError {
    let what = if path.is_dir() {
        "is a folder, not an image file"
    } else {
        "no such image file"
    };
    ModelError::file(path, what)
}

/// Opens an image file (PNG, JPEG, WebP, BMP, GIF's first frame, TIFF),
/// with an error naming it when it can't be decoded. The format comes from
/// the file's first bytes, not its name (a JPEG saved as `.png` opens), and
/// an EXIF orientation is applied, so the model sees the photo as a viewer
/// shows it (as Hugging Face's `load_image` does; PIL alone would not).
/// `-` ([`STDIN`]) reads the image from standard input.
pub fn open(path: &Path) -> Result<DynamicImage> {
    let cannot = |error: image::ImageError| decode_error(path, error);
    let mut decoder = decoder(path)?;
    let orientation = decoder.orientation().map_err(cannot)?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(cannot)?;
    image.apply_orientation(orientation);
    Ok(image)
}

/// The decoder of `path` (`-`: standard input), its format told by content.
/// A JPEG is first checked to be whole ([`check_jpeg_whole`]).
fn decoder(path: &Path) -> Result<Box<dyn ImageDecoder>> {
    fn boxed(
        reader: ImageReader<impl BufRead + Seek + 'static>,
        path: &Path,
    ) -> Result<Box<dyn ImageDecoder>> {
        match reader.into_decoder() {
            Ok(decoder) => Ok(Box::new(decoder)),
            Err(error) => Err(decode_error(path, error)),
        }
    }
    if path == Path::new(STDIN) {
        let bytes = stdin_bytes()?;
        let reader = ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|source| ModelError::io(path, source))?;
        if reader.format() == Some(ImageFormat::Jpeg) {
            check_jpeg_whole(path, bytes)?;
        }
        return boxed(reader, path);
    }
    let reader = file_reader(path)?;
    if reader.format() != Some(ImageFormat::Jpeg) {
        return boxed(reader, path);
    }
    // The JPEG decoder reads the whole file into memory anyway: read it
    // once, check it, and decode those bytes.
    let bytes = std::fs::read(path).map_err(|source| ModelError::io(path, source))?;
    check_jpeg_whole(path, &bytes)?;
    boxed(
        ImageReader::with_format(std::io::Cursor::new(bytes), ImageFormat::Jpeg),
        path,
    )
}

/// Refuses a JPEG that ends before its end-of-image marker: a partial
/// download or copy. The `image` crate decodes one leniently (zune-jpeg
/// without strict mode, which it does not expose), filling the missing
/// part with grey, and a model would then classify half a photo without a
/// word; Pillow refuses such files as truncated, and so does zoo.
fn check_jpeg_whole(path: &Path, bytes: &[u8]) -> Result<()> {
    if jpeg_reaches_end(bytes) {
        return Ok(());
    }
    Err(ModelError::file(
        path,
        format!(
            "cannot decode image: the JPEG data is truncated (its {} bytes end before the \
             end-of-image marker); the file is incomplete",
            bytes.len()
        ),
    ))
}

/// Whether a JPEG's segments, read from the start-of-image marker on, lead
/// to an end-of-image marker. Segments are skipped by their length (an
/// EXIF thumbnail's own end marker inside APP1 does not count) and
/// entropy-coded data up to the next marker that is neither a stuffed
/// 0xFF nor a restart marker. Bytes between segments are skipped, as
/// lenient decoders do.
fn jpeg_reaches_end(bytes: &[u8]) -> bool {
    const END_OF_IMAGE: u8 = 0xD9;
    const START_OF_SCAN: u8 = 0xDA;
    let mut pos = 2;
    loop {
        while bytes.get(pos).is_some_and(|&b| b != 0xFF) {
            pos += 1;
        }
        // Any number of 0xFF fill bytes before the marker code.
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        let Some(&marker) = bytes.get(pos) else {
            return false;
        };
        pos += 1;
        match marker {
            END_OF_IMAGE => return true,
            // Markers without a length (TEM, restarts, start of image).
            0x00 | 0x01 | 0xD0..=0xD8 => {}
            _ => {
                let Some(length) = bytes.get(pos..pos + 2) else {
                    return false;
                };
                pos += usize::from(u16::from_be_bytes([length[0], length[1]]));
                if pos > bytes.len() {
                    return false;
                }
                if marker == START_OF_SCAN {
                    pos = scan_end(bytes, pos);
                }
            }
        }
    }
}

/// Where the entropy-coded data from `pos` on ends: at the first marker
/// other than a restart (`FF 00` is a stuffed 0xFF data byte).
fn scan_end(bytes: &[u8], mut pos: usize) -> usize {
    while pos + 1 < bytes.len() {
        if bytes[pos] == 0xFF && !matches!(bytes[pos + 1], 0x00 | 0xD0..=0xD7 | 0xFF) {
            return pos;
        }
        pos += 1;
    }
    bytes.len()
}

/// A reader for `path` whose format is guessed from its content.
fn file_reader(path: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>> {
    if !path.is_file() {
        return Err(not_an_image_file(path));
    }
    ImageReader::open(path)
        .and_then(ImageReader::with_guessed_format)
        .map_err(|source| ModelError::io(path, source))
}

/// Standard input's bytes, read once per process (the cell counter reads
/// an image's size before the image, and `-` may be given twice).
fn stdin_bytes() -> Result<&'static [u8]> {
    static BYTES: OnceLock<std::result::Result<Vec<u8>, String>> = OnceLock::new();
    let bytes = BYTES.get_or_init(|| {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .take(MAX_STDIN_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| format!("reading standard input: {error}"))?;
        match bytes.len() as u64 {
            0 => Err("standard input is empty (pipe an image into `-`)".to_string()),
            n if n > MAX_STDIN_BYTES => Err(format!(
                "standard input holds more than {} MiB, too much for an image",
                MAX_STDIN_BYTES >> 20
            )),
            _ => Ok(bytes),
        }
    });
    bytes
        .as_deref()
        .map_err(|message| ModelError::file(Path::new(STDIN), message.clone()))
}

fn decode_error(path: &Path, error: image::ImageError) -> ModelError {
    ModelError::file(path, format!("cannot decode image: {error}"))
}

/// Whether `orientation` turns the image by a quarter (width and height swap).
fn swaps_sides(orientation: Orientation) -> bool {
    matches!(
        orientation,
        Orientation::Rotate90
            | Orientation::Rotate270
            | Orientation::Rotate90FlipH
            | Orientation::Rotate270FlipH
    )
}

/// An image as a (1, 3, H, W) float tensor following `pre` (values 0–255
/// before mean, scale and std), or (1, 1, H, W) of its luma for a `gray`
/// input.
pub fn rgb_tensor(image: &DynamicImage, pre: &Preprocess, origin: &Path) -> Result<Tensor> {
    let mut rgb = match image {
        // Resized and cropped as three equal channels; the first is kept.
        _ if pre.gray => Cow::Owned(DynamicImage::ImageLuma8(luma(image)).to_rgb8()),
        DynamicImage::ImageRgb8(rgb) => Cow::Borrowed(rgb),
        other => Cow::Owned(other.to_rgb8()),
    };
    // With a crop, the input's fixed size is the crop's, not the resize's.
    let target = pre
        .resize
        .or(pre.expect_size.filter(|_| pre.crop.is_none()));
    if let Some([h, w]) = target
        && (rgb.height() != h || rgb.width() != w)
    {
        if h == 0 || w == 0 || rgb.width() == 0 || rgb.height() == 0 {
            return Err(ModelError::file(
                origin,
                format!(
                    "cannot resize a {}×{} image to {w}×{h}",
                    rgb.width(),
                    rgb.height()
                ),
            ));
        }
        rgb = Cow::Owned(resize(&rgb, w, h, origin)?);
    }
    if let Some([h, w]) = pre.crop {
        if h > rgb.height() || w > rgb.width() {
            return Err(ModelError::file(
                origin,
                format!(
                    "cannot crop {w}×{h} from a {}×{} image (resize it first)",
                    rgb.width(),
                    rgb.height()
                ),
            ));
        }
        let (x, y) = ((rgb.width() - w) / 2, (rgb.height() - h) / 2);
        rgb = Cow::Owned(image::imageops::crop_imm(&*rgb, x, y, w, h).to_image());
    }
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let channels = if pre.gray { 1 } else { 3 };
    let per_channel = |values: &[f64], c: usize, default: f64| {
        values.get(c).or(values.first()).copied().unwrap_or(default)
    };
    let mut chw = vec![0f32; channels * h * w];
    for (x, y, pixel) in rgb.enumerate_pixels() {
        for c in 0..channels {
            let source = if pre.bgr && !pre.gray { 2 - c } else { c };
            let mean = per_channel(&pre.mean, c, 0.0);
            let std = per_channel(&pre.std, c, 1.0);
            let value = (f64::from(pixel[source]) - mean) * pre.scale / std;
            chw[c * h * w + y as usize * w + x as usize] = value as f32;
        }
    }
    Ok(Tensor::from_slice(&chw).view([1, channels as i64, h as i64, w as i64]))
}

/// An image's luma, 0–255: a grayscale image's own values, else ITU-R
/// 601's weights as Pillow's `convert("L")` and torchvision's `Grayscale`
/// compute them (the image crate would use Rec. 709's).
fn luma(image: &DynamicImage) -> image::GrayImage {
    use image::ColorType::{L8, L16, La8, La16};
    if matches!(image.color(), L8 | L16 | La8 | La16) {
        return image.to_luma8();
    }
    let rgb = image.to_rgb8();
    image::GrayImage::from_fn(rgb.width(), rgb.height(), |x, y| {
        let [r, g, b] = rgb.get_pixel(x, y).0;
        let weighted = u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471;
        image::Luma([((weighted + 0x8000) >> 16) as u8])
    })
}

/// `rgb` resized to `w`×`h` by Catmull-Rom convolution (bicubic, a = −0.5:
/// Pillow's BICUBIC and Chainer's `prepare()`), through fast_image_resize's
/// SIMD code.
fn resize(rgb: &RgbImage, w: u32, h: u32, origin: &Path) -> Result<RgbImage> {
    use fast_image_resize as fr;
    let failed = |error: &dyn std::fmt::Display| {
        ModelError::file(
            origin,
            format!(
                "cannot resize the {}×{} image to {w}×{h}: {error}",
                rgb.width(),
                rgb.height()
            ),
        )
    };
    let source =
        fr::images::ImageRef::new(rgb.width(), rgb.height(), rgb.as_raw(), fr::PixelType::U8x3)
            .map_err(|e| failed(&e))?;
    let mut resized = fr::images::Image::new(w, h, fr::PixelType::U8x3);
    let options =
        fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::CatmullRom));
    fr::Resizer::new()
        .resize(&source, &mut resized, &options)
        .map_err(|e| failed(&e))?;
    RgbImage::from_raw(w, h, resized.into_vec()).ok_or_else(|| failed(&"wrong buffer size"))
}

/// A one-channel image as (1, 1, H, W) in [0, 1] (16-bit files divided by 65535).
pub fn gray_tensor(image: &DynamicImage) -> Tensor {
    let luma = image.to_luma32f();
    let (w, h) = (luma.width() as i64, luma.height() as i64);
    Tensor::from_slice(luma.as_raw()).view([1, 1, h, w])
}

/// Writes a PNG atomically (temp file in the same folder, then rename).
pub fn save_png(image: &RgbImage, path: &Path) -> Result<()> {
    save_as(image, path, image::ImageFormat::Png)
}

/// The image format an overlay file name asks for (`.png`, `.jpg`/`.jpeg`),
/// so that a `.jpg` gets JPEG bytes.
pub fn overlay_format(path: &Path) -> Result<image::ImageFormat> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("png") => Ok(image::ImageFormat::Png),
        Some("jpg" | "jpeg") => Ok(image::ImageFormat::Jpeg),
        _ => Err(ModelError::file(
            path,
            "an overlay file must end in .png, .jpg or .jpeg (or name a folder, ending in /)",
        )),
    }
}

/// Writes `image` in the format its file name asks for, atomically.
pub fn save_image(image: &RgbImage, path: &Path) -> Result<()> {
    save_as(image, path, overlay_format(path)?)
}

fn save_as(image: &RgbImage, path: &Path, format: image::ImageFormat) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = std::path::PathBuf::from(tmp);
    let mut file = std::io::BufWriter::new(
        std::fs::File::create(&tmp).map_err(|source| ModelError::io(path, source))?,
    );
    let written = image
        .write_to(&mut file, format)
        .map_err(|error| ModelError::file(path, error.to_string()))
        .and_then(|()| {
            use std::io::Write;
            file.flush().map_err(|source| ModelError::io(path, source))
        });
    drop(file);
    if let Err(error) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(error);
    }
    std::fs::rename(&tmp, path).map_err(|source| ModelError::io(path, source))
}

/// An image file's `(width, height)` as [`open`] will return it (its EXIF
/// orientation applied), from its header, without decoding the pixels.
pub fn dimensions(path: &Path) -> Result<(u32, u32)> {
    let mut decoder = decoder(path)?;
    let (width, height) = decoder.dimensions();
    let orientation = decoder
        .orientation()
        .map_err(|error| decode_error(path, error))?;
    Ok(if swaps_sides(orientation) {
        (height, width)
    } else {
        (width, height)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_and_missing_files_are_named_as_such() {
        let dir = tempfile::tempdir().expect("tempdir");
        let folder = open(dir.path()).expect_err("a folder").to_string();
        assert!(
            folder.contains("is a folder, not an image file"),
            "{folder}"
        );
        let missing = dimensions(&dir.path().join("cat.png"))
            .expect_err("missing")
            .to_string();
        assert!(
            missing.contains("cat.png") && missing.contains("no such image file"),
            "{missing}"
        );
    }

    /// A 3×2 RGB image whose pixels are all different.
    fn pattern() -> RgbImage {
        RgbImage::from_fn(3, 2, |x, y| Rgb([(40 * x + 100 * y) as u8, 7, 9]))
    }

    fn encoded(image: &RgbImage, format: image::ImageFormat) -> Vec<u8> {
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, format).expect("encode");
        bytes.into_inner()
    }

    #[test]
    fn formats_are_told_by_content_not_by_name() {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = pattern();
        for (format, name) in [
            (image::ImageFormat::Jpeg, "photo.png"),
            (image::ImageFormat::Png, "photo.jpg"),
            (image::ImageFormat::WebP, "photo.webp"),
            (image::ImageFormat::Bmp, "photo.bmp"),
            (image::ImageFormat::Gif, "photo.gif"),
            (image::ImageFormat::Tiff, "photo"),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, encoded(&image, format)).expect("write");
            let opened = open(&path).unwrap_or_else(|e| panic!("{format:?} as {name}: {e}"));
            assert_eq!((opened.width(), opened.height()), (3, 2), "{format:?}");
            assert_eq!(dimensions(&path).expect("dimensions"), (3, 2), "{format:?}");
            if format != image::ImageFormat::Jpeg && format != image::ImageFormat::Gif {
                // Lossless formats give the pixels back (GIF: a palette).
                assert_eq!(opened.to_rgb8(), image, "{format:?}");
            }
        }
        let text = dir.path().join("notes.png");
        std::fs::write(&text, "not an image").expect("write");
        let error = open(&text).expect_err("text").to_string();
        assert!(
            error.contains("notes.png") && error.contains("cannot decode image"),
            "{error}"
        );
    }

    /// A JPEG's EXIF orientation 6 ("rotate 90° clockwise to display"):
    /// the opened image is the displayed one, and `dimensions` agrees.
    #[test]
    fn exif_orientation_is_applied() {
        // A little-endian TIFF header, one IFD entry: Orientation (0x0112),
        // SHORT, count 1, value 6; no next IFD.
        let exif: Vec<u8> = [
            &b"II*\0"[..],
            &8u32.to_le_bytes(),
            &1u16.to_le_bytes(),
            &0x0112u16.to_le_bytes(),
            &3u16.to_le_bytes(),
            &1u32.to_le_bytes(),
            &[6, 0, 0, 0],
            &0u32.to_le_bytes(),
        ]
        .concat();
        // Two flat halves (left dark, right light) survive JPEG's loss.
        let image = RgbImage::from_fn(16, 8, |x, _| {
            if x < 8 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let mut bytes = Vec::new();
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
        image::ImageEncoder::set_exif_metadata(&mut encoder, exif).expect("exif");
        encoder.encode_image(&image).expect("encode");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("portrait.jpg");
        std::fs::write(&path, bytes).expect("write");

        let opened = open(&path).expect("open").to_rgb8();
        assert_eq!(opened.dimensions(), (8, 16));
        assert_eq!(dimensions(&path).expect("dimensions"), (8, 16));
        // Turned clockwise, the dark left half is on top.
        assert!(
            opened.get_pixel(4, 2)[0] < 30,
            "{:?}",
            opened.get_pixel(4, 2)
        );
        assert!(
            opened.get_pixel(4, 13)[0] > 225,
            "{:?}",
            opened.get_pixel(4, 13)
        );
    }

    /// A gray input gets the luma as Pillow's `convert("L")` computes it
    /// (ITU-R 601), one channel, and a single mean and std.
    #[test]
    fn a_gray_input_gets_the_luma_with_one_mean() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_fn(2, 1, |x, _| {
            if x == 0 {
                Rgb([255, 0, 0])
            } else {
                Rgb([10, 200, 30])
            }
        }));
        let pre = Preprocess {
            resize: None,
            expect_size: None,
            crop: None,
            bgr: true,
            gray: true,
            mean: vec![6.0],
            scale: 1.0,
            std: vec![2.0],
        };
        let x = rgb_tensor(&image, &pre, Path::new("x.png")).unwrap();
        assert_eq!(x.size(), vec![1, 1, 1, 2]);
        // Pillow: L(255, 0, 0) = 76, L(10, 200, 30) = 124.
        let got = Vec::<f32>::try_from(x.reshape([-1])).unwrap();
        assert_eq!(got, vec![(76.0 - 6.0) / 2.0, (124.0 - 6.0) / 2.0]);
        // A grayscale file keeps its own values.
        let gray = DynamicImage::ImageLuma8(image::GrayImage::from_pixel(1, 1, image::Luma([9])));
        let x = rgb_tensor(&gray, &pre, Path::new("g.png")).unwrap();
        assert_eq!(Vec::<f32>::try_from(x.reshape([-1])).unwrap(), vec![1.5]);
    }

    /// torchvision-style normalisation: `(pixel − mean) · scale / std`, per
    /// channel in the output order.
    #[test]
    fn std_divides_each_channel_after_the_mean() {
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(1, 1, Rgb([255, 128, 0])));
        let pre = Preprocess {
            resize: None,
            expect_size: None,
            crop: None,
            bgr: false,
            gray: false,
            mean: vec![123.675, 116.28, 103.53],
            scale: 1.0,
            std: vec![58.395, 57.12, 57.375],
        };
        let x = rgb_tensor(&image, &pre, Path::new("x.png")).unwrap();
        let got = Vec::<f32>::try_from(x.reshape([-1])).unwrap();
        let want = [
            (255.0 - 123.675) / 58.395,
            (128.0 - 116.28) / 57.12,
            (0.0 - 103.53) / 57.375,
        ];
        for (g, w) in got.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn truncated_jpegs_are_refused_and_whole_ones_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = RgbImage::from_fn(64, 48, |x, y| Rgb([(x * 4) as u8, (y * 5) as u8, 90]));
        let whole = encoded(&image, ImageFormat::Jpeg);
        let path = dir.path().join("photo.jpg");
        std::fs::write(&path, &whole).unwrap();
        assert_eq!(open(&path).expect("whole").width(), 64);
        // Bytes after the end marker (some cameras append data) are fine.
        let mut trailing = whole.clone();
        trailing.extend_from_slice(b"trailer");
        std::fs::write(&path, &trailing).unwrap();
        assert!(open(&path).is_ok());
        for cut in [whole.len() / 2, whole.len() - 2, 200] {
            std::fs::write(&path, &whole[..cut]).unwrap();
            let error = open(&path).expect_err("truncated").to_string();
            assert!(
                error.contains("photo.jpg") && error.contains("truncated"),
                "{cut}: {error}"
            );
        }
    }
}

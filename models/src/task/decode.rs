//! Task decoders: one input file → the model's input tensor, and the
//! model's outputs → a result (top-k labels, a cell count with its peaks,
//! spike steps, boxes per frame), as JSON values that `zoo run` prints.
//! Beside the models, so that every package kind decodes the same way.

use crate::cell_counter::{CellCounterConfig, DENSITY_SCALE, mark_cells, out_of_distribution};
use crate::error::{ModelError, Result};
use crate::nested_rnn::NestedRnnConfig;
use crate::package::{Architecture, LoadedPackage, builtin_config, labels};
use crate::{image_io, inputs};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};
use zoo_format::manifest::Task;

/// How a package's outputs are decoded: by its task (any architecture),
/// else by its built-in architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoder {
    Classify,
    CellCounter,
    Spikes,
    Detect,
}

impl Decoder {
    /// The package's decoder, if it has one.
    pub fn of(package: &LoadedPackage) -> Option<Decoder> {
        if super::task_of(&package.manifest) == Some(Task::Classify) {
            return Some(Decoder::Classify);
        }
        match package.architecture? {
            Architecture::CellCounter => Some(Decoder::CellCounter),
            Architecture::PeepholeLstm => Some(Decoder::Spikes),
            Architecture::NestedRnn => Some(Decoder::Detect),
            a if a.is_vgg() => Some(Decoder::Classify),
            _ => None,
        }
    }

    /// Whether results can be drawn (`--overlay`).
    pub fn draws(self) -> bool {
        matches!(self, Decoder::CellCounter | Decoder::Detect)
    }
}

/// What decoding one input needs besides the input.
#[derive(Debug, Clone, Default)]
pub struct DecodeOptions {
    pub top: usize,
    /// Where this input's overlay goes (an image file, or a folder of
    /// frames for a video).
    pub overlay: Option<PathBuf>,
}

/// One input's decoded results (one per row of its batch) and the extra
/// outputs asked for, on the CPU.
#[derive(Debug)]
pub struct Decoded {
    /// One result per row of the input: an image file is one row, an
    /// `--input` tensor of shape [N, …] is N. With several rows each result
    /// says which (`"row"`), so that no row is reported as another's.
    pub results: Vec<Value>,
    /// The `extra` outputs in the order asked for (a name asked for twice
    /// comes twice).
    pub extra: Vec<Tensor>,
}

/// Bytes per input pixel the cell counter needs with its default widths
/// (16/32/64/128), rounded up from measurements of peak resident memory
/// (debug build, CPU): 711 MB at 1024², 1,718 MB at 2048² (≈ 320 B/px
/// above ~370 MB for libtorch itself); 5.7 GB at 4096² in issue #15.
const CELL_COUNTER_BYTES_PER_PIXEL: u64 = 340;

fn error(message: String) -> ModelError {
    ModelError::Decode(message)
}

/// The input tensor for `file`, as the package's architecture reads it.
pub fn input_for_file(
    package: &LoadedPackage,
    decoder: Decoder,
    file: &str,
    max_pixels: u64,
) -> Result<Tensor> {
    let path = Path::new(file);
    match decoder {
        Decoder::Classify => {
            check_takes_images(package, file)?;
            let image = image_io::open(path)?;
            let pre = super::image_preprocess(&package.manifest);
            image_io::rgb_tensor(&image, &pre, path)
        }
        Decoder::CellCounter => {
            // Fully convolutional at the image's own size: estimate the
            // memory from the header before decoding or running anything.
            let (width, height) = image_io::dimensions(path)?;
            let pixels = u64::from(width) * u64::from(height);
            if pixels > max_pixels {
                let scale = builtin_config::<CellCounterConfig>(&package.manifest)?
                    .widths
                    .first()
                    .map_or(1.0, |w| *w as f64 / 16.0);
                let bytes = pixels as f64 * CELL_COUNTER_BYTES_PER_PIXEL as f64 * scale;
                return Err(error(format!(
                    "{file} is {width}×{height} ({pixels} pixels): the cell counter runs at full \
                     resolution and would need about {:.1} GB of memory for it; the limit is \
                     --max-pixels {max_pixels}. Crop or downscale the image, or raise --max-pixels",
                    bytes / 1e9
                )));
            }
            let image = image_io::open(path)?;
            Ok(image_io::gray_tensor(&image))
        }
        Decoder::Spikes | Decoder::Detect if file == image_io::STDIN => Err(error(format!(
            "`{file}` reads an image from standard input, but this package takes {}",
            if decoder == Decoder::Spikes {
                "a spike sequence (a file, or text like 0,0,1,0)"
            } else {
                "a video (.npy or a folder of frames)"
            }
        ))),
        Decoder::Spikes => inputs::read_spikes(file),
        Decoder::Detect => inputs::read_video(path),
    }
}

/// Refuses an image for a classifier whose input has neither 1 (gray) nor
/// 3 (RGB) channels: no image becomes that input, and the model's own
/// error about channels would not say what to do instead.
fn check_takes_images(package: &LoadedPackage, file: &str) -> Result<()> {
    let Some(input) = package
        .manifest
        .model
        .as_ref()
        .and_then(|m| m.inputs.first())
    else {
        return Ok(());
    };
    match input.shape.as_slice() {
        [_, c, _, _] if *c > 0 && *c != 1 && *c != 3 => Err(error(format!(
            "{file}: the input {:?} of {} has {c} channels, so it takes no image (images \
             have 1 or 3); pass the tensor with --input {}=FILE.npy",
            input.name, package.manifest.package.name, input.name
        ))),
        _ => Ok(()),
    }
}

/// Runs `x` (the input of `label`) and decodes what the package outputs,
/// one result per row of `x`, returning the `extra` outputs asked for.
pub fn decode_input(
    package: &LoadedPackage,
    decoder: Decoder,
    label: &str,
    x: &Tensor,
    extra: &[String],
    options: &DecodeOptions,
) -> Result<Decoded> {
    let needed = decoded_outputs(package, decoder);
    // Each name once: models return one tensor per distinct name, and an
    // extra output may be one the decoder reads anyway (`--output prob=…`).
    let mut names: Vec<String> = Vec::new();
    for name in needed.iter().chain(extra) {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let (input, size) = model_input(package, decoder, label, x)?;
    let input_name = package
        .model
        .input_names()
        .into_iter()
        .next()
        .ok_or_else(|| error(format!("{label}: the model declares no input")))?;
    let out = package
        .model
        .run(&[(input_name, input)], &names)
        .map_err(|e| error(format!("{label}: {e}")))?;
    let output = |name: &str| -> Result<&Tensor> {
        out.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
            .ok_or_else(|| error(format!("{label}: the model returned no output {name:?}")))
    };
    let results = match decoder {
        Decoder::Classify => classify(package, label, output(&needed[0])?, options.top)?,
        Decoder::CellCounter => {
            let (h, w) = size.unwrap_or((0, 0));
            let density = output(&needed[0])?.narrow(2, 0, h).narrow(3, 0, w);
            count_cells(label, x, &density, options.overlay.as_deref())?
        }
        Decoder::Spikes => spikes(label, output(&needed[0])?)?,
        Decoder::Detect => detect(
            package,
            label,
            x,
            output(&needed[0])?,
            output(&needed[1])?,
            options.overlay.as_deref(),
        )?,
    };
    let extra = extra
        .iter()
        .map(|name| Ok(output(name)?.to_device(tch::Device::Cpu)))
        .collect::<Result<Vec<Tensor>>>()?;
    Ok(Decoded {
        results: numbered(results),
        extra,
    })
}

/// The outputs `decoder` reads its results from.
fn decoded_outputs(package: &LoadedPackage, decoder: Decoder) -> Vec<String> {
    match decoder {
        Decoder::Classify => vec![classify_output(package)],
        Decoder::CellCounter => vec!["density".into()],
        Decoder::Spikes => vec!["spikes".into()],
        Decoder::Detect => vec!["class_logits".into(), "boxes".into()],
    }
}

/// What the model runs on for `x`, and the cell counter's image size. The
/// cell counter takes sides that are multiples of 2^(pools): its input is
/// padded with background (zeros) and the density cropped back to `size`.
fn model_input(
    package: &LoadedPackage,
    decoder: Decoder,
    label: &str,
    x: &Tensor,
) -> Result<(Tensor, Option<(i64, i64)>)> {
    if decoder != Decoder::CellCounter {
        return Ok((x.shallow_clone(), None));
    }
    let widths = builtin_config::<CellCounterConfig>(&package.manifest)?.widths;
    let stride = 1i64 << (widths.len().max(1) - 1);
    let size = x.size();
    if size.len() != 4 {
        return Err(error(format!(
            "{label}: expected an image batch [N, 1, H, W], got {size:?}"
        )));
    }
    let pad = |side: i64| (stride - side % stride) % stride;
    let (ph, pw) = (pad(size[2]), pad(size[3]));
    Ok((x.constant_pad_nd([0, pw, 0, ph]), Some((size[2], size[3]))))
}

/// Results of a batch say their row; one row's result stays as a file's.
fn numbered(mut results: Vec<Value>) -> Vec<Value> {
    if results.len() > 1 {
        for (row, result) in results.iter_mut().enumerate() {
            result["row"] = json!(row);
        }
    }
    results
}

/// The rows of a batch (`tensor`'s first axis): one for a tensor of fewer
/// than two axes.
fn rows(tensor: &Tensor) -> i64 {
    if tensor.dim() < 2 {
        1
    } else {
        tensor.size()[0]
    }
}

/// An overlay draws one image or video: a batch of several has no one
/// picture to draw.
fn one_row_for_overlay(label: &str, rows: i64, overlay: Option<&Path>) -> Result<()> {
    match overlay {
        Some(_) if rows != 1 => Err(error(format!(
            "{label}: --overlay draws one input at a time, and this one holds a batch of {rows}"
        ))),
        _ => Ok(()),
    }
}

/// The output a classifier's answer is read from (built-in VGGs: `prob`).
fn classify_output(package: &LoadedPackage) -> String {
    super::classify_output(&package.manifest).unwrap_or_else(|| "prob".into())
}

/// The top classes of every row of `scores`.
fn classify(
    package: &LoadedPackage,
    label: &str,
    scores: &Tensor,
    top: usize,
) -> Result<Vec<Value>> {
    let output = classify_output(package);
    let labels = super::read_labels(&package.dir, &package.manifest, &output)?.unwrap_or_default();
    let rows = super::top_classes(scores, &labels, top)
        .map_err(|e| error(format!("{label}: the classify output {output:?}: {e}")))?;
    Ok(rows
        .into_iter()
        .map(|classes| {
            let entries: Vec<Value> = classes
                .into_iter()
                .map(|c| json!({"class": c.class, "label": c.label, "probability": c.probability}))
                .collect();
            json!({"file": label, "top": entries})
        })
        .collect())
}

/// One count per image of the batch `x` ([N, 1, H, W]) from its density.
fn count_cells(
    label: &str,
    x: &Tensor,
    density: &Tensor,
    overlay: Option<&Path>,
) -> Result<Vec<Value>> {
    let images = rows(x);
    one_row_for_overlay(label, images, overlay)?;
    let density = density.to_device(tch::Device::Cpu);
    (0..images)
        .map(|i| {
            // Warnings name the row of a batch, as its result does.
            let warned = if images > 1 {
                format!("{label} (row {i})")
            } else {
                label.to_string()
            };
            let mut result =
                count_image(&warned, &x.get(i).get(0), &density.get(i).get(0), overlay)?;
            result["file"] = json!(label);
            Ok(result)
        })
        .collect()
}

/// The count is the sum of the density clamped at zero (a dark image
/// counts 0, not −0.4), over the image's own area; the marked cells are
/// the count's own (`mark_cells`), so the two agree. `image` and `raw` are
/// [H, W].
fn count_image(label: &str, image: &Tensor, raw: &Tensor, overlay: Option<&Path>) -> Result<Value> {
    let warnings = out_of_distribution(image, raw);
    for warning in &warnings {
        eprintln!("warning: {label}: {warning}; the count may be meaningless");
    }
    let density = raw.clamp_min(0.0);
    let count = density.sum(Kind::Double).double_value(&[]) / DENSITY_SCALE;
    // As many marks as the count says (touching nuclei get one each).
    let peaks = mark_cells(&density, count.round() as usize);
    if let Some(target) = overlay {
        let side = image.size().into_iter().max().unwrap_or(1).max(1);
        // Zoomed for small images, never past ~2048 pixels a side.
        let zoom = (2048 / side).clamp(1, 4);
        let mut canvas = image_io::gray_to_rgb(image, zoom as u32);
        let zoom = zoom as f32;
        for &(row, col) in &peaks {
            image_io::draw_cross(
                &mut canvas,
                col as f32 * zoom + zoom / 2.0,
                row as f32 * zoom + zoom / 2.0,
                [255, 0, 0],
            );
        }
        image_io::save_image(&canvas, target)?;
    }
    let coordinates: Vec<Value> = peaks.iter().map(|(r, c)| json!([r, c])).collect();
    Ok(json!({"file": label, "count": count, "peaks": coordinates, "warnings": warnings}))
}

/// The spike steps of every sequence of the batch `out` ([N, T] or
/// [N, T, 1]; steps count from 0 within each sequence).
fn spikes(label: &str, out: &Tensor) -> Result<Vec<Value>> {
    let out = out.to_device(tch::Device::Cpu).to_kind(Kind::Float);
    let sequences = if out.dim() < 2 {
        vec![out]
    } else {
        (0..out.size()[0]).map(|i| out.get(i)).collect()
    };
    sequences
        .iter()
        .map(|sequence| {
            let spikes: Vec<f32> = sequence.flatten(0, -1).try_into()?;
            let steps: Vec<usize> = spikes
                .iter()
                .enumerate()
                .filter(|(_, v)| **v > 0.5)
                .map(|(i, _)| i)
                .collect();
            Ok(json!({"file": label, "spike_steps": steps, "spikes": spikes}))
        })
        .collect()
}

/// The objects of every video of the batch `video` ([N, T, 1, H, W]).
fn detect(
    package: &LoadedPackage,
    label: &str,
    video: &Tensor,
    logits: &Tensor,
    boxes: &Tensor,
    overlay: Option<&Path>,
) -> Result<Vec<Value>> {
    let config: NestedRnnConfig = builtin_config(&package.manifest)?;
    let labels = labels(package, "class_logits")?.unwrap_or_default();
    let videos = rows(logits);
    one_row_for_overlay(label, videos, overlay)?;
    (0..videos)
        .map(|index| {
            let decoded = objects(logits, boxes, &config, index);
            if let Some(dir) = overlay {
                draw_frames(&video.get(index), &decoded, dir)?;
            }
            Ok(json!({"file": label, "frames": frames_json(&decoded, &labels)}))
        })
        .collect()
}

/// One PNG per frame of `video` ([T, 1, H, W]) with its objects' boxes.
fn draw_frames(video: &Tensor, decoded: &[Vec<(i64, [f32; 4])>], dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| ModelError::io(dir, source))?;
    for (index, objects) in decoded.iter().enumerate() {
        let zoom = 4.0;
        let mut canvas = image_io::gray_to_rgb(&video.get(index as i64).get(0), zoom as u32);
        for (_, b) in objects {
            image_io::draw_rect(
                &mut canvas,
                (b[0] - b[2] / 2.0) * zoom,
                (b[1] - b[3] / 2.0) * zoom,
                (b[0] + b[2] / 2.0) * zoom,
                (b[1] + b[3] / 2.0) * zoom,
                [0, 255, 0],
            );
        }
        image_io::save_png(&canvas, &dir.join(format!("frame_{index:03}.png")))?;
    }
    Ok(())
}

/// Each frame's objects as JSON, with their labels.
fn frames_json(decoded: &[Vec<(i64, [f32; 4])>], labels: &[String]) -> Vec<Value> {
    decoded
        .iter()
        .map(|objects| {
            Value::Array(
                objects
                    .iter()
                    .map(|(class, b)| {
                        json!({
                            "class": class,
                            "label": labels.get(*class as usize).cloned().unwrap_or_default(),
                            "box": b,
                        })
                    })
                    .collect(),
            )
        })
        .collect()
}

/// Objects before the first stop token per frame of video `video` of the
/// batch; boxes in pixels.
fn objects(
    logits: &Tensor,
    boxes: &Tensor,
    config: &NestedRnnConfig,
    video: i64,
) -> Vec<Vec<(i64, [f32; 4])>> {
    let classes = logits
        .get(video)
        .argmax(-1, false)
        .to_device(tch::Device::Cpu);
    let boxes = boxes.get(video).to_device(tch::Device::Cpu) * config.frame_size as f64;
    let size = classes.size();
    (0..size[0])
        .map(|frame| {
            let mut objects = Vec::new();
            for slot in 0..size[1] {
                let class = classes.int64_value(&[frame, slot]);
                if class >= config.classes {
                    break;
                }
                let v = |i: i64| boxes.double_value(&[frame, slot, i]) as f32;
                objects.push((class, [v(0), v(1), v(2), v(3)]));
            }
            objects
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_stop_at_the_first_stop_token_per_frame() {
        let config = NestedRnnConfig::default();
        let stop = config.classes;
        // One video, two frames, three slots, classes + 1 logits.
        let classes = [[0, stop, 1], [stop, 0, 0]];
        let width = config.classes + 1;
        let mut logits = vec![0f32; (2 * 3 * width) as usize];
        for (frame, slots) in classes.iter().enumerate() {
            for (slot, class) in slots.iter().enumerate() {
                logits[((frame * 3 + slot) as i64 * width + class) as usize] = 1.0;
            }
        }
        let logits = Tensor::from_slice(&logits).view([1, 2, 3, width]);
        let boxes = Tensor::full([1, 2, 3, 4], 0.5, (Kind::Float, tch::Device::Cpu));
        let found = objects(&logits, &boxes, &config, 0);
        let half = config.frame_size as f32 / 2.0;
        assert_eq!(found, vec![vec![(0, [half; 4])], vec![]]);
    }
}

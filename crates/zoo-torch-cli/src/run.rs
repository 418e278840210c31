//! `zoo run MODEL [FILES…]`: runs an installed package (NAME or NAME@REQ) or a
//! package folder written as a path (`zoo_client::package_arg`) on images, spike sequences or videos, or on raw `.npy`
//! tensors with `--input NAME=FILE.npy` / `--output NAME=FILE.npy`.
//! Built-in architectures load through zoo-models; graph packages (Caffe
//! imports) through zoo-nn's graph executor.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};
use zoo_format::manifest::{Architecture as ManifestArchitecture, Manifest, Task};
use zoo_models::cell_counter::{CellCounterConfig, DENSITY_SCALE, mark_cells, out_of_distribution};
use zoo_models::image_io;
use zoo_models::nested_rnn::NestedRnnConfig;
use zoo_models::package::{Architecture, LoadedPackage, builtin_config, labels};
use zoo_models::{inputs, task};
use zoo_nn::Model;
use zoo_term::outln;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// An installed package (NAME or NAME@REQ), or a package folder written
    /// as a path (`./vgg-mini`, `models/vgg-mini`, `/abs/dir`): a bare name
    /// is always the installed package, even if a folder of that name is here.
    pub model: String,
    /// Inputs: images (VGG, cell counter), a spike sequence (.npy, a text
    /// file, or text like 0,0,1,0), a video (.npy or a folder of frames).
    pub files: Vec<String>,
    /// A raw input tensor, NAME=FILE.npy (repeatable).
    #[arg(long = "input", value_name = "NAME=FILE.npy")]
    pub inputs: Vec<String>,
    /// Write an output (any named layer or blob), NAME=FILE.npy
    /// (repeatable); with input files, one array per output with a row per
    /// file.
    #[arg(long = "output", value_name = "NAME=FILE.npy")]
    pub outputs: Vec<String>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw the results: an image (.png or .jpg) for the cell counter, a
    /// folder of frames for the video detector; with several inputs, a
    /// folder with one overlay per input.
    #[arg(long, value_name = "PATH")]
    pub overlay: Option<PathBuf>,
    /// Refuse images with more pixels than this for models that run at the
    /// image's own size (the cell counter needs about 340 bytes per pixel).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_PIXELS)]
    pub max_pixels: u64,
    /// How many classes to list for classifiers.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Run a package that contains code (a TorchScript model); also
    /// `allow-code` in config.toml or ZOO_ALLOW_CODE=1.
    #[arg(long)]
    pub allow_code: bool,
}

/// `verbose` keeps libtorch's C++ traces in per-input errors and says
/// which package or folder ran.
pub fn run(args: RunArgs, verbose: bool) -> Result<()> {
    let device = zoo_nn::parse_device(&args.device)?;
    let dir = crate::settings::package_dir(&args.model, verbose)?;
    let manifest = Manifest::load(&dir).map_err(|e| anyhow!("{e}"))?;
    let model_section = manifest.model.as_ref().ok_or_else(|| {
        anyhow!(
            "{}: not a model package (no [model] section)",
            dir.display()
        )
    })?;
    match &model_section.architecture {
        ManifestArchitecture::Builtin { .. } => {
            let mut package = zoo_models::load_package(&dir, device)
                .with_context(|| format!("loading {}", dir.display()))?;
            package.model = Box::new(zoo_nn::FiniteOutputs(package.model));
            run_package(&package, &args, verbose)
        }
        ManifestArchitecture::Graph { file } => {
            let weights: Vec<PathBuf> = model_section.weights.iter().map(|w| dir.join(w)).collect();
            let model = zoo_nn::graph::GraphModel::load(&dir.join(file), &weights, device)
                .with_context(|| format!("loading the graph of {}", dir.display()))?;
            let package = LoadedPackage {
                dir: dir.clone(),
                manifest: manifest.clone(),
                architecture: None,
                model: Box::new(zoo_nn::FiniteOutputs(Box::new(model))),
            };
            run_package(&package, &args, verbose)
        }
        ManifestArchitecture::TorchScript { file } => {
            crate::allow_code::check(&manifest, file, args.allow_code)?;
            // Inputs by the manifest's names and (traced) shapes, outputs in file order.
            let inputs = model_section
                .inputs
                .iter()
                .map(|i| zoo_nn::torchscript::InputSpec::new(&i.name, Some(i.shape.clone())))
                .collect();
            let outputs = model_section
                .outputs
                .iter()
                .map(|o| o.name.clone())
                .collect();
            let model = zoo_nn::torchscript::TorchScriptModel::load(&dir.join(file), device)
                .with_context(|| format!("loading the TorchScript file of {}", dir.display()))?
                .with_signature(inputs, outputs);
            let package = LoadedPackage {
                dir: dir.clone(),
                manifest: manifest.clone(),
                architecture: None,
                model: Box::new(zoo_nn::FiniteOutputs(Box::new(model))),
            };
            run_package(&package, &args, verbose)
        }
    }
}

/// Files through the package's decoder, or raw `--input` tensors; a
/// package without a decoder (no task) takes only raw tensors.
fn run_package(package: &LoadedPackage, args: &RunArgs, verbose: bool) -> Result<()> {
    if !args.inputs.is_empty() || (decoder_of(package).is_none() && args.files.is_empty()) {
        return run_tensors(package.model.as_ref(), args, Some(package));
    }
    run_builtin(package, args, verbose)
}

/// How a package's outputs are decoded: by its task (any architecture),
/// else by its built-in architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Decoder {
    Classify,
    CellCounter,
    Spikes,
    Detect,
}

fn decoder_of(package: &LoadedPackage) -> Option<Decoder> {
    if task::task_of(&package.manifest) == Some(Task::Classify) {
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

fn split_assignment(text: &str, flag: &str) -> Result<(String, PathBuf)> {
    let (name, file) = text
        .split_once('=')
        .filter(|(n, f)| !n.is_empty() && !f.is_empty())
        .ok_or_else(|| anyhow!("{flag} {text:?}: expected NAME=FILE.npy"))?;
    Ok((name.to_string(), PathBuf::from(file)))
}

/// The `--output NAME=FILE.npy` pairs, with each file's folder checked
/// before anything runs (a typo must not cost a model run).
fn wanted_outputs(args: &RunArgs) -> Result<Vec<(String, PathBuf)>> {
    let mut wanted = Vec::new();
    for text in &args.outputs {
        let (name, file) = split_assignment(text, "--output")?;
        check_parent(&file, "--output")?;
        wanted.push((name, file));
    }
    Ok(wanted)
}

/// Fails naming `flag` when `file`'s folder does not exist.
fn check_parent(file: &Path, flag: &str) -> Result<()> {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent
        && !parent.is_dir()
    {
        bail!(
            "{flag} {}: the folder {} does not exist",
            file.display(),
            parent.display()
        );
    }
    Ok(())
}

/// Raw mode: named `.npy` inputs in, named outputs to `.npy` files. Without
/// `--output`, a built-in package's outputs are decoded as for files
/// (labels, counts, spikes, boxes); other packages list each output's shape.
fn run_tensors(model: &dyn Model, args: &RunArgs, builtin: Option<&LoadedPackage>) -> Result<()> {
    if !args.files.is_empty() {
        bail!("give inputs either as FILES or as --input NAME=FILE.npy, not both");
    }
    let wanted = wanted_outputs(args)?;
    let mut named = Vec::new();
    for text in &args.inputs {
        let (name, file) = split_assignment(text, "--input")?;
        named.push((name, inputs::read_npy(&file)?));
    }
    if named.is_empty() {
        let expected = model.input_names().join(", ");
        bail!("no input given: pass --input NAME=FILE.npy (inputs: {expected})");
    }
    if let (Some(package), true) = (builtin, wanted.is_empty())
        && let Some(decoder) = decoder_of(package)
        && named.len() == 1
    {
        let label = args.inputs[0].clone();
        let (_, x) = named.remove(0);
        let options = DecodeOptions {
            top: args.top,
            overlay: None,
        };
        let result = decode_input(package, decoder, &label, &x, &[], &options)?;
        return print_results(&[result.value], args.json);
    }
    let names: Vec<String> = wanted.iter().map(|(n, _)| n.clone()).collect();
    let results = model.run(&named, &names)?;
    let mut report = Vec::new();
    for (name, tensor) in &results {
        if let Some((_, file)) = wanted.iter().find(|(n, _)| n == name) {
            inputs::write_npy(tensor, file)?;
        }
        report.push(json!({"name": name, "shape": tensor.size()}));
        if !args.json {
            match wanted.iter().find(|(n, _)| n == name) {
                Some((_, file)) => {
                    outln!("{name}: shape {:?} → {}", tensor.size(), file.display())
                }
                None => outln!("{name}: shape {:?}", tensor.size()),
            }
        }
    }
    if args.json {
        outln!("{}", json!({"outputs": report}));
    }
    Ok(())
}

fn print_results(results: &[Value], json: bool) -> Result<()> {
    if json {
        outln!("{}", Value::Array(results.to_vec()));
    } else {
        for result in results {
            print_human(result);
        }
    }
    Ok(())
}

/// Where overlays go: one file for one input, else a folder with one file
/// (or, for videos, one folder of frames) per input.
#[derive(Debug, Clone)]
enum OverlayTarget {
    File(PathBuf),
    Folder(PathBuf),
}

/// Checks `--overlay` before the model runs: a file needs an existing
/// folder and a .png/.jpg name; a folder (a name ending in `/`, an
/// existing folder, several inputs, or a video) is created.
fn overlay_target(args: &RunArgs, decoder: Decoder) -> Result<Option<OverlayTarget>> {
    let Some(path) = &args.overlay else {
        return Ok(None);
    };
    if !matches!(decoder, Decoder::CellCounter | Decoder::Detect) {
        bail!("--overlay is for the cell counter and the video detector");
    }
    let text = path.to_string_lossy();
    let wants_folder =
        text.ends_with('/') || path.is_dir() || args.files.len() > 1 || decoder == Decoder::Detect;
    if wants_folder {
        if path.exists() && !path.is_dir() {
            bail!(
                "--overlay {}: a file, but {} needs a folder",
                path.display(),
                if args.files.len() > 1 {
                    "more than one input"
                } else {
                    "a video"
                }
            );
        }
        std::fs::create_dir_all(path)
            .with_context(|| format!("--overlay: creating the folder {}", path.display()))?;
        return Ok(Some(OverlayTarget::Folder(path.clone())));
    }
    check_parent(path, "--overlay")?;
    image_io::overlay_format(path).map_err(|e| anyhow!("--overlay: {e}"))?;
    Ok(Some(OverlayTarget::File(path.clone())))
}

impl OverlayTarget {
    /// The overlay path for input `file`: the file itself, or
    /// `FOLDER/<file stem>.png` (`FOLDER/<file stem>/` for a video when
    /// several are given, `FOLDER/` for one).
    fn for_input(&self, file: &str, several: bool, video: bool) -> PathBuf {
        match self {
            OverlayTarget::File(path) => path.clone(),
            OverlayTarget::Folder(dir) => {
                let stem = Path::new(file)
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "input".into());
                match (video, several) {
                    (true, false) => dir.clone(),
                    (true, true) => dir.join(stem),
                    (false, _) => dir.join(format!("{stem}.png")),
                }
            }
        }
    }
}

/// Files in, decoded results out (top-k labels, counts, spike steps,
/// boxes). A file that fails is reported and the others still run; the
/// command fails at the end. `--output NAME=FILE.npy` also saves any named
/// layer for every input, stacked along the batch axis (Chainer's
/// `extract`).
fn run_builtin(package: &LoadedPackage, args: &RunArgs, verbose: bool) -> Result<()> {
    let Some(decoder) = decoder_of(package) else {
        bail!(
            "{}: no [model] task, so input files cannot be decoded; pass --input {}=FILE.npy",
            package.manifest.package.name,
            package.model.input_names().join(",")
        );
    };
    if args.files.is_empty() {
        bail!(
            "no input: pass input files (see `zoo run --help`) or --input {}=FILE.npy",
            package.model.input_names().join(",")
        );
    }
    let wanted = wanted_outputs(args)?;
    let overlay = overlay_target(args, decoder)?;
    let several = args.files.len() > 1;
    let extra: Vec<String> = wanted.iter().map(|(n, _)| n.clone()).collect();
    let mut saved: Vec<Vec<Tensor>> = wanted.iter().map(|_| Vec::new()).collect();
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for file in &args.files {
        let options = DecodeOptions {
            top: args.top,
            overlay: overlay
                .as_ref()
                .map(|o| o.for_input(file, several, decoder == Decoder::Detect)),
        };
        let outcome = input_for_file(package, decoder, file, args.max_pixels)
            .and_then(|x| decode_input(package, decoder, file, &x, &extra, &options));
        match outcome {
            Ok(decoded) => {
                if !args.json {
                    print_human(&decoded.value);
                }
                for (slot, tensor) in saved.iter_mut().zip(decoded.extra) {
                    slot.push(tensor);
                }
                results.push(decoded.value);
            }
            // One input: its error is the command's.
            Err(error) if !several => return Err(error),
            Err(error) => {
                let mut message = format!("{error:#}");
                if !verbose {
                    message = zoo_nn::error::strip_cpp_trace(&message);
                }
                eprintln!("error: {}", with_file(file, &message));
                results.push(json!({"file": file, "error": message}));
                failed.push(file.clone());
            }
        }
    }
    if args.json {
        outln!("{}", Value::Array(results));
    }
    if !failed.is_empty() {
        let note = if wanted.is_empty() {
            String::new()
        } else {
            " (no --output file was written, so that rows stay one per input)".to_string()
        };
        bail!(
            "{} of {} inputs failed: {}{note}",
            failed.len(),
            args.files.len(),
            failed.join(", ")
        );
    }
    for ((name, file), tensors) in wanted.iter().zip(saved) {
        let first = tensors[0].size();
        if let Some((index, other)) = tensors
            .iter()
            .enumerate()
            .find(|(_, t)| t.size()[1..] != first[1..])
        {
            bail!(
                "--output {name}: cannot stack the inputs' {name} into one array: {} gives {:?}, {} gives {:?}",
                args.files[0],
                first,
                args.files[index],
                other.size()
            );
        }
        let stacked = Tensor::cat(&tensors, 0);
        inputs::write_npy(&stacked, file)?;
        if !args.json {
            outln!("{name}: shape {:?} → {}", stacked.size(), file.display());
        }
    }
    Ok(())
}

/// `message`, prefixed with `file` unless it already names it.
fn with_file(file: &str, message: &str) -> String {
    if message.contains(file) {
        message.to_string()
    } else {
        format!("{file}: {message}")
    }
}

fn print_human(result: &Value) {
    let file = result["file"].as_str().unwrap_or("");
    if let Some(top) = result["top"].as_array() {
        outln!("{file}:");
        for entry in top {
            outln!(
                "  {:.4}  {}",
                entry["probability"].as_f64().unwrap_or(0.0),
                entry["label"].as_str().unwrap_or("")
            );
        }
    } else if let Some(count) = result["count"].as_f64() {
        outln!(
            "{file}: count {count:.1} ({} cells marked)",
            result["peaks"].as_array().map_or(0, Vec::len)
        );
    } else if let Some(steps) = result["spike_steps"].as_array() {
        let steps: Vec<String> = steps.iter().map(Value::to_string).collect();
        outln!("{file}: output spikes at steps [{}]", steps.join(", "));
    } else if let Some(frames) = result["frames"].as_array() {
        outln!("{file}:");
        for (index, frame) in frames.iter().enumerate() {
            let objects: Vec<String> = frame
                .as_array()
                .map(|objects| {
                    objects
                        .iter()
                        .map(|o| {
                            let b = &o["box"];
                            format!(
                                "{} ({:.1},{:.1} {:.1}x{:.1})",
                                o["label"].as_str().unwrap_or("?"),
                                b[0].as_f64().unwrap_or(0.0),
                                b[1].as_f64().unwrap_or(0.0),
                                b[2].as_f64().unwrap_or(0.0),
                                b[3].as_f64().unwrap_or(0.0)
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if objects.is_empty() {
                outln!("  frame {index}: (nothing detected)");
            } else {
                outln!("  frame {index}: {}", objects.join(", "));
            }
        }
    }
}

/// What decoding one input needs besides the input.
struct DecodeOptions {
    top: usize,
    /// Where this input's overlay goes.
    overlay: Option<PathBuf>,
}

/// One input's decoded result and the extra outputs asked for with `--output`.
struct Decoded {
    value: Value,
    extra: Vec<Tensor>,
}

/// The default `--max-pixels`: 4096 × 4096.
pub const DEFAULT_MAX_PIXELS: u64 = 4096 * 4096;

/// Bytes per input pixel the cell counter needs with its default widths
/// (16/32/64/128), rounded up from measurements of peak resident memory
/// (debug build, CPU): 711 MB at 1024², 1,718 MB at 2048² (≈ 320 B/px
/// above ~370 MB for libtorch itself); 5.7 GB at 4096² in issue #15.
const CELL_COUNTER_BYTES_PER_PIXEL: u64 = 340;

/// The input tensor for `file`, as the package's architecture reads it.
fn input_for_file(
    package: &LoadedPackage,
    decoder: Decoder,
    file: &str,
    max_pixels: u64,
) -> Result<Tensor> {
    let path = Path::new(file);
    match decoder {
        Decoder::Classify => {
            let image = image_io::open(path)?;
            let pre = task::image_preprocess(&package.manifest);
            Ok(image_io::rgb_tensor(&image, &pre, path)?)
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
                bail!(
                    "{file} is {width}×{height} ({pixels} pixels): the cell counter runs at full \
                     resolution and would need about {:.1} GB of memory for it; the limit is \
                     --max-pixels {max_pixels}. Crop or downscale the image, or raise --max-pixels",
                    bytes / 1e9
                );
            }
            let image = image_io::open(path)?;
            Ok(image_io::gray_tensor(&image))
        }
        Decoder::Spikes => Ok(inputs::read_spikes(file)?),
        Decoder::Detect => Ok(inputs::read_video(path)?),
    }
}

/// Runs `x` (the input of `label`) and decodes what the architecture
/// outputs, returning `extra` outputs as they came.
fn decode_input(
    package: &LoadedPackage,
    decoder: Decoder,
    label: &str,
    x: &Tensor,
    extra: &[String],
    options: &DecodeOptions,
) -> Result<Decoded> {
    let needed: Vec<String> = match decoder {
        Decoder::Classify => vec![classify_output(package)],
        Decoder::CellCounter => vec!["density".into()],
        Decoder::Spikes => vec!["spikes".into()],
        Decoder::Detect => vec!["class_logits".into(), "boxes".into()],
    };
    let mut names = needed.clone();
    names.extend(extra.iter().cloned());
    // The cell counter takes sides that are multiples of 2^(pools): pad
    // with background (zeros) and crop the density back.
    let (input, size) = if decoder == Decoder::CellCounter {
        let widths = builtin_config::<CellCounterConfig>(&package.manifest)?.widths;
        let stride = 1i64 << (widths.len().max(1) - 1);
        let size = x.size();
        if size.len() != 4 {
            bail!("{label}: expected an image batch [N, 1, H, W], got {size:?}");
        }
        let pad = |side: i64| (stride - side % stride) % stride;
        let (ph, pw) = (pad(size[2]), pad(size[3]));
        (x.constant_pad_nd([0, pw, 0, ph]), Some((size[2], size[3])))
    } else {
        (x.shallow_clone(), None)
    };
    let input_name = package.model.input_names()[0].clone();
    let out = package
        .model
        .run(&[(input_name, input)], &names)
        .with_context(|| label.to_string())?;
    let (decoded, rest) = out.split_at(needed.len());
    let value = match decoder {
        Decoder::Classify => classify(package, label, &decoded[0].1, options.top)?,
        Decoder::CellCounter => {
            let (h, w) = size.unwrap_or((0, 0));
            let density = decoded[0].1.narrow(2, 0, h).narrow(3, 0, w);
            count_cells(label, x, &density, options.overlay.as_deref())?
        }
        Decoder::Spikes => spikes(label, &decoded[0].1)?,
        Decoder::Detect => detect(
            package,
            label,
            x,
            &decoded[0].1,
            &decoded[1].1,
            options.overlay.as_deref(),
        )?,
    };
    Ok(Decoded {
        value,
        extra: rest
            .iter()
            .map(|(_, t)| t.to_device(tch::Device::Cpu))
            .collect(),
    })
}

/// The output a classifier's answer is read from (built-in VGGs: `prob`).
fn classify_output(package: &LoadedPackage) -> String {
    task::classify_output(&package.manifest).unwrap_or_else(|| "prob".into())
}

fn classify(package: &LoadedPackage, label: &str, scores: &Tensor, top: usize) -> Result<Value> {
    let output = classify_output(package);
    let labels = task::read_labels(&package.dir, &package.manifest, &output)?.unwrap_or_default();
    let entries: Vec<Value> = task::top_classes(scores, &labels, top)?
        .into_iter()
        .map(|c| json!({"class": c.class, "label": c.label, "probability": c.probability}))
        .collect();
    Ok(json!({"file": label, "top": entries}))
}

/// The count is the sum of the density clamped at zero (a dark image
/// counts 0, not −0.4), over the image's own area; the marked cells are
/// the count's own (`mark_cells`), so the two agree.
fn count_cells(label: &str, x: &Tensor, density: &Tensor, overlay: Option<&Path>) -> Result<Value> {
    let raw = density.to_device(tch::Device::Cpu).get(0).get(0);
    let warnings = out_of_distribution(&x.get(0).get(0), &raw);
    for warning in &warnings {
        eprintln!("warning: {label}: {warning}; the count may be meaningless");
    }
    let density = raw.clamp_min(0.0);
    let count = density.sum(Kind::Double).double_value(&[]) / DENSITY_SCALE;
    // As many marks as the count says (touching nuclei get one each).
    let peaks = mark_cells(&density, count.round() as usize);
    if let Some(target) = overlay {
        let image = x.get(0).get(0);
        let side = image.size().into_iter().max().unwrap_or(1).max(1);
        // Zoomed for small images, never past ~2048 pixels a side.
        let zoom = (2048 / side).clamp(1, 4);
        let mut canvas = image_io::gray_to_rgb(&image, zoom as u32);
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

fn spikes(label: &str, out: &Tensor) -> Result<Value> {
    let spikes: Vec<f32> = out
        .to_device(tch::Device::Cpu)
        .flatten(0, -1)
        .to_kind(Kind::Float)
        .try_into()?;
    let steps: Vec<usize> = spikes
        .iter()
        .enumerate()
        .filter(|(_, v)| **v > 0.5)
        .map(|(i, _)| i)
        .collect();
    Ok(json!({"file": label, "spike_steps": steps, "spikes": spikes}))
}

fn detect(
    package: &LoadedPackage,
    label: &str,
    video: &Tensor,
    logits: &Tensor,
    boxes: &Tensor,
    overlay: Option<&Path>,
) -> Result<Value> {
    let config: NestedRnnConfig = builtin_config(&package.manifest)?;
    let labels = labels(package, "class_logits")?.unwrap_or_default();
    let decoded = decode(logits, boxes, &config);
    if let Some(dir) = overlay {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (index, objects) in decoded.iter().enumerate() {
            let zoom = 4.0;
            let mut canvas =
                image_io::gray_to_rgb(&video.get(0).get(index as i64).get(0), zoom as u32);
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
    }
    let frames: Vec<Value> = decoded
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
        .collect();
    Ok(json!({"file": label, "frames": frames}))
}

/// Objects before the first stop token per frame of the first video; boxes in pixels.
fn decode(logits: &Tensor, boxes: &Tensor, config: &NestedRnnConfig) -> Vec<Vec<(i64, [f32; 4])>> {
    let classes = logits.argmax(-1, false).to_device(tch::Device::Cpu);
    let boxes = boxes.to_device(tch::Device::Cpu) * config.frame_size as f64;
    let size = classes.size();
    (0..size[1])
        .map(|frame| {
            let mut objects = Vec::new();
            for slot in 0..size[2] {
                let class = classes.int64_value(&[0, frame, slot]);
                if class >= config.classes {
                    break;
                }
                let v = |i: i64| boxes.double_value(&[0, frame, slot, i]) as f32;
                objects.push((class, [v(0), v(1), v(2), v(3)]));
            }
            objects
        })
        .collect()
}

//! `zoo run MODEL [FILES…]`: runs an installed package (NAME or NAME@REQ) or a
//! package folder written as a path (`zoo_client::package_arg`) on images, spike sequences or videos, or on raw `.npy`
//! tensors with `--input NAME=FILE.npy` / `--output NAME=FILE.npy`.
//! Parse, load (`zoo_models::load`, every package kind), decode
//! (`zoo_models::task`), print.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tch::Tensor;
use zoo_models::task::{DecodeOptions, Decoder, decode_input, input_for_file};
use zoo_models::{LoadOptions, LoadedPackage, image_io, inputs};
use zoo_nn::Model;
use zoo_term::outln;
use zoo_torch_args::RunArgs;

/// `verbose` keeps libtorch's C++ traces in per-input errors and says
/// which package or folder ran.
pub fn run(args: RunArgs, verbose: bool) -> Result<()> {
    let device = zoo_nn::parse_device(&args.device)?;
    let dir = crate::settings::package_dir(&args.model, verbose)?;
    let allow_code = crate::allow_code::check_package(&dir, args.allow_code)?;
    let options = LoadOptions {
        allow_code,
        for_tracing: false,
    };
    let mut package = zoo_models::load(&dir, device, options)
        .with_context(|| format!("loading {}", dir.display()))?;
    package.model = Box::new(zoo_nn::FiniteOutputs(package.model));
    run_package(&package, &args, verbose)
}

/// Files through the package's decoder, or raw `--input` tensors; a
/// package without a decoder (no task) takes only raw tensors.
fn run_package(package: &LoadedPackage, args: &RunArgs, verbose: bool) -> Result<()> {
    if !args.inputs.is_empty() || (Decoder::of(package).is_none() && args.files.is_empty()) {
        return run_tensors(package.model.as_ref(), args, Some(package));
    }
    run_files(package, args, verbose)
}

fn split_assignment(text: &str, flag: &str) -> Result<(String, PathBuf)> {
    zoo_torch_args::parse_named_file(text)
        .map_err(|_| anyhow!("{flag} {text:?}: expected NAME=FILE.npy"))
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
        && let Some(decoder) = Decoder::of(package)
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
        let summary = OutputSummary::of(tensor)?;
        let mut entry = json!({"name": name, "shape": tensor.size(), "dtype": summary.dtype});
        summary.add_to(&mut entry);
        report.push(entry);
        if !args.json {
            match wanted.iter().find(|(n, _)| n == name) {
                Some((_, file)) => {
                    outln!("{name}: shape {:?} → {}", tensor.size(), file.display())
                }
                None => outln!("{name}: shape {:?} {}", tensor.size(), summary.text()),
            }
        }
    }
    if args.json {
        outln!("{}", json!({"outputs": report}));
    }
    Ok(())
}

/// What `zoo run --input` shows of an output it does not write to a file:
/// its type, range and mean, and its values when there are few (all of
/// them up to [`OutputSummary::SHOWN`] in text, [`OutputSummary::LISTED`]
/// in JSON).
struct OutputSummary {
    dtype: String,
    /// min, max, mean; absent for an empty tensor.
    stats: Option<(f64, f64, f64)>,
    values: Vec<f64>,
    count: usize,
}

impl OutputSummary {
    const SHOWN: usize = 16;
    const LISTED: usize = 1024;

    fn of(tensor: &Tensor) -> Result<OutputSummary> {
        let count = tensor.numel();
        let dtype = match tensor.kind() {
            tch::Kind::Float => "f32".to_string(),
            tch::Kind::Double => "f64".to_string(),
            tch::Kind::Half => "f16".to_string(),
            tch::Kind::BFloat16 => "bf16".to_string(),
            tch::Kind::Int64 => "i64".to_string(),
            tch::Kind::Int => "i32".to_string(),
            tch::Kind::Int16 => "i16".to_string(),
            tch::Kind::Int8 => "i8".to_string(),
            tch::Kind::Uint8 => "u8".to_string(),
            tch::Kind::Bool => "bool".to_string(),
            other => format!("{other:?}").to_lowercase(),
        };
        let flat = tensor
            .f_to_device(tch::Device::Cpu)?
            .f_to_kind(tch::Kind::Double)?
            .f_reshape([-1i64].as_slice())?;
        let stats = (count > 0)
            .then(|| -> Result<(f64, f64, f64)> {
                Ok((
                    flat.f_min()?.double_value(&[]),
                    flat.f_max()?.double_value(&[]),
                    flat.f_mean(tch::Kind::Double)?.double_value(&[]),
                ))
            })
            .transpose()?;
        let values = if count <= Self::LISTED {
            Vec::<f64>::try_from(&flat)?
        } else {
            Vec::new()
        };
        Ok(OutputSummary {
            dtype,
            stats,
            values,
            count,
        })
    }

    fn text(&self) -> String {
        let mut text = self.dtype.clone();
        if let Some((min, max, mean)) = self.stats {
            text += &format!(", min {min:.6} max {max:.6} mean {mean:.6}");
        }
        if !self.values.is_empty() && self.count <= Self::SHOWN {
            let values: Vec<String> = self.values.iter().map(|v| format!("{v:.6}")).collect();
            text += &format!(": [{}]", values.join(", "));
        }
        text
    }

    fn add_to(&self, entry: &mut Value) {
        if let Some((min, max, mean)) = self.stats {
            entry["min"] = json!(min);
            entry["max"] = json!(max);
            entry["mean"] = json!(mean);
        }
        if self.count <= Self::LISTED {
            entry["values"] = json!(self.values);
        }
    }
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
    if !decoder.draws() {
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
                let stem = if file == image_io::STDIN {
                    "stdin".to_string()
                } else {
                    Path::new(file)
                        .file_stem()
                        .map_or_else(|| "input".into(), |s| s.to_string_lossy().into_owned())
                };
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
fn run_files(package: &LoadedPackage, args: &RunArgs, verbose: bool) -> Result<()> {
    let Some(decoder) = Decoder::of(package) else {
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
            Err(error) if !several => return Err(error.into()),
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

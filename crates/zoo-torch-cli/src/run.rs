//! `zoo run MODEL [FILES…]`: runs an installed package (NAME or NAME@REQ) or a
//! package folder written as a path (`zoo_client::package_arg`) on images, spike sequences or videos, or on raw `.npy`
//! tensors with `--input NAME=FILE.npy` / `--output NAME=FILE.npy`.
//! Parse, load (`zoo_models::load`, every package kind), decode
//! (`zoo_models::task`), print.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tch::Tensor;
use zoo_models::task::{DecodeOptions, Decoder, decode_input, input_for_file};
use zoo_models::{LoadOptions, LoadedPackage, image_io, inputs};
use zoo_term::outln;
use zoo_torch_args::RunArgs;

/// How a run reports: `verbose` keeps libtorch's C++ traces in per-input
/// errors and says which package or folder ran; `quiet` leaves out notes
/// and the lines that confirm files written, keeping results and errors.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub verbose: bool,
    pub quiet: bool,
}

pub fn run(args: RunArgs, report: Report) -> Result<()> {
    let device = zoo_nn::parse_device(&args.device)?;
    let dir = crate::settings::package_dir(&args.model, report.verbose)?;
    let allow_code = crate::allow_code::check_package(&dir, args.allow_code)?;
    let options = LoadOptions {
        allow_code,
        for_tracing: false,
    };
    let mut package = zoo_models::load(&dir, device, options)
        .with_context(|| format!("loading {}", dir.display()))?;
    package.model = Box::new(zoo_nn::FiniteOutputs(package.model));
    run_package(&package, &args, report)
}

/// Files through the package's decoder, or raw `--input` tensors; a
/// package without a decoder (no task) takes only raw tensors.
fn run_package(package: &LoadedPackage, args: &RunArgs, report: Report) -> Result<()> {
    if !args.inputs.is_empty() || (Decoder::of(package).is_none() && args.files.is_empty()) {
        return run_tensors(package, args, report);
    }
    run_files(package, args, report)
}

fn split_assignment(text: &str, flag: &str) -> Result<(String, PathBuf)> {
    zoo_torch_args::parse_named_file(text)
        .map_err(|_| anyhow!("{flag} {text:?}: expected NAME=FILE.npy"))
}

/// The most output names an error lists (a large graph has thousands of
/// blobs).
const LISTED_OUTPUTS: usize = 40;

/// The `--output NAME=FILE.npy` pairs, checked before anything runs (a
/// typo must not cost a model run): each file's folder exists, no two
/// write the same file (one would silently replace the other), and each
/// name is one of the package's outputs when the loader knows them. A
/// name given twice is written to both files.
fn wanted_outputs(package: &LoadedPackage, args: &RunArgs) -> Result<Vec<(String, PathBuf)>> {
    let mut wanted: Vec<(String, PathBuf)> = Vec::new();
    for text in &args.outputs {
        let (name, file) = split_assignment(text, "--output")?;
        check_parent(&file, "--output")?;
        if let Some((other, _)) = wanted.iter().find(|(_, f)| same_file(f, &file)) {
            bail!(
                "--output {other}=… and --output {name}=… both write {}: give each output its own file",
                file.display()
            );
        }
        if let Some(known) = &package.outputs
            && !known.contains(&name)
        {
            bail!(
                "--output {text}: {} has no output named {name:?}; its outputs: {}",
                package.manifest.package.name,
                listed(known)
            );
        }
        wanted.push((name, file));
    }
    Ok(wanted)
}

/// Up to [`LISTED_OUTPUTS`] names, then how many more there are.
fn listed(names: &[String]) -> String {
    let mut text = names
        .iter()
        .take(LISTED_OUTPUTS)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LISTED_OUTPUTS {
        text += &format!(" … ({} more)", names.len() - LISTED_OUTPUTS);
    }
    text
}

/// Whether two paths name the same file, written differently (`a.npy`,
/// `./a.npy`, `dir/../a.npy` when `dir` exists) or through links.
fn same_file(a: &Path, b: &Path) -> bool {
    let resolved = |path: &Path| {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        let parent = parent.unwrap_or(Path::new("."));
        let parent = std::fs::canonicalize(parent).unwrap_or_else(|_| parent.to_path_buf());
        parent.join(path.file_name().unwrap_or_default())
    };
    resolved(a) == resolved(b)
        || std::fs::canonicalize(a).is_ok_and(|a| std::fs::canonicalize(b).is_ok_and(|b| a == b))
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

/// The `--input NAME=FILE.npy` pairs, checked against the model's inputs
/// before any file is read: an unknown name, one given twice or one
/// missing is an error naming the model's inputs (a misspelt name must not
/// run the model on the wrong input, nor be ignored).
fn named_inputs(package: &LoadedPackage, args: &RunArgs) -> Result<Vec<(String, PathBuf)>> {
    let expected = package.model.input_names();
    let package_name = &package.manifest.package.name;
    let mut named: Vec<(String, PathBuf)> = Vec::new();
    for text in &args.inputs {
        let (name, file) = split_assignment(text, "--input")?;
        if !expected.contains(&name) {
            bail!(
                "--input {text}: {package_name} has no input named {name:?}; its inputs: {}",
                expected.join(", ")
            );
        }
        if named.iter().any(|(n, _)| n == &name) {
            bail!("--input {name}=… is given twice");
        }
        named.push((name, file));
    }
    if named.is_empty() {
        bail!(
            "no input given: pass --input NAME=FILE.npy (inputs: {})",
            expected.join(", ")
        );
    }
    if let Some(missing) = expected
        .iter()
        .find(|e| !named.iter().any(|(n, _)| n == *e))
    {
        bail!(
            "no --input {missing}=FILE.npy: {package_name} takes {}",
            expected.join(", ")
        );
    }
    Ok(named)
}

/// Raw mode: named `.npy` inputs in, named outputs to `.npy` files. Without
/// `--output`, a package with a decoder (task or built-in architecture)
/// and one input has its outputs decoded as for files (labels, counts,
/// spikes, boxes; one result per row of the batch); other packages list
/// each output's shape.
fn run_tensors(package: &LoadedPackage, args: &RunArgs, report: Report) -> Result<()> {
    if !args.files.is_empty() {
        bail!("give inputs either as FILES or as --input NAME=FILE.npy, not both");
    }
    let wanted = wanted_outputs(package, args)?;
    let mut named = Vec::new();
    for (name, file) in named_inputs(package, args)? {
        named.push((name, inputs::read_npy(&file)?));
    }
    if let (Some(decoder), true, true) = (Decoder::of(package), wanted.is_empty(), named.len() == 1)
    {
        let label = args.inputs[0].clone();
        let (_, x) = named.remove(0);
        let options = DecodeOptions {
            top: args.top,
            overlay: None,
        };
        let decoded = decode_input(package, decoder, &label, &x, &[], &options)?;
        return print_results(&decoded.results, args.json);
    }
    let mut names: Vec<String> = Vec::new();
    for (name, _) in &wanted {
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    let results = package.model.run(&named, &names)?;
    let mut entries = Vec::new();
    for (name, tensor) in &results {
        let files: Vec<&PathBuf> = wanted
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, f)| f)
            .collect();
        for file in &files {
            inputs::write_npy(tensor, file)?;
        }
        let summary = OutputSummary::of(tensor)?;
        let mut entry = json!({"name": name, "shape": tensor.size(), "dtype": summary.dtype});
        summary.add_to(&mut entry);
        entries.push(entry);
        if args.json {
            continue;
        }
        if files.is_empty() {
            outln!("{name}: shape {:?} {}", tensor.size(), summary.text());
        } else if !report.quiet {
            for file in files {
                outln!("{name}: shape {:?} → {}", tensor.size(), file.display());
            }
        }
    }
    if args.json {
        outln!("{}", json!({"outputs": entries}));
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

/// One input's overlay path, and the input whose overlay took its natural
/// name first when it had to take another.
#[derive(Debug, Clone, PartialEq)]
struct OverlayPath {
    path: PathBuf,
    renamed_for: Option<String>,
}

impl OverlayTarget {
    /// The overlay path of every input in `files`: the file itself, or
    /// `FOLDER/<file stem>.png` (videos: `FOLDER/<file stem>/`, `FOLDER/`
    /// for one). Inputs whose stems agree (`a/img.png`, `b/img.png`, or
    /// `img.png` and `img.jpg`) get `img-2.png`, `img-3.png`…, never a
    /// name another input's overlay has, so that none replaces another.
    fn for_inputs(&self, files: &[String], video: bool) -> Vec<OverlayPath> {
        let dir = match self {
            OverlayTarget::File(path) => {
                let path = OverlayPath {
                    path: path.clone(),
                    renamed_for: None,
                };
                return vec![path; files.len()];
            }
            OverlayTarget::Folder(dir) => dir,
        };
        if video && files.len() == 1 {
            return vec![OverlayPath {
                path: dir.clone(),
                renamed_for: None,
            }];
        }
        let stems: Vec<String> = files.iter().map(|f| overlay_stem(f)).collect();
        // Compared ignoring case: `IMG.png` and `img.png` are one file on
        // macOS and Windows.
        let natural: HashSet<String> = stems.iter().map(|s| s.to_lowercase()).collect();
        let mut taken: Vec<(String, &str)> = Vec::new();
        let mut paths = Vec::new();
        for (file, stem) in files.iter().zip(&stems) {
            let first = taken
                .iter()
                .find(|(t, _)| *t == stem.to_lowercase())
                .map(|(_, f)| f.to_string());
            let mut name = stem.clone();
            let mut k = 2;
            while first.is_some()
                && (natural.contains(&name.to_lowercase())
                    || taken.iter().any(|(t, _)| *t == name.to_lowercase()))
            {
                name = format!("{stem}-{k}");
                k += 1;
            }
            taken.push((name.to_lowercase(), file));
            let path = if video {
                dir.join(&name)
            } else {
                dir.join(format!("{name}.png"))
            };
            paths.push(OverlayPath {
                path,
                renamed_for: first,
            });
        }
        paths
    }
}

/// The file stem an input's overlay is named after (`stdin` for `-`).
fn overlay_stem(file: &str) -> String {
    if file == image_io::STDIN {
        return "stdin".to_string();
    }
    Path::new(file)
        .file_stem()
        .map_or_else(|| "input".into(), |s| s.to_string_lossy().into_owned())
}

/// Files in, decoded results out (top-k labels, counts, spike steps,
/// boxes). A file that fails is reported and the others still run; the
/// command fails at the end. `--output NAME=FILE.npy` also saves any named
/// layer for every input, stacked along the batch axis (Chainer's
/// `extract`).
fn run_files(package: &LoadedPackage, args: &RunArgs, report: Report) -> Result<()> {
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
    let wanted = wanted_outputs(package, args)?;
    let overlays = overlay_target(args, decoder)?
        .map(|target| target.for_inputs(&args.files, decoder == Decoder::Detect));
    if let (Some(overlays), false) = (&overlays, report.quiet) {
        note_renamed_overlays(&args.files, overlays);
    }
    let several = args.files.len() > 1;
    let extra: Vec<String> = wanted.iter().map(|(n, _)| n.clone()).collect();
    let mut saved: Vec<Vec<Tensor>> = wanted.iter().map(|_| Vec::new()).collect();
    let mut results = Vec::new();
    let mut failed = Vec::new();
    for (index, file) in args.files.iter().enumerate() {
        let overlay = overlays.as_ref().map(|o| o[index].path.clone());
        let options = DecodeOptions {
            top: args.top,
            overlay: overlay.clone(),
        };
        let outcome = input_for_file(package, decoder, file, args.max_pixels)
            .and_then(|x| decode_input(package, decoder, file, &x, &extra, &options));
        match outcome {
            Ok(decoded) => {
                for mut result in decoded.results {
                    if let Some(path) = &overlay {
                        result["overlay"] = json!(path.display().to_string());
                    }
                    if !args.json {
                        print_human(&result);
                    }
                    results.push(result);
                }
                for (slot, tensor) in saved.iter_mut().zip(decoded.extra) {
                    slot.push(tensor);
                }
            }
            // One input: its error is the command's.
            Err(error) if !several => return Err(error.into()),
            Err(error) => {
                let mut message = format!("{error:#}");
                if !report.verbose {
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
        let stacked = stack_rows(name, &args.files, &tensors)?;
        inputs::write_npy(&stacked, file)?;
        if !args.json && !report.quiet {
            outln!("{name}: shape {:?} → {}", stacked.size(), file.display());
        }
    }
    Ok(())
}

/// Says on stderr which inputs' overlays took another name than their
/// file's, and why.
fn note_renamed_overlays(files: &[String], overlays: &[OverlayPath]) {
    for (file, overlay) in files.iter().zip(overlays) {
        if let Some(first) = &overlay.renamed_for {
            eprintln!(
                "note: the overlay of {file} goes to {} ({first} has the same name)",
                overlay.path.display()
            );
        }
    }
}

/// The inputs' `name` outputs as one array, one input after another along
/// the batch axis; they must agree in every other dimension.
fn stack_rows(name: &str, files: &[String], tensors: &[Tensor]) -> Result<Tensor> {
    let Some(first) = tensors.first() else {
        bail!("--output {name}: no input gave it");
    };
    let first = first.size();
    if let Some((index, other)) = tensors
        .iter()
        .enumerate()
        .find(|(_, t)| t.size().get(1..) != first.get(1..))
    {
        bail!(
            "--output {name}: cannot stack the inputs' {name} into one array: {} gives {:?}, {} gives {:?}",
            files[0],
            first,
            files[index],
            other.size()
        );
    }
    Ok(Tensor::cat(tensors, 0))
}

/// `message`, prefixed with `file` unless it already names it.
fn with_file(file: &str, message: &str) -> String {
    if message.contains(file) {
        message.to_string()
    } else {
        format!("{file}: {message}")
    }
}

/// One result as text, headed by its file (and its row, for a batch).
fn print_human(result: &Value) {
    let mut file = result["file"].as_str().unwrap_or("").to_string();
    if let Some(row) = result["row"].as_u64() {
        file += &format!(" (row {row})");
    }
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

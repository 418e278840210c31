//! `zoo run MODEL [FILES…]`: runs an installed package (NAME or NAME@REQ) or a
//! package folder written as a path (`zoo_client::package_arg`) on images, spike sequences or videos, or on raw `.npy`
//! tensors with `--input NAME=FILE.npy` / `--output NAME=FILE.npy`.
//! Built-in architectures load through zoo-models; graph packages (Caffe
//! imports) through zoo-nn's graph executor.

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};
use zoo_format::manifest::{Architecture as ManifestArchitecture, Manifest};
use zoo_models::cell_counter::find_peaks;
use zoo_models::image_io::{self, Preprocess};
use zoo_models::inputs;
use zoo_models::nested_rnn::NestedRnnConfig;
use zoo_models::package::{Architecture, LoadedPackage, labels};
use zoo_nn::Model;

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
    /// Write an output (any named layer or blob), NAME=FILE.npy (repeatable).
    #[arg(long = "output", value_name = "NAME=FILE.npy")]
    pub outputs: Vec<String>,
    /// cpu, cuda or cuda:N.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Print the results as JSON.
    #[arg(long)]
    pub json: bool,
    /// Draw the results: a PNG for the cell counter, a folder of frames for the video detector.
    #[arg(long, value_name = "PATH")]
    pub overlay: Option<PathBuf>,
    /// How many classes to list for classifiers.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Run a package that contains code (a TorchScript model); also
    /// `allow-code` in config.toml or ZOO_ALLOW_CODE=1.
    #[arg(long)]
    pub allow_code: bool,
}

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
            if !args.inputs.is_empty() || !args.outputs.is_empty() {
                return run_tensors(package.model.as_ref(), &args);
            }
            run_builtin(&package, &args)
        }
        ManifestArchitecture::Graph { file } => {
            let weights: Vec<PathBuf> = model_section.weights.iter().map(|w| dir.join(w)).collect();
            let model = zoo_nn::graph::GraphModel::load(&dir.join(file), &weights, device)
                .with_context(|| format!("loading the graph of {}", dir.display()))?;
            run_tensors(&zoo_nn::FiniteOutputs(Box::new(model)), &args)
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
            run_tensors(&zoo_nn::FiniteOutputs(Box::new(model)), &args)
        }
    }
}

fn split_assignment(text: &str, flag: &str) -> Result<(String, PathBuf)> {
    let (name, file) = text
        .split_once('=')
        .filter(|(n, f)| !n.is_empty() && !f.is_empty())
        .ok_or_else(|| anyhow!("{flag} {text:?}: expected NAME=FILE.npy"))?;
    Ok((name.to_string(), PathBuf::from(file)))
}

/// Raw mode: named `.npy` inputs in, named outputs to `.npy` files (or a summary).
fn run_tensors(model: &dyn Model, args: &RunArgs) -> Result<()> {
    if !args.files.is_empty() {
        bail!("give inputs either as FILES or as --input NAME=FILE.npy, not both");
    }
    let mut named = Vec::new();
    for text in &args.inputs {
        let (name, file) = split_assignment(text, "--input")?;
        named.push((name, inputs::read_npy(&file)?));
    }
    if named.is_empty() {
        let expected = model.input_names().join(", ");
        bail!("no input given: pass --input NAME=FILE.npy (inputs: {expected})");
    }
    let mut wanted = Vec::new();
    for text in &args.outputs {
        wanted.push(split_assignment(text, "--output")?);
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
                    println!("{name}: shape {:?} → {}", tensor.size(), file.display())
                }
                None => println!("{name}: shape {:?}", tensor.size()),
            }
        }
    }
    if args.json {
        println!("{}", json!({"outputs": report}));
    }
    Ok(())
}

fn run_builtin(package: &LoadedPackage, args: &RunArgs) -> Result<()> {
    let Some(architecture) = package.architecture else {
        bail!("not a built-in architecture");
    };
    if args.files.is_empty() {
        bail!(
            "no input: pass input files (see `zoo run --help`) or --input {}=FILE.npy",
            package.model.input_names().join(",")
        );
    }
    if args.overlay.is_some()
        && !matches!(
            architecture,
            Architecture::CellCounter | Architecture::NestedRnn
        )
    {
        bail!("--overlay is for the cell counter and the video detector");
    }
    if args.overlay.is_some() && args.files.len() != 1 {
        bail!("--overlay needs exactly one input");
    }
    let mut results = Vec::new();
    for file in &args.files {
        let result = match architecture {
            a if a.is_vgg() => classify(package, file, args.top)?,
            Architecture::CellCounter => count_cells(package, file, args.overlay.as_deref())?,
            Architecture::PeepholeLstm => spikes(package, file)?,
            Architecture::NestedRnn => detect(package, file, args.overlay.as_deref())?,
            _ => bail!("no file input mode for {}", architecture.name()),
        };
        if !args.json {
            print_human(&result);
        }
        results.push(result);
    }
    if args.json {
        println!("{}", Value::Array(results));
    }
    Ok(())
}

fn print_human(result: &Value) {
    let file = result["file"].as_str().unwrap_or("");
    if let Some(top) = result["top"].as_array() {
        println!("{file}:");
        for entry in top {
            println!(
                "  {:.4}  {}",
                entry["probability"].as_f64().unwrap_or(0.0),
                entry["label"].as_str().unwrap_or("")
            );
        }
    } else if let Some(count) = result["count"].as_f64() {
        println!(
            "{file}: count {count:.1} ({} peaks)",
            result["peaks"].as_array().map_or(0, Vec::len)
        );
    } else if let Some(steps) = result["spike_steps"].as_array() {
        let steps: Vec<String> = steps.iter().map(Value::to_string).collect();
        println!("{file}: output spikes at steps [{}]", steps.join(", "));
    } else if let Some(frames) = result["frames"].as_array() {
        println!("{file}:");
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
                println!("  frame {index}: (nothing detected)");
            } else {
                println!("  frame {index}: {}", objects.join(", "));
            }
        }
    }
}

/// The package's image preprocessing for its first input.
fn preprocess_of(package: &LoadedPackage) -> Preprocess {
    let input = package
        .manifest
        .model
        .as_ref()
        .and_then(|m| m.inputs.first());
    let pre = input.and_then(|i| i.preprocess.as_ref());
    let expect = input.and_then(|i| {
        let s = &i.shape;
        (s.len() == 4 && s[2] > 0 && s[3] > 0).then(|| [s[2] as u32, s[3] as u32])
    });
    match pre {
        Some(p) => Preprocess {
            resize: p.resize,
            expect_size: expect,
            bgr: p.channel_order == Some(zoo_format::manifest::ChannelOrder::Bgr),
            mean: p.mean.clone(),
            scale: p.scale,
        },
        None => Preprocess {
            resize: None,
            expect_size: expect,
            bgr: false,
            mean: vec![],
            scale: 1.0,
        },
    }
}

fn classify(package: &LoadedPackage, file: &str, top: usize) -> Result<Value> {
    let path = Path::new(file);
    let image = image_io::open(path)?;
    let x = image_io::rgb_tensor(&image, &preprocess_of(package), path)?;
    let input = package.model.input_names()[0].clone();
    let out = package.model.run(&[(input, x)], &["prob".into()])?;
    let prob = out[0].1.to_device(tch::Device::Cpu).get(0);
    let labels = labels(package, "prob")?.unwrap_or_default();
    let k = top.min(prob.size()[0] as usize) as i64;
    let (values, indices) = prob.topk(k, 0, true, true);
    let entries: Vec<Value> = (0..k)
        .map(|i| {
            let class = indices.int64_value(&[i]);
            json!({
                "class": class,
                "label": labels.get(class as usize).cloned().unwrap_or_else(|| format!("class {class}")),
                "probability": values.double_value(&[i]),
            })
        })
        .collect();
    Ok(json!({"file": file, "top": entries}))
}

fn count_cells(package: &LoadedPackage, file: &str, overlay: Option<&Path>) -> Result<Value> {
    let path = Path::new(file);
    let image = image_io::open(path)?;
    let x = image_io::gray_tensor(&image);
    let out = package
        .model
        .run(
            &[("image".into(), x.shallow_clone())],
            &["density".into(), "count".into()],
        )
        .with_context(|| file.to_string())?;
    let density = out[0].1.to_device(tch::Device::Cpu).get(0).get(0);
    let count = out[1].1.double_value(&[0]);
    let peaks = find_peaks(&density, 0.3);
    if let Some(target) = overlay {
        let mut canvas = image_io::gray_to_rgb(&x.get(0).get(0), 4);
        for &(row, col) in &peaks {
            image_io::draw_cross(
                &mut canvas,
                col as f32 * 4.0 + 2.0,
                row as f32 * 4.0 + 2.0,
                [255, 0, 0],
            );
        }
        image_io::save_png(&canvas, target)?;
    }
    let coordinates: Vec<Value> = peaks.iter().map(|(r, c)| json!([r, c])).collect();
    Ok(json!({"file": file, "count": count, "peaks": coordinates}))
}

fn spikes(package: &LoadedPackage, file: &str) -> Result<Value> {
    let x = inputs::read_spikes(file)?;
    let out = package.model.run(&[("x".into(), x)], &["spikes".into()])?;
    let spikes: Vec<f32> = out[0]
        .1
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
    Ok(json!({"file": file, "spike_steps": steps, "spikes": spikes}))
}

fn detect(package: &LoadedPackage, file: &str, overlay: Option<&Path>) -> Result<Value> {
    let video = inputs::read_video(Path::new(file))?;
    let config: NestedRnnConfig = match package.manifest.model.as_ref().map(|m| &m.architecture) {
        Some(ManifestArchitecture::Builtin { config, .. }) => {
            serde_json::from_value(config.clone()).unwrap_or_default()
        }
        _ => NestedRnnConfig::default(),
    };
    let out = package
        .model
        .run(&[("video".into(), video.shallow_clone())], &[])
        .with_context(|| file.to_string())?;
    let logits = &out[0].1;
    let boxes = &out[1].1;
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
    Ok(json!({"file": file, "frames": frames}))
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

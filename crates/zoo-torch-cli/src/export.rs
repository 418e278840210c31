//! `zoo export torchscript MODEL -o model.pt [--package DIR]`: traces a model
//! package (built-in architecture or graph) into a TorchScript file that
//! PyTorch (`torch.jit.load`) and `zoo run` load without compiling anything,
//! and optionally wraps it in a new package with the same inputs, metrics
//! and labels.
//!
//! Tracing fixes the input shapes (and unrolls recurrent models over the
//! example's time steps), so the exported package declares the traced
//! shapes exactly. After export the file is loaded back and compared with
//! the original model on a fresh input, which catches forwards that branch
//! on values.

use anyhow::{Context, Result, anyhow, bail};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};
use zoo_format::manifest::{
    Architecture, DType, Input, Manifest, ModelSection, Provenance, SourceFile,
};
use zoo_format::package_dir::StagedPackage;
use zoo_nn::Model;
use zoo_nn::torchscript::{self, TorchScriptModel};
use zoo_term::outln;
use zoo_torch_args::{ExportCommand, TorchScriptArgs};

/// The largest difference between the original and the traced model that
/// still counts as the same forward (float32 ops recorded one to one agree
/// far more closely; a wrongly traced branch differs by far more).
const AGREEMENT: f64 = 1e-4;

pub fn run(command: ExportCommand, quiet: bool, verbose: bool) -> Result<()> {
    match command {
        ExportCommand::Torchscript(args) => export_torchscript(args, quiet, verbose),
    }
}

fn export_torchscript(args: TorchScriptArgs, quiet: bool, verbose: bool) -> Result<()> {
    if args.output.is_none() && args.package.is_none() {
        bail!("say where to write: -o FILE.pt and/or --package DIR");
    }
    if let Some(dir) = &args.package
        && dir.exists()
    {
        bail!(
            "{}: already exists; choose a new folder for the package",
            dir.display()
        );
    }
    for (flag, path) in [("-o", &args.output), ("--package", &args.package)] {
        let Some(path) = path else { continue };
        let parent = parent_of(Some(path));
        if !parent.is_dir() {
            bail!(
                "{flag} {}: the folder {} does not exist",
                path.display(),
                parent.display()
            );
        }
    }
    let device = zoo_nn::parse_device(&args.device)?;
    let dir = crate::settings::package_dir(&args.model, verbose)?;
    let manifest = Manifest::load(&dir).map_err(|e| anyhow!("{e}"))?;
    let section = manifest.model.as_ref().ok_or_else(|| {
        anyhow!(
            "{}: not a model package (no [model] section)",
            dir.display()
        )
    })?;
    if let Architecture::TorchScript { file } = &section.architecture {
        bail!("{}: already a TorchScript package ({file})", dir.display());
    }
    let options = zoo_models::LoadOptions {
        allow_code: false,
        for_tracing: true,
    };
    let model = zoo_models::load(&dir, device, options)
        .with_context(|| format!("loading {}", dir.display()))?
        .model;
    let examples = example_inputs(section, model.as_ref(), &args.input_shapes, device)?;
    let output_name = match &args.tensor {
        Some(name) => name.clone(),
        None => only_default_output(model.as_ref())?,
    };

    // Trace into a temporary file first: the package (if any) gets it too.
    let staging = tempfile::Builder::new()
        .prefix(".zoo-export")
        .tempdir_in(parent_of(
            args.output.as_deref().or(args.package.as_deref()),
        ))
        .context("creating a temporary folder for the export")?;
    let traced = staging.path().join("model.pt");
    torchscript::export_model(&traced, model.as_ref(), &examples, Some(&output_name))
        .with_context(|| format!("tracing {}", dir.display()))?;
    let difference = check_agreement(&traced, model.as_ref(), &examples, &output_name, device)?;
    let pinned = torchscript::pinned_devices(&traced)?;

    if let Some(package) = &args.package {
        let exported = exported_manifest(&manifest, &dir, &examples, &output_name, &args)?;
        write_package(&exported, &dir, &traced, package)?;
    }
    if let Some(path) = &args.output {
        copy_atomically(&traced, path)?;
    }
    if !quiet {
        let shapes: Vec<String> = examples
            .iter()
            .map(|(n, t)| format!("{n} {:?}", t.size()))
            .collect();
        let targets: Vec<String> = args
            .output
            .iter()
            .chain(args.package.iter())
            .map(|p| p.display().to_string())
            .collect();
        outln!(
            "exported {} {} → {} (output {output_name}; traced with {}; reloaded, max abs diff {difference:.2e})",
            manifest.package.name,
            manifest.package.version,
            targets.join(" and "),
            shapes.join(", ")
        );
        if !pinned.is_empty() {
            outln!(
                "note: the model moves tensors to {} explicitly, which tracing records: \
                 the file runs there only (export with --device for another)",
                pinned.join(", ")
            );
        }
    }
    Ok(())
}

/// Random example inputs in the model's input order, shaped by
/// `--input-shape` or the manifest.
fn example_inputs(
    section: &ModelSection,
    model: &dyn Model,
    overrides: &[String],
    device: Device,
) -> Result<Vec<(String, Tensor)>> {
    let mut given = Vec::new();
    for text in overrides {
        given.push(parse_shape(text)?);
    }
    let names = model.input_names();
    if let Some((name, _)) = given.iter().find(|(n, _)| !names.contains(n)) {
        bail!(
            "--input-shape {name}: no such input (inputs: {})",
            names.join(", ")
        );
    }
    tch::manual_seed(0);
    let mut examples = Vec::new();
    for name in names {
        let declared = section.inputs.iter().find(|i| i.name == name);
        let shape = match given.iter().find(|(n, _)| *n == name) {
            Some((_, shape)) => shape.clone(),
            None => default_shape(&name, declared)?,
        };
        let kind = declared.map_or(Ok(Kind::Float), |i| kind_of(&name, i.dtype))?;
        let example = Tensor::f_randn(&shape, (Kind::Float, device))?.f_to_kind(kind)?;
        examples.push((name, example));
    }
    Ok(examples)
}

/// The manifest's shape with a free batch dimension set to 1.
fn default_shape(name: &str, declared: Option<&Input>) -> Result<Vec<i64>> {
    let Some(input) = declared else {
        bail!("the manifest does not declare input {name}: pass --input-shape {name}=D1,D2,…");
    };
    let mut shape = input.shape.clone();
    if let Some(first) = shape.first_mut()
        && *first == -1
    {
        *first = 1;
    }
    if shape.is_empty() || shape.contains(&-1) {
        bail!(
            "input {name} has free dimensions {:?}: pass --input-shape {name}=D1,D2,…",
            input.shape
        );
    }
    Ok(shape)
}

fn kind_of(name: &str, dtype: DType) -> Result<Kind> {
    Ok(match dtype {
        DType::F32 => Kind::Float,
        DType::F16 => Kind::Half,
        DType::Bf16 => Kind::BFloat16,
        other => bail!("input {name}: cannot make an example of dtype {other:?}"),
    })
}

/// `NAME=1,3,224,224` → (NAME, [1, 3, 224, 224]).
fn parse_shape(text: &str) -> Result<(String, Vec<i64>)> {
    let bad = || anyhow!("--input-shape {text:?}: expected NAME=D1,D2,… with positive sizes");
    let (name, dims) = text.split_once('=').ok_or_else(bad)?;
    let shape = dims
        .split(',')
        .map(|d| d.trim().parse::<i64>().ok().filter(|d| *d > 0))
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(bad)?;
    if name.is_empty() || shape.is_empty() {
        return Err(bad());
    }
    Ok((name.to_string(), shape))
}

fn only_default_output(model: &dyn Model) -> Result<String> {
    match model.default_outputs().as_slice() {
        [only] => Ok(only.clone()),
        several => bail!(
            "the model has {} default outputs ({}); a TorchScript file returns one: choose it with --tensor",
            several.len(),
            several.join(", ")
        ),
    }
}

/// Loads the traced file and runs it against the original on a fresh
/// input of the traced shapes; returns the largest difference.
fn check_agreement(
    traced: &Path,
    model: &dyn Model,
    examples: &[(String, Tensor)],
    output: &str,
    device: Device,
) -> Result<f64> {
    let loaded = TorchScriptModel::load(traced, device)?;
    let fresh: Vec<(String, Tensor)> = examples
        .iter()
        .map(|(n, t)| Ok((n.clone(), t.f_randn_like()?)))
        .collect::<Result<_>>()?;
    let expected = model.run(&fresh, &[output.to_string()])?;
    let got = loaded.run(&fresh, &[])?;
    let (expected, got) = (&expected[0].1, &got[0].1);
    if expected.size() != got.size() {
        bail!(
            "the traced model returns shape {:?}, the original {:?}",
            got.size(),
            expected.size()
        );
    }
    let difference = (expected.f_to_kind(Kind::Double)? - got.f_to_kind(Kind::Double)?)
        .f_abs()?
        .f_max()?
        .double_value(&[]);
    if difference.is_nan() || difference > AGREEMENT {
        bail!(
            "the traced model differs from the original by {difference:.3e} on a new input: \
             its forward depends on input values (branches or loops), which tracing cannot record"
        );
    }
    Ok(difference)
}

/// The source manifest with the TorchScript file as architecture, the traced
/// shapes as exact input shapes, the one exported output, and provenance
/// naming the source package.
fn exported_manifest(
    source: &Manifest,
    dir: &Path,
    examples: &[(String, Tensor)],
    output: &str,
    args: &TorchScriptArgs,
) -> Result<Manifest> {
    let section = source
        .model
        .as_ref()
        .ok_or_else(|| anyhow!("not a model package"))?;
    let mut manifest = source.clone();
    manifest.package.name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-torchscript", source.package.name));
    manifest.package.description = format!(
        "{} (TorchScript export of {} {})",
        source.package.description, source.package.name, source.package.version
    );
    let inputs = examples
        .iter()
        .map(|(name, tensor)| {
            let declared = section.inputs.iter().find(|i| &i.name == name);
            Ok(Input {
                name: name.clone(),
                shape: tensor.size(),
                dtype: declared.map_or(DType::F32, |i| i.dtype),
                preprocess: declared.and_then(|i| i.preprocess.clone()),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut outputs: Vec<_> = section
        .outputs
        .iter()
        .filter(|o| o.name == output)
        .cloned()
        .collect();
    if outputs.is_empty() {
        outputs.push(zoo_format::manifest::Output {
            name: output.to_string(),
            labels: None,
        });
    }
    let mut provenance = section
        .provenance
        .clone()
        .unwrap_or_else(Provenance::default);
    let mut sources: Vec<String> = section.weights.clone();
    if let Architecture::Graph { file } = &section.architecture {
        sources.push(file.clone());
    }
    for file in sources {
        let (sha256, _) = zoo_format::checksum::sha256_file(&dir.join(&file))
            .with_context(|| format!("hashing {}", dir.join(&file).display()))?;
        provenance.converted_from.push(SourceFile {
            file: format!("{}@{}/{file}", source.package.name, source.package.version),
            sha256,
            size: None,
        });
    }
    // A classifier stays one when its classify output is the exported one.
    let task = zoo_models::task::task_of(source).filter(|_| {
        zoo_models::task::classify_output(source)
            .is_some_and(|o| outputs.iter().any(|x| x.name == o))
    });
    manifest.model = Some(ModelSection {
        weights: Vec::new(),
        task,
        architecture: Architecture::TorchScript {
            file: "model.pt".into(),
        },
        inputs,
        outputs,
        metrics: section.metrics.clone(),
        provenance: Some(provenance),
        golden: None,
        sources: Vec::new(),
    });
    manifest
        .validate(zoo_format::manifest::MANIFEST_FILE)
        .map_err(|e| anyhow!("the exported manifest is invalid: {e}"))?;
    Ok(manifest)
}

/// Assembles the package in a temporary folder next to `target`, then
/// renames it into place.
fn write_package(
    manifest: &Manifest,
    source_dir: &Path,
    traced: &Path,
    target: &Path,
) -> Result<()> {
    let staged = StagedPackage::create(target)?;
    staged.copy("model.pt", traced)?;
    let mut extra: Vec<&str> = manifest.package.readme.iter().map(String::as_str).collect();
    if let Some(section) = &manifest.model {
        extra.extend(section.outputs.iter().filter_map(|o| o.labels.as_deref()));
    }
    for file in extra {
        staged.copy(file, &source_dir.join(file))?;
    }
    staged.write_manifest(manifest)?;
    Manifest::load(staged.path()).map_err(|e| anyhow!("the exported package is invalid: {e}"))?;
    staged.commit()?;
    Ok(())
}

/// Copies `from` to a temporary file next to `to`, then renames it into place.
fn copy_atomically(from: &Path, to: &Path) -> Result<()> {
    let temp = tempfile::NamedTempFile::new_in(parent_of(Some(to)))
        .with_context(|| format!("creating a temporary file next to {}", to.display()))?;
    std::fs::copy(from, temp.path()).with_context(|| format!("writing {}", to.display()))?;
    temp.persist(to)
        .map_err(|e| anyhow!("writing {}: {}", to.display(), e.error))?;
    Ok(())
}

/// The folder a target path lives in (where the staging folder goes, so
/// that the final renames stay on one file system).
fn parent_of(path: Option<&Path>) -> PathBuf {
    match path.and_then(Path::parent) {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

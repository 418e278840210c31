//! Writing a trained model's package folder: weights (safetensors), the
//! manifest (`zoo.toml`), the model card (`README.md`) and the training log.
//! Everything is written into a temporary sibling folder first and then
//! swapped in, so an interrupted run never leaves a half-written package.

use crate::error::{ModelError, Result};
use crate::params;
use crate::train::{MetricValue, TrainReport};
use std::path::Path;
use zoo_format::manifest::{
    Architecture, ChannelOrder, DType, Input, Kind, Manifest, Metric, ModelSection, Output,
    PackageMeta, Preprocess, Provenance,
};

/// What the card says about the model besides the training report.
#[derive(Debug, Clone)]
pub struct CardInfo {
    pub package: String,
    pub builtin: String,
    pub description: String,
    pub keywords: Vec<String>,
    /// The command that reproduces the weights.
    pub command: String,
    pub seed: u64,
    /// Markdown paragraphs describing the architecture, data and I/O.
    pub body: String,
    pub inputs: Vec<Input>,
    pub outputs: Vec<Output>,
    /// Extra files to write into the package (name, contents).
    pub extra_files: Vec<(String, String)>,
    /// Additional results (other seeds, baselines) for the card.
    pub extra_results: Vec<String>,
}

fn io_error(path: &Path, source: std::io::Error) -> ModelError {
    ModelError::io(path, source)
}

pub fn image_input(name: &str, shape: Vec<i64>, preprocess: Option<Preprocess>) -> Input {
    Input {
        name: name.into(),
        shape,
        dtype: DType::F32,
        preprocess,
    }
}

pub fn rgb_preprocess(mean: f64, scale: f64) -> Preprocess {
    Preprocess {
        resize: None,
        crop: None,
        channel_order: Some(ChannelOrder::Rgb),
        mean: vec![mean; 3],
        scale,
        std: Vec::new(),
    }
}

pub fn output(name: &str, labels: Option<&str>) -> Output {
    Output {
        name: name.into(),
        labels: labels.map(str::to_string),
    }
}

fn metrics(report: &TrainReport) -> Vec<Metric> {
    report
        .metrics
        .iter()
        .map(|m: &MetricValue| Metric {
            name: m.name.clone(),
            dataset: m.dataset.clone(),
            value: (m.value * 10_000.0).round() / 10_000.0,
        })
        .collect()
}

/// Writes the package folder `dir` (replacing an older one).
pub fn write_package(dir: &Path, info: &CardInfo, report: &TrainReport) -> Result<()> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    let staging = parent.join(format!(".{}.tmp", info.package));
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
    }
    std::fs::create_dir_all(&staging).map_err(|e| io_error(&staging, e))?;
    params::save_safetensors(&report.model.vs, &staging.join("weights.safetensors"))?;
    let provenance = format!(
        "{} (seed {}, {} steps, {:.0} s on CPU)",
        info.command, info.seed, report.steps, report.seconds
    );
    let manifest = Manifest {
        package: PackageMeta {
            name: info.package.clone(),
            version: semver::Version::new(0, 1, 0),
            kind: Kind::Model,
            description: info.description.clone(),
            license: Some("MIT OR Apache-2.0".into()),
            authors: vec!["zoo developers".into()],
            homepage: None,
            repository: None,
            readme: Some("README.md".into()),
            keywords: info.keywords.clone(),
        },
        dependencies: Default::default(),
        model: Some(ModelSection {
            weights: vec!["weights.safetensors".into()],
            // Classifiers say so, so that `zoo run` decodes top-k labels.
            task: info
                .builtin
                .starts_with("vgg")
                .then_some(zoo_format::manifest::Task::Classify),
            architecture: Architecture::Builtin {
                name: info.builtin.clone(),
                config: report.config.clone(),
            },
            inputs: info.inputs.clone(),
            outputs: info.outputs.clone(),
            metrics: metrics(report),
            provenance: Some(Provenance {
                trained: Some(provenance.clone()),
                converted_from: vec![],
            }),
            golden: None,
            sources: Vec::new(),
        }),
    };
    let toml = manifest
        .to_toml_string()
        .map_err(|e| ModelError::file(staging.join("zoo.toml"), e.to_string()))?;
    write(&staging.join("zoo.toml"), &toml)?;
    write(&staging.join("README.md"), &card(info, report, &provenance))?;
    write(
        &staging.join("training.log"),
        &(report.log.join("\n") + "\n"),
    )?;
    for (name, contents) in &info.extra_files {
        write(&staging.join(name), contents)?;
    }
    // Hand-made inputs (examples/) are not regenerated: keep them.
    let examples = dir.join("examples");
    if examples.is_dir() {
        copy_dir(&examples, &staging.join("examples"))?;
    }
    // The trained model's answer to a fixed input, for `zoo verify`.
    crate::golden::record(&staging)?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| io_error(dir, e))?;
    }
    std::fs::rename(&staging, dir).map_err(|e| io_error(dir, e))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| io_error(path, e))
}

fn card(info: &CardInfo, report: &TrainReport, provenance: &str) -> String {
    let mut s = format!(
        "# {}\n\n{}\n\n{}\n\n## Held-out results\n\n| metric | value | data |\n|---|---|---|\n",
        info.package, info.description, info.body
    );
    for m in &report.metrics {
        s += &format!("| {} | {:.4} | {} |\n", m.name, m.value, m.dataset);
    }
    for line in info.extra_results.iter().chain(report.notes.iter()) {
        s += &format!("\n{line}\n");
    }
    s += &format!(
        "\n## Training\n\n- Command: `{}` (seed {})\n- {} steps in {:.0} s on a shared 2-core CPU; loss {:.4} (first log window) → {:.4} (last)\n- Provenance: {provenance}\n- Per-evaluation log: [`training.log`](training.log)\n",
        info.command, info.seed, report.steps, report.seconds, report.first_loss, report.last_loss
    );
    s += &label_links(&info.outputs);
    s += &format!(
        "\n## Use\n\n```\nzoo run {} …\n```\n\nor from Rust: `zoo_models::load_package(dir, device)`.\n",
        info.package
    );
    s
}

/// One line linking each labels file the outputs name, once. Relative
/// links: the registry's package page opens them (its files route), as
/// does any Markdown viewer of the folder.
fn label_links(outputs: &[Output]) -> String {
    let mut files: Vec<&str> = Vec::new();
    for labels in outputs.iter().filter_map(|o| o.labels.as_deref()) {
        if !files.contains(&labels) {
            files.push(labels);
        }
    }
    files
        .iter()
        .map(|f| format!("- Class names of the outputs: [`{f}`]({f})\n"))
        .collect()
}

/// Copies a folder tree (plain files and folders).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| io_error(to, e))?;
    for entry in std::fs::read_dir(from).map_err(|e| io_error(from, e))? {
        let path = entry.map_err(|e| io_error(from, e))?.path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            std::fs::copy(&path, &target).map_err(|e| io_error(&path, e))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_labels_file_is_linked_once() {
        let outputs = [
            output("prob", Some("labels.txt")),
            output("boxes", None),
            output("scores", Some("labels.txt")),
            output("parts", Some("parts.txt")),
        ];
        assert_eq!(
            label_links(&outputs),
            "- Class names of the outputs: [`labels.txt`](labels.txt)\n\
             - Class names of the outputs: [`parts.txt`](parts.txt)\n"
        );
        assert_eq!(label_links(&outputs[1..2]), "");
    }
}

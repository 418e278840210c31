//! Task decoders: what a package's `[model] task` says about its inputs and
//! outputs, shared by every package kind (built-in, graph, TorchScript), so
//! that `zoo run` decodes an imported classifier exactly like a built-in one.

pub mod decode;

pub use decode::{DecodeOptions, Decoded, Decoder, decode_input, input_for_file};

use crate::error::{ModelError, Result};
use crate::image_io::Preprocess;
use std::path::Path;
use tch::{Kind, Tensor};
use zoo_format::manifest::{ChannelOrder, Manifest, Task};

/// The task a package declares; VGG packages written before `task` existed
/// are classifiers.
pub fn task_of(manifest: &Manifest) -> Option<Task> {
    let model = manifest.model.as_ref()?;
    if model.task.is_some() {
        return model.task;
    }
    match &model.architecture {
        zoo_format::manifest::Architecture::Builtin { name, .. } if name.starts_with("vgg") => {
            Some(Task::Classify)
        }
        _ => None,
    }
}

/// The image preprocessing of the package's first input: its
/// `[model.inputs.preprocess]`, and the input's fixed height and width.
pub fn image_preprocess(manifest: &Manifest) -> Preprocess {
    let input = manifest.model.as_ref().and_then(|m| m.inputs.first());
    let pre = input.and_then(|i| i.preprocess.as_ref());
    let expect = input.and_then(|i| {
        let s = &i.shape;
        (s.len() == 4 && s[2] > 0 && s[3] > 0).then(|| [s[2] as u32, s[3] as u32])
    });
    let gray = input.is_some_and(|i| i.shape.len() == 4 && i.shape[1] == 1);
    match pre {
        Some(p) => Preprocess {
            resize: p.resize,
            expect_size: expect,
            crop: p.crop,
            bgr: p.channel_order == Some(ChannelOrder::Bgr),
            gray,
            mean: p.mean.clone(),
            scale: p.scale,
            std: p.std.clone(),
        },
        None => Preprocess {
            resize: None,
            expect_size: expect,
            crop: None,
            bgr: false,
            gray,
            mean: vec![],
            scale: 1.0,
            std: vec![],
        },
    }
}

/// The output a classifier is decoded from: the first with `labels`, else
/// `prob` when declared, else the first declared output.
pub fn classify_output(manifest: &Manifest) -> Option<String> {
    let outputs = &manifest.model.as_ref()?.outputs;
    outputs
        .iter()
        .find(|o| o.labels.is_some())
        .or_else(|| outputs.iter().find(|o| o.name == "prob"))
        .or_else(|| outputs.first())
        .map(|o| o.name.clone())
}

/// The labels file of `output` in package folder `dir`, one label per line.
pub fn read_labels(dir: &Path, manifest: &Manifest, output: &str) -> Result<Option<Vec<String>>> {
    let Some(file) = manifest
        .model
        .as_ref()
        .and_then(|m| m.outputs.iter().find(|o| o.name == output))
        .and_then(|o| o.labels.as_ref())
    else {
        return Ok(None);
    };
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::io(path, source))?;
    // A byte-order mark (Windows editors) is not part of the first label.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    Ok(Some(text.lines().map(str::to_string).collect()))
}

/// One class of a classifier's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub class: i64,
    pub label: String,
    pub probability: f64,
}

/// The `top` most probable classes of the first row of `scores`. Scores
/// that are not already a distribution (negative, or not summing to 1, as
/// an `fc8` labelled instead of a softmax `prob`) go through a softmax.
pub fn top_classes(scores: &Tensor, labels: &[String], top: usize) -> Result<Vec<Class>> {
    let row = scores
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Double)
        .flatten(1, -1)
        .get(0);
    let classes = row.size()[0];
    if classes == 0 {
        return Err(ModelError::input(
            "scores",
            "the classifier output is empty",
        ));
    }
    let sum = row.sum(Kind::Double).double_value(&[]);
    let min = row.min().double_value(&[]);
    let prob = if min >= 0.0 && (sum - 1.0).abs() < 1e-3 {
        row
    } else {
        row.softmax(0, Kind::Double)
    };
    let k = top.min(classes as usize) as i64;
    let (values, indices) = prob.topk(k, 0, true, true);
    Ok((0..k)
        .map(|i| {
            let class = indices.int64_value(&[i]);
            Class {
                class,
                label: labels
                    .get(class as usize)
                    .cloned()
                    .unwrap_or_else(|| format!("class {class}")),
                probability: values.double_value(&[i]),
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_are_turned_into_probabilities_and_distributions_kept() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let prob = Tensor::from_slice(&[0.2f32, 0.7, 0.1]).view([1, 3]);
        let top = top_classes(&prob, &labels, 2).unwrap();
        assert_eq!(top[0].label, "b");
        assert!((top[0].probability - 0.7).abs() < 1e-6);
        assert_eq!(top.len(), 2);

        let logits = Tensor::from_slice(&[1.0f32, -2.0, 5.0]).view([1, 3]);
        let top = top_classes(&logits, &labels[..2], 5).unwrap();
        assert_eq!(top.len(), 3);
        assert_eq!(top[0].label, "class 2");
        let total: f64 = top.iter().map(|c| c.probability).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }
}

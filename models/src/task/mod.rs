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
    let text = std::fs::read_to_string(&path).map_err(|source| ModelError::io(&path, source))?;
    parse_labels(&text)
        .map(Some)
        .map_err(|message| ModelError::file(path, message))
}

/// The labels of a labels file's `text`: one per line, a byte-order mark
/// (Windows editors) not part of the first, trailing blank lines ignored.
/// A blank line among the labels is refused, naming it: it would shift
/// every label after it by one class, or name a class "".
pub fn parse_labels(text: &str) -> std::result::Result<Vec<String>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut labels: Vec<String> = text.lines().map(str::to_string).collect();
    while labels.last().is_some_and(|l| l.trim().is_empty()) {
        labels.pop();
    }
    match labels.iter().position(|l| l.trim().is_empty()) {
        Some(index) => Err(format!(
            "line {} is blank: every line names one class (line n is class n-1)",
            index + 1
        )),
        None => Ok(labels),
    }
}

/// One class of a classifier's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Class {
    pub class: i64,
    pub label: String,
    pub probability: f64,
}

/// The `top` most probable classes of every row of `scores`, which must be
/// [N, classes], or [N, classes, 1, …] as a convolutional classifier ends:
/// ranking the flattened values of another shape (a feature map) would be
/// an answer made up. Scores that are not already a distribution
/// (negative, or not summing to 1, as an `fc8` labelled instead of a
/// softmax `prob`) go through a softmax.
pub fn top_classes(scores: &Tensor, labels: &[String], top: usize) -> Result<Vec<Vec<Class>>> {
    let size = scores.size();
    if size.len() < 2 || size[2..].iter().any(|&d| d != 1) {
        return Err(ModelError::Decode(format!(
            "shape {size:?} is not [N, classes] (or [N, classes, 1, 1]), so it holds no class \
             scores to rank"
        )));
    }
    if size[1] == 0 {
        return Err(ModelError::Decode("the classifier output is empty".into()));
    }
    let rows = scores
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Double)
        .flatten(1, -1);
    (0..size[0])
        .map(|i| Ok(top_of_row(&rows.get(i), labels, top)))
        .collect()
}

/// The `top` classes of one row of scores.
fn top_of_row(row: &Tensor, labels: &[String], top: usize) -> Vec<Class> {
    let classes = row.size()[0];
    let sum = row.sum(Kind::Double).double_value(&[]);
    let min = row.min().double_value(&[]);
    let prob = if min >= 0.0 && (sum - 1.0).abs() < 1e-3 {
        row.shallow_clone()
    } else {
        row.softmax(0, Kind::Double)
    };
    let k = top.min(classes as usize) as i64;
    let (values, indices) = prob.topk(k, 0, true, true);
    (0..k)
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
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_are_turned_into_probabilities_and_distributions_kept() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let prob = Tensor::from_slice(&[0.2f32, 0.7, 0.1]).view([1, 3]);
        let top = top_classes(&prob, &labels, 2).unwrap().remove(0);
        assert_eq!(top[0].label, "b");
        assert!((top[0].probability - 0.7).abs() < 1e-6);
        assert_eq!(top.len(), 2);

        let logits = Tensor::from_slice(&[1.0f32, -2.0, 5.0]).view([1, 3]);
        let top = top_classes(&logits, &labels[..2], 5).unwrap().remove(0);
        assert_eq!(top.len(), 3);
        assert_eq!(top[0].label, "class 2");
        let total: f64 = top.iter().map(|c| c.probability).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
    }

    #[test]
    fn every_row_of_a_batch_gets_its_classes() {
        let labels: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let prob = Tensor::from_slice(&[0.2f32, 0.7, 0.1, 0.6, 0.3, 0.1]).view([2, 3, 1, 1]);
        let rows = top_classes(&prob, &labels, 1).unwrap();
        let best: Vec<&str> = rows.iter().map(|r| r[0].label.as_str()).collect();
        assert_eq!(best, ["b", "a"]);
    }

    #[test]
    fn outputs_that_are_no_class_scores_are_refused() {
        for shape in [vec![12i64], vec![1, 3, 2, 2], vec![1, 2, 6]] {
            let scores = Tensor::zeros(shape.as_slice(), (Kind::Float, tch::Device::Cpu));
            let error = top_classes(&scores, &[], 5).unwrap_err().to_string();
            assert!(error.contains("is not [N, classes]"), "{shape:?}: {error}");
        }
    }

    #[test]
    fn blank_labels_are_refused_naming_the_line() {
        assert_eq!(parse_labels("\u{feff}a\r\nb\n\n \n").unwrap(), ["a", "b"]);
        let error = parse_labels("a\n\nc\n").unwrap_err();
        assert!(error.contains("line 2 is blank"), "{error}");
        let error = parse_labels("a\n  \nc").unwrap_err();
        assert!(error.contains("line 2 is blank"), "{error}");
    }
}

//! The committed package folders load through `load_package` and still do
//! their job on fresh synthetic data (a different seed from training).

use std::path::PathBuf;
use tch::{Device, Kind};
use zoo_models::data::{cells, shapes, spikes};
use zoo_models::rng::data_rng;
use zoo_models::train::{MINI_MEAN, MINI_SCALE};

fn package(name: &str) -> zoo_models::LoadedPackage {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name);
    zoo_models::load_package(&dir, Device::Cpu).unwrap()
}

#[test]
fn vgg_mini_package_classifies_shapes() {
    let p = package("vgg-mini");
    let (x, y) = shapes::batch(&mut data_rng(99, 7), 100);
    let x = (x - MINI_MEAN) * MINI_SCALE;
    let out = p
        .model
        .run(&[("data".into(), x)], &["prob".into()])
        .unwrap();
    let correct = out[0]
        .1
        .argmax(1, false)
        .eq_tensor(&y)
        .sum(Kind::Int64)
        .int64_value(&[]);
    assert!(correct >= 80, "{correct}/100");
    let labels = zoo_models::package::labels(&p, "prob").unwrap().unwrap();
    assert_eq!(labels.len(), 10);
}

#[test]
fn cell_counter_package_counts() {
    let p = package("cell-counter");
    let (x, _, counts) = cells::batch(&mut data_rng(99, 7), 30);
    let out = p
        .model
        .run(&[("image".into(), x)], &["count".into()])
        .unwrap();
    let mae = (&out[0].1 - counts)
        .abs()
        .mean(Kind::Float)
        .double_value(&[]);
    assert!(mae < 4.0, "count MAE {mae}");
}

#[test]
fn peephole_package_reproduces_intervals() {
    let p = package("peephole-lstm");
    let batch = spikes::batch(&mut data_rng(99, 7), 100);
    let out = p
        .model
        .run(&[("x".into(), batch.inputs)], &["logits".into()])
        .unwrap();
    let steps = out[0].1.size()[1];
    let t = tch::Tensor::arange(steps, (Kind::Int64, Device::Cpu)).unsqueeze(0);
    let after = out[0]
        .1
        .masked_fill(&t.le_tensor(&batch.second.unsqueeze(1)), -1e9);
    let exact = after
        .argmax(1, false)
        .eq_tensor(&batch.target)
        .sum(Kind::Int64)
        .int64_value(&[]);
    assert!(exact >= 90, "{exact}/100 exact");
}

#[test]
fn nested_rnn_package_runs() {
    let p = package("nested-rnn");
    let video = tch::Tensor::zeros([1, 8, 1, 48, 48], (Kind::Float, Device::Cpu));
    let out = p.model.run(&[("video".into(), video)], &[]).unwrap();
    assert_eq!(out[0].0, "class_logits");
    assert_eq!(out[1].1.size(), vec![1, 8, 4, 4]);
}

#[test]
fn vgg16_package_without_weights_is_a_clear_error() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vgg16");
    let e = zoo_models::load_package(&dir, Device::Cpu)
        .unwrap_err()
        .to_string();
    assert!(e.contains("VGG_ILSVRC_16_layers.npz"), "{e}");
}

/// Every VGG package says it classifies, so that `zoo run` decodes it like
/// an imported classifier.
#[test]
fn vgg_packages_declare_the_classify_task() {
    for name in ["vgg16", "vgg19", "vgg-mini"] {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name);
        let text = std::fs::read_to_string(dir.join("zoo.toml")).unwrap();
        let manifest = zoo_format::manifest::Manifest::from_toml_str(&text).unwrap();
        let model = manifest.model.as_ref().unwrap();
        assert_eq!(
            model.task,
            Some(zoo_format::manifest::Task::Classify),
            "{name}"
        );
        assert_eq!(
            zoo_models::task::classify_output(&manifest).as_deref(),
            Some("prob")
        );
    }
}

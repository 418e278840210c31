//! VGG16-shaped V1 caffemodels (official layer names and blob layouts,
//! synthetic weights) written by zoo's own protobuf writer, imported without
//! a prototxt and run: fc8 must match Chainer's CaffeFunction on the same
//! file (goldens from tests/fixtures/generate.py), and the built-in VGG of
//! zoo-models must load the imported weights by name and agree.
//!
//! fc8 is compared with a tolerance relative to its magnitude: after 16
//! float32 layers with up to 25088-term sums, libtorch and numpy/BLAS differ
//! in summation order by a few ulps of the result.

mod common;

use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor, nn};
use zoo_caffe::synthetic_vgg::{VggSize, write_vgg16};
use zoo_nn::Model;
use zoo_nn::graph::GraphModel;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn input(size: VggSize) -> Tensor {
    let side = size.input_side();
    Tensor::from_slice(&size.input()).reshape([1, 3, side, side])
}

fn import(caffemodel: &Path, out: &Path) -> GraphModel {
    zoo_caffe::import(
        None,
        caffemodel,
        out,
        &zoo_caffe::ImportOptions::default(),
        &common::Models,
    )
    .unwrap();
    GraphModel::load(
        &out.join("graph.json"),
        &[out.join("weights.safetensors")],
        Device::Cpu,
    )
    .unwrap()
}

fn fc8(model: &GraphModel, size: VggSize) -> Tensor {
    let outputs = model
        .run(&[("data".to_string(), input(size))], &["fc8".to_string()])
        .unwrap();
    outputs[0].1.shallow_clone()
}

fn assert_close(actual: &Tensor, expected: &Tensor) {
    assert_eq!(actual.size(), expected.size());
    let scale = expected.abs().max().double_value(&[]).max(1.0);
    let diff = (actual - expected).abs().max().double_value(&[]);
    assert!(
        diff <= 1e-5 * scale,
        "fc8 differs by {diff} (max |fc8| {scale})"
    );
}

#[test]
fn mini_vgg_matches_chainer_and_the_builtin_vgg() {
    let dir = tempfile::tempdir().unwrap();
    let caffemodel = dir.path().join("vgg16-mini.caffemodel");
    write_vgg16(&caffemodel, VggSize::Mini).unwrap();
    let out = dir.path().join("pkg");
    let model = import(&caffemodel, &out);
    assert_eq!(model.default_outputs(), vec!["prob".to_string()]);
    let fc8 = fc8(&model, VggSize::Mini);
    let expected = Tensor::read_npy(fixtures().join("vgg16_mini_fc8.npy")).unwrap();
    assert_close(&fc8, &expected);

    // The built-in VGG-mini loads the same file by parameter name.
    let vs = nn::VarStore::new(Device::Cpu);
    let vgg = zoo_models::vgg::Vgg::new(&vs.root(), zoo_models::vgg::VggConfig::mini()).unwrap();
    let mut variables = vs.variables();
    let weights = Tensor::read_safetensors(out.join("weights.safetensors")).unwrap();
    assert_eq!(weights.len(), variables.len());
    tch::no_grad(|| {
        for (name, tensor) in &weights {
            let var = variables
                .get_mut(&name.replace('/', "."))
                .unwrap_or_else(|| panic!("built-in VGG has no {name}"));
            assert_eq!(var.size(), tensor.size(), "{name}");
            var.copy_(tensor);
        }
    });
    let logits = vgg
        .logits(&input(VggSize::Mini), zoo_nn::Mode::Test)
        .unwrap();
    assert_close(&logits.to_kind(Kind::Float), &expected);
}

/// The full-size model: 553 MB, written once into .cache/zoo-caffe (about a
/// minute in a debug build); `cargo test -p zoo-caffe -- --ignored`.
#[test]
#[ignore]
fn full_vgg16_matches_chainer() {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/zoo-caffe");
    std::fs::create_dir_all(&cache).unwrap();
    let caffemodel = cache.join("vgg16-full.caffemodel");
    if !caffemodel.exists() {
        let partial = cache.join("vgg16-full.caffemodel.test-partial");
        write_vgg16(&partial, VggSize::Full).unwrap();
        std::fs::rename(&partial, &caffemodel).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let model = import(&caffemodel, &dir.path().join("pkg"));
    let fc8 = fc8(&model, VggSize::Full);
    let expected = Tensor::read_npy(fixtures().join("vgg16_full_fc8.npy")).unwrap();
    assert_close(&fc8, &expected);
}

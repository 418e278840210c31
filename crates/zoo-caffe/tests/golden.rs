//! Imports the small nets of tests/fixtures (every supported layer type, V1
//! and V2) and compares their blobs with the goldens of generate.py:
//! Chainer's CaffeFunction for net_v1/net_v2, and for net_caffe (layers
//! Chainer lacks or computes differently from Caffe: pooling sizes,
//! BatchNorm with a zero factor, Reshape 0/-1, Crop, Permute, ...) an
//! independent numpy implementation of Caffe's rules.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};
use zoo_nn::Model;
use zoo_nn::graph::GraphModel;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn golden() -> HashMap<String, Tensor> {
    Tensor::read_npz(fixtures().join("golden.npz"))
        .unwrap()
        .into_iter()
        .collect()
}

fn import(label: &str, with_prototxt: bool) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(label);
    let prototxt = fixtures().join(format!("{label}.prototxt"));
    let caffemodel = fixtures().join(format!("{label}.caffemodel"));
    zoo_caffe::import(
        with_prototxt.then_some(prototxt.as_path()),
        &caffemodel,
        &out,
        &zoo_caffe::ImportOptions::default(),
        &common::Models,
    )
    .unwrap();
    (dir, out)
}

fn check(label: &str, with_prototxt: bool) {
    let (_dir, out) = import(label, with_prototxt);
    let model = GraphModel::load(
        &out.join("graph.json"),
        &[out.join("weights.safetensors")],
        Device::Cpu,
    )
    .unwrap();
    let golden = golden();
    let inputs: Vec<(String, Tensor)> = golden
        .iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(&format!("{label}/in/"))
                .map(|name| (name.to_string(), v.shallow_clone()))
        })
        .collect();
    let mut wanted: Vec<String> = golden
        .keys()
        .filter_map(|k| k.strip_prefix(&format!("{label}/out/")).map(str::to_string))
        .collect();
    wanted.sort();
    assert!(!wanted.is_empty());
    let outputs = model.run(&inputs, &wanted).unwrap();
    for (name, actual) in outputs {
        let expected = &golden[&format!("{label}/out/{name}")];
        assert_eq!(actual.size(), expected.size(), "{label}: shape of {name}");
        let diff = (actual - expected).abs().max().double_value(&[]);
        assert!(diff <= 1e-5, "{label}: {name} differs by {diff}");
    }
}

#[test]
fn v2_net_matches_chainer() {
    check("net_v2", true);
}

#[test]
fn v1_net_matches_chainer() {
    check("net_v1", true);
}

#[test]
fn caffe_rules_match_numpy() {
    check("net_caffe", true);
}

#[test]
fn caffemodel_alone_gives_the_same_results() {
    for label in ["net_v2", "net_v1", "net_caffe"] {
        check(label, false);
    }
}

#[test]
fn package_lists_provenance_and_io() {
    let (_dir, out) = import("net_v2", true);
    let manifest = zoo_format::Manifest::load(&out).unwrap();
    let model = manifest.model.unwrap();
    assert_eq!(model.inputs[0].name, "data");
    assert_eq!(model.inputs[0].shape, vec![2, 4, 8, 8]);
    assert_eq!(model.outputs[0].name, "prob");
    let sources = model.provenance.unwrap().converted_from;
    assert_eq!(sources[0].file, "net_v2.prototxt");
    assert_eq!(sources[1].file, "net_v2.caffemodel");
    let bytes = std::fs::read(fixtures().join("net_v2.caffemodel")).unwrap();
    assert_eq!(sources[1].sha256, zoo_format::checksum::sha256_hex(&bytes));
    let weights: Vec<String> = Tensor::read_safetensors(out.join("weights.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    for name in [
        "conv1/W",
        "conv1/b",
        "bn1/mean",
        "bn1/var",
        "scale1/gamma",
        "scale1/beta",
        "fc/W",
    ] {
        assert!(
            weights.contains(&name.to_string()),
            "{name} missing from {weights:?}"
        );
    }
}

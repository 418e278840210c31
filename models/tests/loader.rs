//! One loader for every package kind (`zoo_models::load`): built-in, graph
//! and TorchScript, the last only when the caller allowed code.

use std::path::Path;
use tch::{Device, Kind, Tensor};
use zoo_e2e::Manifest;
use zoo_models::{LoadOptions, load};

fn write_package(dir: &Path, architecture: &str) {
    Manifest::model("tiny", "0.1.0")
        .description("a one-layer package")
        .weights(&[])
        .architecture(architecture)
        .input("x", &[-1, 2])
        .output("y", None)
        .write(dir);
}

#[test]
fn a_graph_package_loads_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path(), r#"graph = "graph.json""#);
    let graph = r#"{"format": "zoo-graph", "version": 1, "inputs": [{"name": "x"}],
        "outputs": ["y"], "layers": [{"name": "double", "type": "Power",
        "params": {"power": 1.0, "scale": 2.0, "shift": 0.0}, "bottoms": ["x"], "tops": ["y"]}]}"#;
    std::fs::write(dir.path().join("graph.json"), graph).unwrap();
    let package = load(dir.path(), Device::Cpu, LoadOptions::default()).unwrap();
    assert!(package.architecture.is_none());
    let x = Tensor::from_slice(&[1.0f32, -3.0]).view([1, 2]);
    let out = package.model.run(&[("x".into(), x)], &[]).unwrap();
    assert_eq!(out[0].0, "y");
    let y: Vec<f32> = out[0]
        .1
        .reshape([-1])
        .to_kind(Kind::Float)
        .try_into()
        .unwrap();
    assert_eq!(y, [2.0, -6.0]);
}

#[test]
fn a_torchscript_package_loads_only_when_code_is_allowed() {
    let dir = tempfile::tempdir().unwrap();
    write_package(dir.path(), r#"torchscript = "model.pt""#);
    std::fs::write(dir.path().join("model.pt"), b"not a zip archive").unwrap();
    let refused = load(dir.path(), Device::Cpu, LoadOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("package tiny") && refused.contains("loaded only when code is allowed"),
        "{refused}"
    );
    // Allowed, the loader goes on to the file (its scan refuses this one).
    let allowed = LoadOptions {
        allow_code: true,
        ..LoadOptions::default()
    };
    let scanned = load(dir.path(), Device::Cpu, allowed)
        .unwrap_err()
        .to_string();
    assert!(
        scanned.contains("model.pt") && !scanned.contains("code is allowed"),
        "{scanned}"
    );
}

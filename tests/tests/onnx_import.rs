//! End to end for the ONNX importer (issue #16): a small ONNX classifier
//! (zoo-onnx's committed fixture, 32×32 RGB in, 10 classes out) imported
//! with `zoo import onnx --task classify --labels …`, published to a real
//! registry, installed into a fresh ZOO_HOME and run by name on an image:
//! `zoo run NAME image.png --json` answers with labels of the labels file.

use std::path::PathBuf;
use zoo_e2e::{Registry, Zoo};

fn classifier() -> PathBuf {
    zoo_e2e::cargo::workspace_root().join("crates/zoo-onnx/tests/fixtures/classifier")
}

#[test]
fn imported_onnx_classifier_publishes_installs_and_runs_by_name() {
    let registry = Registry::start();
    let alice = registry.user("alice");
    let work = tempfile::tempdir().unwrap();

    // Labels of our own (not the fixture's), so that the answer can only
    // come from the file given to the import.
    let labels: Vec<String> = (0..10).map(|i| format!("onnx-class-{i}")).collect();
    let labels_file = work.path().join("classes.txt");
    std::fs::write(&labels_file, labels.join("\n") + "\n").unwrap();
    let package = work.path().join("tiny-onnx");
    let out = alice
        .run(&[
            "import",
            "onnx",
            classifier().join("tiny_classifier.onnx").to_str().unwrap(),
            "-o",
            package.to_str().unwrap(),
            "--name",
            "tiny-onnx",
            "--version",
            "1.2.0",
            "--task",
            "classify",
            "--labels",
            labels_file.to_str().unwrap(),
            "--mean",
            "127.5,127.5,127.5",
            "--std",
            "64,64,64",
        ])
        .ok();
    assert!(out.contains("imported tiny-onnx"), "{out}");
    alice.run(&["publish", package.to_str().unwrap()]).ok();

    // Another user, another ZOO_HOME: only the registry connects them.
    let user = Zoo::new(&registry.url, None);
    let out = user.run(&["install", "tiny-onnx"]).ok();
    assert!(out.contains("installed tiny-onnx@1.2.0"), "{out}");
    assert_eq!(user.installed(), [("tiny-onnx".into(), "1.2.0".into())]);

    // An image of another size than the input's 32×32 (resized on the way).
    let image = work.path().join("image.png");
    let picture = image::RgbImage::from_fn(48, 40, |x, y| {
        image::Rgb([(x * 5) as u8, (y * 6) as u8, ((x + y) * 3) as u8])
    });
    picture.save(&image).unwrap();
    let out = user
        .run(&["run", "tiny-onnx", image.to_str().unwrap(), "--json"])
        .ok();
    let value: serde_json::Value = serde_json::from_str(&out).unwrap();
    let top = value[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 5, "{value}");
    let mut previous = f64::INFINITY;
    for entry in top {
        let label = entry["label"].as_str().unwrap();
        assert!(labels.iter().any(|l| l == label), "{label} in {value}");
        let p = entry["probability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&p) && p <= previous, "{value}");
        previous = p;
    }
}

//! `zoo export torchscript` and `zoo run` on the exported package, through
//! the real binary: the TorchScript package gives the source model's outputs.

use std::path::Path;
use std::process::Command;
use tch::{Device, Kind, Tensor};
use zoo_e2e::{Manifest, Outcome, run_command};
use zoo_models::{Architecture, BuiltinModel};
use zoo_nn::Model;

fn zoo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zoo-torch"))
}

/// `zoo export torchscript SOURCE -o FILE [--package PACKAGE] --input-shape SHAPE`.
fn export(source: &Path, file: &Path, package: Option<&Path>, shape: &str) -> Outcome {
    let mut cmd = zoo();
    cmd.args(["export", "torchscript"])
        .arg(source)
        .arg("-o")
        .arg(file);
    if let Some(package) = package {
        cmd.arg("--package").arg(package);
    }
    run_command(cmd.args(["--input-shape", shape]))
}

/// `zoo run --allow-code PACKAGE ARGS`.
fn run_code(package: &Path, args: &[&str]) -> Outcome {
    run_command(zoo().arg("run").arg("--allow-code").arg(package).args(args))
}

/// Seeding and drawing from libtorch's one global generator: tests run on
/// parallel threads, and interleaved draws would give each package other
/// weights from run to run.
static RANDOM: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A vgg-mini package with seeded random weights and a labels file.
fn write_source_package(dir: &Path) -> BuiltinModel {
    let model = {
        let _only_us = RANDOM
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        tch::manual_seed(3);
        let config = serde_json::json!({});
        BuiltinModel::build(Architecture::VggMini, &config, Device::Cpu).unwrap()
    };
    std::fs::create_dir_all(dir).unwrap();
    zoo_nn::params::save_safetensors(&model.vs, dir.join("weights.safetensors")).unwrap();
    let labels: Vec<String> = (0..10).map(|i| format!("class {i}")).collect();
    std::fs::write(dir.join("labels.txt"), labels.join("\n")).unwrap();
    Manifest::model("tiny-vgg", "0.3.0")
        .description("VGG-mini with random weights")
        .weights(&["weights.safetensors"])
        .builtin("vgg-mini")
        .input("data", &[-1, 3, 32, 32])
        .output("prob", Some("labels.txt"))
        .metric("accuracy", "none (random weights)", 0.1)
        .write(dir);
    model
}

#[test]
fn exported_package_runs_like_the_source() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tiny-vgg");
    let model = write_source_package(&source);
    let exported = dir.path().join("tiny-vgg-ts");
    let file = dir.path().join("tiny.pt");
    export(&source, &file, Some(&exported), "data=2,3,32,32").ok();
    assert!(file.is_file() && exported.join("model.pt").is_file());
    assert!(exported.join("labels.txt").is_file());
    let manifest = std::fs::read_to_string(exported.join("zoo.toml")).unwrap();
    for expected in [
        "name = \"tiny-vgg-torchscript\"",
        "torchscript = \"model.pt\"",
        "shape = [2, 3, 32, 32]",
        "tiny-vgg@0.3.0/weights.safetensors",
        "accuracy",
        "task = \"classify\"",
    ] {
        assert!(
            manifest.contains(expected),
            "{expected} missing from\n{manifest}"
        );
    }

    let x = Tensor::randn([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    let x_file = dir.path().join("x.npy");
    let y_file = dir.path().join("y.npy");
    zoo_nn::params::write_npy(&x_file, &x).unwrap();
    let input = format!("--input=data={}", x_file.display());
    let output = format!("--output=prob={}", y_file.display());
    run_code(&exported, &[&input, &output]).ok();
    let got = zoo_nn::params::read_npy(&y_file).unwrap();
    let expected = model.run(&[("data".into(), x)], &["prob".into()]).unwrap();
    let diff = (got - &expected[0].1).abs().max().double_value(&[]);
    assert!(diff <= 1e-6, "max abs diff {diff}");

    // The traced shape is checked before anything runs.
    let wrong = dir.path().join("wrong.npy");
    zoo_nn::params::write_npy(
        &wrong,
        &Tensor::zeros([1, 3, 32, 32], (Kind::Float, Device::Cpu)),
    )
    .unwrap();
    let stderr = run_code(&exported, &[&format!("--input=data={}", wrong.display())]).fails();
    assert!(
        stderr.contains("data") && stderr.contains("[2, 3, 32, 32]"),
        "{stderr}"
    );
}

#[test]
fn bad_exports_fail_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tiny-vgg");
    write_source_package(&source);
    let file = dir.path().join("out.pt");
    let stderr = export(&source, &file, None, "image=1,3,32,32").fails();
    assert!(stderr.contains("no such input"));
    export(&source, &file, None, "data=1,5,32,32").fails();
    assert!(!file.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, ["tiny-vgg"], "left behind: {leftovers:?}");
    // A file in a folder that does not exist: said before anything runs.
    let stderr = export(
        &source,
        &dir.path().join("nodir/x.pt"),
        None,
        "data=1,3,32,32",
    )
    .fails();
    assert!(
        stderr.contains("nodir") && stderr.contains("does not exist"),
        "{stderr}"
    );

    // A corrupt TorchScript package is an error naming the file.
    let broken = dir.path().join("broken");
    Manifest::model("broken", "0.1.0")
        .description("x")
        .architecture("torchscript = \"model.pt\"")
        .write_with(&broken, &[("model.pt", b"not a model")]);
    let x_file = dir.path().join("x.npy");
    zoo_nn::params::write_npy(&x_file, &Tensor::zeros([1], (Kind::Float, Device::Cpu))).unwrap();
    let stderr = run_code(&broken, &[&format!("--input=x={}", x_file.display())]).fails();
    assert!(stderr.contains("model.pt"), "{stderr}");
}

/// A TorchScript classifier decodes images like the built-in one: the task
/// and preprocessing travel with the export.
#[test]
fn exported_classifier_classifies_images() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("tiny-vgg");
    write_source_package(&source);
    let exported = dir.path().join("tiny-vgg-ts");
    let file = dir.path().join("tiny.pt");
    export(&source, &file, Some(&exported), "data=1,3,32,32").ok();
    let image =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/vgg-mini/examples/1-disc.png");
    let run = |package: &Path| {
        let stdout = run_code(package, &[image.to_str().unwrap(), "--json"]).ok();
        let value: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        value[0]["top"].clone()
    };
    let top = run(&exported);
    assert_eq!(top.as_array().unwrap().len(), 5, "{top}");
    // The same answer as the source package (probabilities in order; labels
    // of near-equal classes may swap).
    let expected = run(&source);
    let probabilities = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t["probability"].as_f64().unwrap())
            .collect()
    };
    // TorchScript's graph and the eager model run other kernels: the last
    // bits differ (1.4e-5 relative seen on a probability of 0.84), so the
    // bound is `zoo verify`'s default tolerance, 1e-4 relative (plus 1e-9
    // for probabilities near zero).
    for (got, want) in probabilities(&top).iter().zip(probabilities(&expected)) {
        assert!(
            (got - want).abs() <= 1e-4 * want.abs() + 1e-9,
            "{top} vs {expected}"
        );
    }
}

//! `zoo verify` through the real binary (issue #14): a package's golden
//! input re-run and compared with its recorded outputs; passes on the
//! committed and imported packages, fails naming the output when weights
//! or the golden file are altered, and says so when there is no golden file.

use std::path::{Path, PathBuf};
use std::process::Command;
use tch::Tensor;
use zoo_e2e::{Outcome, run_command};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn verify(args: &[&std::ffi::OsStr]) -> Outcome {
    run_command(
        Command::new(env!("CARGO_BIN_EXE_zoo-torch"))
            .arg("verify")
            .args(args)
            .env("ZOO_HOME", repo().join("target/no-zoo-home")),
    )
}

/// A copy of models/vgg-mini to alter.
fn vgg_mini_copy(dir: &Path) -> PathBuf {
    let copy = dir.join("vgg-mini");
    std::fs::create_dir_all(&copy).unwrap();
    let source = repo().join("models/vgg-mini");
    for file in [
        "zoo.toml",
        "README.md",
        "labels.txt",
        "weights.safetensors",
        "golden.npz",
    ] {
        std::fs::copy(source.join(file), copy.join(file)).unwrap();
    }
    copy
}

#[test]
fn the_committed_vgg_mini_matches_its_golden_file() {
    let stdout = verify(&[repo().join("models/vgg-mini").as_os_str()]).ok();
    assert!(
        stdout.contains("prob: max relative difference") && stdout.contains(": OK"),
        "{stdout}"
    );

    let out = verify(&[
        "--json".as_ref(),
        repo().join("models/vgg-mini").as_os_str(),
    ]);
    let report: serde_json::Value = serde_json::from_str(&out.ok()).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["outputs"][0]["name"], "prob", "{report}");
    assert!(
        report["outputs"][0]["max_relative_difference"]
            .as_f64()
            .unwrap()
            <= 1e-4
    );
}

#[test]
fn altered_weights_fail_naming_the_output_and_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let copy = vgg_mini_copy(dir.path());
    let weights = copy.join("weights.safetensors");
    let tensors: Vec<(String, Tensor)> = Tensor::read_safetensors(&weights)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            let t = if name == "fc8/W" { t * 1.5 } else { t };
            (name, t)
        })
        .collect();
    assert!(tensors.iter().any(|(n, _)| n == "fc8/W"));
    Tensor::write_safetensors(&tensors, &weights).unwrap();
    let Outcome { stdout, stderr, .. } = verify(&[copy.as_os_str()]).exits_with(1);
    assert!(
        stdout.contains("prob: max relative difference") && stdout.contains("FAIL"),
        "{stdout}"
    );
    assert!(
        stderr.contains("output prob differs from the golden file"),
        "{stderr}"
    );
}

#[test]
fn an_altered_golden_file_fails() {
    let dir = tempfile::tempdir().unwrap();
    let copy = vgg_mini_copy(dir.path());
    let golden = copy.join("golden.npz");
    let arrays: Vec<(String, Tensor)> = Tensor::read_npz(&golden)
        .unwrap()
        .into_iter()
        .map(|(name, t)| {
            let t = if name == "outputs/prob" {
                t.flip([1])
            } else {
                t
            };
            (name, t)
        })
        .collect();
    Tensor::write_npz(&arrays, &golden).unwrap();
    let out = verify(&["--json".as_ref(), copy.as_os_str()]).exits_with(1);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["outputs"][0]["ok"], false, "{report}");
    assert!(
        report["outputs"][0]["max_relative_difference"]
            .as_f64()
            .unwrap()
            > 1e-4
    );
}

#[test]
fn a_package_without_golden_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let copy = vgg_mini_copy(dir.path());
    let manifest = std::fs::read_to_string(copy.join("zoo.toml")).unwrap();
    let start = manifest.find("[model.golden]").unwrap();
    std::fs::write(copy.join("zoo.toml"), &manifest[..start]).unwrap();
    std::fs::remove_file(copy.join("golden.npz")).unwrap();
    let stderr = verify(&[copy.as_os_str()]).exits_with(1).stderr;
    assert!(
        stderr.contains("vgg-mini 0.1.0 has no golden file")
            && stderr.contains("nothing to verify"),
        "{stderr}"
    );
    // Under --json, stdout says so too (one document, as for a comparison).
    let out = verify(&["--json".as_ref(), copy.as_os_str()]).exits_with(1);
    let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("has no golden file"),
        "{report}"
    );
}

#[test]
fn an_imported_graph_package_carries_a_golden_file_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let caffemodel = dir.path().join("vgg16-mini.caffemodel");
    zoo_caffe::synthetic_vgg::write_vgg16(&caffemodel, zoo_caffe::synthetic_vgg::VggSize::Mini)
        .unwrap();
    let out_dir = dir.path().join("imported");
    run_command(
        Command::new(env!("CARGO_BIN_EXE_zoo-torch"))
            .args(["--quiet", "import", "caffe"])
            .arg(&caffemodel)
            .arg("-o")
            .arg(&out_dir),
    )
    .ok();
    let manifest = zoo_format::manifest::Manifest::load(&out_dir).unwrap();
    let golden = manifest.model.unwrap().golden.unwrap();
    assert_eq!(golden.file, "golden.npz");
    assert!(std::fs::metadata(out_dir.join("golden.npz")).unwrap().len() < 64 << 10);
    let stdout = verify(&[out_dir.as_os_str()]).ok();
    assert!(stdout.contains(": OK"), "{stdout}");
}

//! `zoo import caffe` through the real binary: a package on success, a clear
//! message, a non-zero exit and no output directory on bad input.

use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../zoo-caffe/tests/fixtures")
}

fn zoo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zoo-torch"))
}

#[test]
fn imports_a_package() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("net");
    let status = zoo()
        .args(["import", "caffe"])
        .arg(fixtures().join("net_v1.prototxt"))
        .arg(fixtures().join("net_v1.caffemodel"))
        .arg("-o")
        .arg(&out)
        .args(["--name", "all-v1", "--version", "1.2.3"])
        .status()
        .unwrap();
    assert!(status.success());
    let manifest = std::fs::read_to_string(out.join("zoo.toml")).unwrap();
    assert!(
        manifest.contains("name = \"all-v1\"") && manifest.contains("version = \"1.2.3\""),
        "{manifest}"
    );
    assert!(manifest.contains("graph = \"graph.json\""), "{manifest}");
    assert!(out.join("weights.safetensors").is_file() && out.join("graph.json").is_file());
}

#[test]
fn syntax_error_exits_non_zero_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let deploy = dir.path().join("deploy.prototxt");
    std::fs::write(&deploy, "layer {\n  name: \"a\"\n  type: }\n").unwrap();
    let out = dir.path().join("out");
    let result = zoo()
        .args(["import", "caffe"])
        .arg(&deploy)
        .arg(fixtures().join("net_v2.caffemodel"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(!result.status.success());
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(
        stderr.contains("deploy.prototxt: line 3, column 9"),
        "{stderr}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "only the prototxt remains"
    );
}

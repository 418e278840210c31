//! Bad input: each error names the file and where (byte offset, line and
//! column, layer), and the output directory is never created.

use std::path::{Path, PathBuf};
use zoo_caffe::{CaffeError, ImportOptions, import};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Imports into a fresh directory and checks that nothing was left behind.
fn import_err(prototxt: Option<&Path>, caffemodel: &Path) -> CaffeError {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pkg");
    let err = import(prototxt, caffemodel, &out, &ImportOptions::default()).unwrap_err();
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    err
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn truncated_caffemodel() {
    let scratch = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("net_v2.caffemodel")).unwrap();
    let path = write(scratch.path(), "cut.caffemodel", &bytes[..bytes.len() / 2]);
    let err = import_err(None, &path);
    let text = err.to_string();
    assert!(matches!(err, CaffeError::Caffemodel { .. }), "{text}");
    assert!(
        text.contains("cut.caffemodel")
            && text.contains("byte offset")
            && text.contains("truncated"),
        "{text}"
    );
}

#[test]
fn wrong_wire_type() {
    let scratch = tempfile::tempdir().unwrap();
    let mut bytes = std::fs::read(fixtures().join("net_v2.caffemodel")).unwrap();
    // The first `layer` key (field 100, length-delimited: A2 06) made a varint.
    let at = bytes.windows(2).position(|w| w == [0xA2, 0x06]).unwrap();
    bytes[at] = 0xA0;
    let path = write(scratch.path(), "bad.caffemodel", &bytes);
    let text = import_err(None, &path).to_string();
    assert!(
        text.contains(&format!("byte offset {at}")) && text.contains("wire type"),
        "{text}"
    );
}

#[test]
fn prototxt_syntax_error() {
    let scratch = tempfile::tempdir().unwrap();
    let path = write(
        scratch.path(),
        "deploy.prototxt",
        "name: \"x\"\nlayer {\n  name: \"conv1\"\n  type = \"Convolution\"\n}\n",
    );
    let err = import_err(Some(&path), &fixtures().join("net_v2.caffemodel"));
    let text = err.to_string();
    assert!(matches!(err, CaffeError::Prototxt { .. }), "{text}");
    assert!(text.contains("deploy.prototxt: line 4, column 8"), "{text}");
}

#[test]
fn unsupported_layer_names_layer_type_and_alternatives() {
    let scratch = tempfile::tempdir().unwrap();
    let path = write(
        scratch.path(),
        "deploy.prototxt",
        "input: \"data\"\ninput_dim: 1 input_dim: 4 input_dim: 8 input_dim: 8\n\
         layer { name: \"thr\" type: \"Threshold\" bottom: \"data\" top: \"thr\" }\n",
    );
    let text = import_err(Some(&path), &fixtures().join("net_v2.caffemodel")).to_string();
    assert!(
        text.contains("\"thr\"") && text.contains("\"Threshold\""),
        "{text}"
    );
    assert!(
        text.contains("Convolution") && text.contains("Permute"),
        "{text}"
    );
}

#[test]
fn misshaped_blob() {
    let scratch = tempfile::tempdir().unwrap();
    let deploy = std::fs::read_to_string(fixtures().join("net_v2.prototxt")).unwrap();
    // The caffemodel's fc has 5 outputs; the deploy claims 7.
    let changed = deploy.replacen("num_output: 5", "num_output: 7", 1);
    assert_ne!(changed, deploy);
    let path = write(scratch.path(), "deploy.prototxt", changed);
    let text = import_err(Some(&path), &fixtures().join("net_v2.caffemodel")).to_string();
    assert!(
        text.contains("\"fc\"") && text.contains("[5, 48]"),
        "{text}"
    );
}

#[test]
fn deploy_layer_without_weights() {
    let scratch = tempfile::tempdir().unwrap();
    let deploy = std::fs::read_to_string(fixtures().join("net_v2.prototxt")).unwrap();
    let path = write(
        scratch.path(),
        "deploy.prototxt",
        deploy.replace("\"conv2a\"", "\"conv2z\""),
    );
    let text = import_err(Some(&path), &fixtures().join("net_v2.caffemodel")).to_string();
    assert!(
        text.contains("\"conv2z\"") && text.contains("no weights"),
        "{text}"
    );
}

#[test]
fn existing_output_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("keep.txt"), "mine").unwrap();
    let err = import(
        None,
        &fixtures().join("net_v2.caffemodel"),
        dir.path(),
        &ImportOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "mine"
    );
}

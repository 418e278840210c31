//! Bad input: each error names the file and where (byte offset, line and
//! column, layer), and the output directory is never created.

mod common;

use std::path::{Path, PathBuf};
use zoo_caffe::{CaffeError, ImportOptions, import};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Imports into a fresh directory and checks that nothing was left behind.
fn import_err(prototxt: Option<&Path>, caffemodel: &Path) -> CaffeError {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pkg");
    let err = import(
        prototxt,
        caffemodel,
        &out,
        &ImportOptions::default(),
        &common::Models,
    )
    .unwrap_err();
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
        &common::Models,
    )
    .unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("keep.txt")).unwrap(),
        "mine"
    );
}

/// A tensor side that answers from plain data and records what it was given.
struct Fake {
    parameters: Result<Vec<(String, Vec<i64>)>, String>,
    golden: Result<(), String>,
    staged: std::cell::RefCell<Vec<PathBuf>>,
}

impl zoo_caffe::ModelSide for Fake {
    fn builtin_parameters(
        &self,
        _name: &str,
        _config: &serde_json::Value,
    ) -> Result<Vec<(String, Vec<i64>)>, String> {
        self.parameters.clone()
    }

    fn record_golden(&self, staged: &Path) -> Result<(), String> {
        // Called on the complete staged folder, before the rename.
        assert!(staged.join("zoo.toml").is_file(), "{}", staged.display());
        assert!(staged.join("weights.safetensors").is_file());
        self.staged.borrow_mut().push(staged.to_path_buf());
        self.golden.clone()
    }
}

#[test]
fn the_tensor_side_is_the_callers() {
    let fake = |parameters, golden| Fake {
        parameters,
        golden,
        staged: Default::default(),
    };
    let prototxt = fixtures().join("net_v2.prototxt");
    let caffemodel = fixtures().join("net_v2.caffemodel");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("pkg");

    // A golden hook that fails leaves nothing; its message is kept.
    let side = fake(Ok(vec![]), Err("boom".into()));
    let err = import(
        Some(&prototxt),
        &caffemodel,
        &out,
        &ImportOptions::default(),
        &side,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the converted graph does not run on its input: boom"
    );
    assert_eq!(side.staged.borrow().len(), 1);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // One that succeeds sees the staged folder, which becomes the package.
    let side = fake(Ok(vec![]), Ok(()));
    import(
        Some(&prototxt),
        &caffemodel,
        &out,
        &ImportOptions::default(),
        &side,
    )
    .unwrap();
    let staged = side.staged.borrow()[0].clone();
    assert_ne!(staged, out);
    assert!(!staged.exists() && out.join("zoo.toml").is_file());

    // --like checks the converted weights against the caller's list.
    let like = dir.path().join("like");
    std::fs::create_dir(&like).unwrap();
    let manifest = r#"
[package]
name = "tiny"
version = "1.0.0"
kind = "model"
description = "a built-in package without weights"

[model]
weights = ["w.safetensors"]

[model.architecture]
builtin = "vgg16"
"#;
    std::fs::write(like.join("zoo.toml"), manifest).unwrap();
    let with_like = ImportOptions {
        like: Some(like.clone()),
        ..ImportOptions::default()
    };
    let again = dir.path().join("again");
    let side = fake(Ok(vec![("nowhere/W".into(), vec![2, 2])]), Ok(()));
    let err = import(Some(&prototxt), &caffemodel, &again, &with_like, &side).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("layer nowhere/W: missing from the caffemodel; vgg16 (from ")
            && err.to_string().ends_with("expects shape [2, 2]"),
        "{err}"
    );
    let side = fake(Err("cannot build".into()), Ok(()));
    let err = import(Some(&prototxt), &caffemodel, &again, &with_like, &side).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("--like {}: cannot build", like.display())
    );
    assert!(side.staged.borrow().is_empty() && !again.exists());
}

#[test]
fn files_in_the_wrong_places_say_so() {
    let scratch = tempfile::tempdir().unwrap();
    let prototxt = fixtures().join("net_v2.prototxt");
    let caffemodel = fixtures().join("net_v2.caffemodel");
    // Only the prototxt, in the weights' place.
    let text = import_err(None, &prototxt).to_string();
    assert!(
        text.contains("this is a text prototxt, not a binary caffemodel"),
        "{text}"
    );
    // The two swapped.
    let text = import_err(Some(&caffemodel), &prototxt).to_string();
    assert!(
        text.contains("the text deploy prototxt comes first"),
        "{text}"
    );
    // An empty weights file.
    let empty = write(scratch.path(), "empty.caffemodel", b"");
    let text = import_err(Some(&prototxt), &empty).to_string();
    assert!(
        text.contains("empty.caffemodel") && text.contains("the file is empty"),
        "{text}"
    );
}

//! Issue #17, items 2 and 9, end to end with the real `zoo` and `zoo-torch`:
//!
//! - a TorchScript package whose forward writes a file with
//!   `torch.from_file(path, shared=True)` (tests/fixtures/torchscript/
//!   hostile.pt, made by make_hostile.py next to it) is not installed or run
//!   without `--allow-code`, and with it the loader's scan refuses the
//!   operator: the file is never written;
//! - hostile package parameters (cell-counter widths, a graph Crop offset of
//!   i64::MAX) and NaN weights make `zoo run` fail with a clear message, not
//!   a panic and not exit 0.

use std::path::{Path, PathBuf};
use std::process::Command;
use zoo_e2e::{Registry, Zoo, write_npy};

/// Where hostile.pt's forward writes (see make_hostile.py).
const WRITTEN_BY_HOSTILE: &str = "/tmp/zoo-hostile-torchscript-written";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/torchscript")
        .join(name)
}

/// A finished command: exit code and output.
struct Finished {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn finish(mut command: Command) -> Finished {
    let out = command.output().expect("starting zoo");
    Finished {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Asserts a clean refusal: exit 1 (not 0, not a panic's 101), no panic
/// message, and stderr mentioning every `expected` text. Returns stderr.
#[track_caller]
fn refused(outcome: Finished, expected: &[&str]) -> String {
    let Finished {
        code,
        stdout,
        stderr,
    } = outcome;
    assert_eq!(
        code,
        Some(1),
        "exit code\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for text in expected {
        assert!(stderr.contains(text), "stderr lacks {text:?}:\n{stderr}");
    }
    stderr
}

/// A safetensors file of f32 tensors, each filled with one value.
fn write_safetensors(path: &Path, tensors: &[(&str, &[usize], f32)]) {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, value) in tensors {
        let count: usize = shape.iter().product();
        let start = data.len();
        for _ in 0..count {
            data.extend(value.to_le_bytes());
        }
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let mut text = serde_json::Value::Object(header).to_string();
    while !text.len().is_multiple_of(8) {
        text.push(' ');
    }
    let mut bytes = (text.len() as u64).to_le_bytes().to_vec();
    bytes.extend(text.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

fn model_manifest(name: &str, architecture: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nkind = \"model\"\n\
         description = \"{name}, a hostile test package\"\nlicense = \"MIT\"\n\n\
         [model]\nweights = [\"weights.safetensors\"]\n\n[model.architecture]\n{architecture}\n"
    )
}

/// A cell-counter package folder with `widths` and weights filled with `fill`.
fn cell_counter(root: &Path, name: &str, widths: &str, fill: Option<f32>) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let manifest = model_manifest(
        name,
        &format!("builtin = \"cell-counter\"\n\n[model.architecture.config]\nwidths = {widths}"),
    );
    std::fs::write(dir.join("zoo.toml"), manifest).unwrap();
    match fill {
        // widths [2, 2]: conv1 1→2, conv2 2→2, up1 2→2, out 2→1.
        Some(value) => write_safetensors(
            &dir.join("weights.safetensors"),
            &[
                ("conv1/W", &[2, 1, 3, 3], value),
                ("conv1/b", &[2], value),
                ("conv2/W", &[2, 2, 3, 3], value),
                ("conv2/b", &[2], value),
                ("up1/W", &[2, 2, 3, 3], value),
                ("up1/b", &[2], value),
                ("out/W", &[1, 2, 1, 1], value),
                ("out/b", &[1], value),
            ],
        ),
        None => write_safetensors(&dir.join("weights.safetensors"), &[]),
    }
    dir
}

fn zoo_run(zoo: &Zoo, args: &[&str]) -> Finished {
    let mut all = vec!["run"];
    all.extend(args);
    finish(zoo.command(zoo.user_home.path(), &all))
}

#[test]
fn hostile_cell_counter_widths_and_nan_weights_fail_cleanly() {
    let zoo = Zoo::new("http://127.0.0.1:9", None);
    let work = tempfile::tempdir().unwrap();
    let image = work.path().join("image.npy");
    write_npy(&image, &[1, 1, 8, 8], &[0.5; 64]);
    let input = format!("image={}", image.display());
    let many = format!("[{}]", vec!["4"; 65].join(", "));
    for (name, widths, expected) in [
        ("negative", "[-1, 16]", "config.widths[0] = -1"),
        ("zero", "[0, 0]", "config.widths[0] = 0"),
        (
            "overflow",
            "[4611686018427387904, 2]",
            "config.widths[0] = 4611686018427387904",
        ),
        ("too-many", many.as_str(), "config.widths has 65 entries"),
    ] {
        let dir = cell_counter(work.path(), name, widths, None);
        let dir = dir.to_str().unwrap();
        refused(
            zoo_run(&zoo, &[dir, "--input", &input]),
            &[&format!("package {name}"), expected],
        );
    }

    // NaN weights: the density is NaN everywhere; that is an error naming
    // the output, in raw mode and in the image mode that prints a count.
    let dir = cell_counter(work.path(), "nan-weights", "[2, 2]", Some(f32::NAN));
    let dir = dir.to_str().unwrap();
    refused(
        zoo_run(&zoo, &[dir, "--input", &input]),
        &["output density", "64 NaN"],
    );
    let inf = cell_counter(work.path(), "inf-weights", "[2, 2]", Some(f32::MAX));
    let out = zoo_run(&zoo, &[inf.to_str().unwrap(), "--input", &input]);
    refused(out, &["infinite values"]);
    // The same package with finite weights runs: the refusals are about the values.
    let fine = cell_counter(work.path(), "fine-weights", "[2, 2]", Some(0.01));
    let out = zoo_run(&zoo, &[fine.to_str().unwrap(), "--input", &input]);
    assert_eq!(out.code, Some(0), "{}", out.stderr);
    // --input without --output prints the decoded count, as for images.
    assert!(
        out.stdout.contains(": count ") && out.stdout.contains("cells marked"),
        "{}",
        out.stdout
    );
}

#[test]
fn a_graph_crop_offset_of_i64_max_fails_cleanly() {
    let zoo = Zoo::new("http://127.0.0.1:9", None);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("evil-crop");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("zoo.toml"),
        model_manifest("evil-crop", "graph = \"graph.json\""),
    )
    .unwrap();
    write_safetensors(&dir.join("weights.safetensors"), &[]);
    let graph = serde_json::json!({
        "format": "zoo-graph",
        "version": 1,
        "inputs": [{"name": "data", "shape": [1, 1, 4, 4]}],
        "outputs": ["cropped"],
        "layers": [{
            "name": "crop",
            "type": "Crop",
            "params": {"axis": 2, "offset": [i64::MAX]},
            "bottoms": ["data", "data"],
            "tops": ["cropped"]
        }]
    });
    std::fs::write(dir.join("graph.json"), graph.to_string()).unwrap();
    let x = work.path().join("x.npy");
    write_npy(&x, &[1, 1, 4, 4], &[1.0; 16]);
    refused(
        zoo_run(
            &zoo,
            &[
                dir.to_str().unwrap(),
                "--input",
                &format!("data={}", x.display()),
            ],
        ),
        &[
            "graph.json",
            "layer \"crop\" (Crop): offset[0] = 9223372036854775807 is out of range",
        ],
    );
}

/// A TorchScript model package around `model`, depending on `deps`.
fn torchscript_package(root: &Path, name: &str, model: &Path, deps: &str) -> PathBuf {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(model, dir.join("model.pt")).unwrap();
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nkind = \"model\"\n\
         description = \"{name}: TorchScript\"\nlicense = \"MIT\"\n{deps}\n\
         [model.architecture]\ntorchscript = \"model.pt\"\n\n\
         [[model.inputs]]\nname = \"x\"\nshape = [1, 3]\ndtype = \"f32\"\n"
    );
    std::fs::write(dir.join("zoo.toml"), manifest).unwrap();
    dir
}

#[test]
fn torchscript_needs_an_opt_in_and_file_writing_operators_are_refused() {
    let _ = std::fs::remove_file(WRITTEN_BY_HOSTILE);
    let registry = Registry::start();
    let token = registry.add_user("mallory");
    let publisher = Zoo::new(&registry.url, Some(&token));
    let work = tempfile::tempdir().unwrap();
    let hostile = torchscript_package(work.path(), "hostile-ts", &fixture("hostile.pt"), "");
    publisher.run(&["publish", hostile.to_str().unwrap()]).ok();
    // An innocent-looking package that pulls the TorchScript one in.
    let app = zoo_e2e::write_package(
        work.path(),
        "innocent-app",
        "1.0.0",
        &[("hostile-ts", "^0.1")],
        &[("README.md", b"hi" as &[u8])],
    );
    publisher.run(&["publish", app.to_str().unwrap()]).ok();

    // zoo info and the web page say the package contains code; a
    // data-only package says nothing of the kind.
    let info = publisher.run(&["info", "hostile-ts"]).ok();
    assert!(
        info.contains("contains code: model.pt is TorchScript"),
        "{info}"
    );
    let info = publisher.run(&["info", "innocent-app"]).ok();
    assert!(!info.contains("contains code"), "{info}");
    let page = zoo_e2e::http(
        "GET",
        &format!("{}/packages/hostile-ts", registry.url),
        &[],
        b"",
    );
    let html = page.text();
    assert!(html.contains("Contains code (TorchScript)"), "{html}");
    assert!(
        html.contains("zoo install --allow-code hostile-ts@0.1.0"),
        "{html}"
    );
    let page = zoo_e2e::http(
        "GET",
        &format!("{}/packages/innocent-app", registry.url),
        &[],
        b"",
    );
    assert!(!page.text().contains("Contains code"));
    let x = work.path().join("x.npy");
    write_npy(&x, &[1, 3], &[1.0, 2.0, 3.0]);
    let input = format!("x={}", x.display());

    // Install: refused without the opt-in, the dependency path too, and
    // nothing is installed.
    let user = Zoo::new(&registry.url, None);
    let error = refused(
        finish(user.command(user.user_home.path(), &["install", "hostile-ts"])),
        &[
            "hostile-ts@0.1.0 contains code",
            "--allow-code",
            "allow-code = true",
        ],
    );
    assert!(error.contains("Nothing was installed"), "{error}");
    refused(
        finish(user.command(user.user_home.path(), &["install", "innocent-app"])),
        &["hostile-ts@0.1.0 (needed by innocent-app@1.0.0) contains code"],
    );
    assert!(user.installed().is_empty(), "{:?}", user.installed());

    // Run from the folder: refused without the opt-in; with it the scan
    // refuses aten::from_file before libtorch loads the file.
    let folder = hostile.to_str().unwrap();
    refused(
        zoo_run(&user, &[folder, "--input", &input]),
        &["hostile-ts@0.1.0 contains code", "--allow-code"],
    );
    refused(
        zoo_run(&user, &["--allow-code", folder, "--input", &input]),
        &["model.pt", "aten::from_file", "code/__torch__.py line"],
    );

    // Opted in per package in config.toml: installs; running is still refused by the scan.
    let config_dir = user.zoo_home().to_path_buf();
    std::fs::create_dir_all(&config_dir).unwrap();
    std::fs::write(
        config_dir.join("config.toml"),
        "allow-code = [\"hostile-ts\"]\n",
    )
    .unwrap();
    user.run(&["install", "innocent-app"]).ok();
    assert_eq!(user.installed().len(), 2);
    refused(
        zoo_run(&user, &["hostile-ts", "--input", &input]),
        &["aten::from_file"],
    );
    assert!(
        !Path::new(WRITTEN_BY_HOSTILE).exists(),
        "the hostile model wrote {WRITTEN_BY_HOSTILE}"
    );

    // --allow-code on the command line works without any config.
    let other = Zoo::new(&registry.url, None);
    other.run(&["install", "--allow-code", "hostile-ts"]).ok();
}

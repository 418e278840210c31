//! `zoo import onnx` through the real binary: a runnable package (labels,
//! preprocessing, golden file) that `zoo run` classifies images with and
//! whose outputs `zoo verify` finds equal to ONNX Runtime's; bad or hostile
//! models are refused with a message naming the culprit, a non-zero exit and
//! nothing written.

use std::path::{Path, PathBuf};
use std::process::Command;

use zoo_e2e::{Outcome, run_command};

use prost::Message;
use zoo_onnx::proto::{
    GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto,
    ValueInfoProto,
};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../zoo-onnx/tests/fixtures/classifier")
}

fn zoo() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zoo-torch"))
}

fn import(model: &Path, out: &Path, extra: &[&str]) -> Outcome {
    run_command(
        zoo()
            .args(["import", "onnx"])
            .arg(model)
            .arg("-o")
            .arg(out)
            .args(extra),
    )
}

#[test]
fn imported_classifier_runs_on_images_with_labels_and_matches_onnx_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("tiny");
    let labels = fixtures().join("labels.txt");
    let stdout = import(
        &fixtures().join("tiny_classifier.onnx"),
        &out,
        &[
            "--name",
            "tiny-classifier",
            "--version",
            "0.2.0",
            "--labels",
            labels.to_str().expect("utf-8"),
            "--mean",
            "123.675,116.28,103.53",
            "--std",
            "58.395,57.12,57.375",
        ],
    )
    .ok();
    assert!(
        stdout.contains("imported tiny-classifier (opset 13"),
        "{stdout}"
    );
    let manifest = std::fs::read_to_string(out.join("zoo.toml")).expect("zoo.toml");
    for part in [
        "task = \"classify\"",
        "labels = \"labels.txt\"",
        "std = [58.395, 57.12, 57.375]",
        "channel_order = \"rgb\"",
        "file = \"tiny_classifier.onnx\"",
        "[model.golden]",
    ] {
        assert!(manifest.contains(part), "{part} missing:\n{manifest}");
    }
    // The provenance (hashed while the golden run checked the package)
    // and the golden section both reach the final zoo.toml and card.
    let digest = zoo_format::checksum::sha256_file(&fixtures().join("tiny_classifier.onnx"))
        .expect("sha256")
        .0;
    let written = crate::manifest(&out);
    let section = model_section(&written);
    let sources = &section
        .provenance
        .as_ref()
        .expect("provenance")
        .converted_from;
    assert_eq!(sources.len(), 1, "{sources:?}");
    assert_eq!(sources[0].sha256, digest);
    assert!(section.golden.is_some());
    let card = std::fs::read_to_string(out.join("README.md")).expect("card");
    assert!(
        card.contains("tiny_classifier.onnx") && card.contains(&digest),
        "{card}"
    );

    // An image of another size, resized to the input's 32×32, labelled.
    let photo =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/vgg-mini/examples/0-diamond.png");
    let json = run_command(zoo().arg("run").arg(&out).arg(&photo).arg("--json")).ok();
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    let top = value[0]["top"].as_array().expect("top");
    assert_eq!(top.len(), 5, "{value}");
    assert!(
        top.iter()
            .all(|t| t["label"].as_str().is_some_and(|l| l.starts_with("label-"))),
        "{value}"
    );

    // Against ONNX Runtime: its input and output as the golden file.
    run_command(zoo().arg("verify").arg(&out)).ok();
    std::fs::copy(
        fixtures().join("tiny_classifier.npz"),
        out.join("golden.npz"),
    )
    .expect("copy");
    let verified = run_command(zoo().arg("verify").arg(&out)).ok();
    assert!(
        verified.contains("prob: max relative difference"),
        "{verified}"
    );
}

/// Runs a failing import and checks that nothing was left behind.
fn refused(dir: &Path, model: &Path, extra: &[&str]) -> String {
    let out = dir.join("out");
    let result = import(model, &out, extra);
    assert!(!result.success, "the import succeeded");
    assert!(!out.exists(), "nothing may be written");
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    result.stderr
}

fn info(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        ..Default::default()
    }
}

fn write(dir: &Path, file: &str, nodes: Vec<NodeProto>, initializer: Vec<TensorProto>) -> PathBuf {
    let model = ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        graph: Some(GraphProto {
            node: nodes,
            initializer,
            input: vec![info("x")],
            output: vec![info("y")],
            ..Default::default()
        }),
        ..Default::default()
    };
    let path = dir.join(file);
    std::fs::write(&path, model.encode_to_vec()).expect("write");
    path
}

fn node(name: &str, op: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        name: Some(name.into()),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

#[test]
fn bad_labels_hostile_files_and_unsupported_operators_are_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("work");
    std::fs::create_dir(&dir).expect("mkdir");
    let models = root.path().join("models");
    std::fs::create_dir(&models).expect("mkdir");

    let nine = models.join("nine.txt");
    std::fs::write(&nine, (0..9).map(|i| format!("l{i}\n")).collect::<String>()).expect("labels");
    let e = refused(
        &dir,
        &fixtures().join("tiny_classifier.onnx"),
        &["--labels", nine.to_str().expect("utf-8")],
    );
    assert!(
        e.contains("nine.txt") && e.contains("9 labels") && e.contains("10 outputs"),
        "{e}"
    );

    let huge = raw_tensor("w", &[1 << 40], 1, vec![0u8; 8]);
    let path = write(
        &models,
        "huge.onnx",
        vec![node("add", "Add", &["x", "w"], "y")],
        vec![huge],
    );
    let e = refused(&dir, &path, &[]);
    assert!(
        e.contains("huge.onnx") && e.contains("tensor \"w\"") && e.contains("raw_data has 8 bytes"),
        "{e}"
    );

    let outside = TensorProto {
        name: Some("w".into()),
        dims: vec![2],
        data_type: Some(1),
        data_location: Some(1),
        external_data: vec![StringStringEntryProto {
            key: Some("location".into()),
            value: Some("../secret.bin".into()),
        }],
        ..Default::default()
    };
    std::fs::write(root.path().join("secret.bin"), [0u8; 8]).expect("secret");
    let path = write(
        &models,
        "outside.onnx",
        vec![node("add", "Add", &["x", "w"], "y")],
        vec![outside],
    );
    let e = refused(&dir, &path, &[]);
    assert!(
        e.contains("\"../secret.bin\" is outside the model's folder"),
        "{e}"
    );

    let path = write(
        &models,
        "cycle.onnx",
        vec![
            node("a", "Add", &["x", "b"], "a"),
            node("b", "Relu", &["a"], "b"),
            node("c", "Relu", &["b"], "y"),
        ],
        vec![],
    );
    let e = refused(&dir, &path, &[]);
    assert!(e.contains("cycle") && e.contains("\"a\" (Add)"), "{e}");

    let path = write(
        &models,
        "twice.onnx",
        vec![
            node("a", "Relu", &["x"], "y"),
            node("b", "Sigmoid", &["x"], "y"),
        ],
        vec![],
    );
    let e = refused(&dir, &path, &[]);
    assert!(e.contains("\"y\" is already produced by node \"a\""), "{e}");

    let path = write(
        &models,
        "unsupported.onnx",
        vec![
            node("n1", "RoiAlign", &["x"], "t"),
            node("n2", "NonMaxSuppression", &["t"], "y"),
        ],
        vec![],
    );
    let e = refused(&dir, &path, &[]);
    assert!(
        e.contains("RoiAlign (node \"n1\", opset 13)")
            && e.contains("NonMaxSuppression (node \"n2\", opset 13)"),
        "{e}"
    );
}

/// The classifier with its weights moved to a data file beside the model
/// (ONNX external data, as models over 2 GB are stored): the package is the
/// same, its provenance lists the data file, and it matches ONNX Runtime.
#[test]
fn external_data_models_import_with_the_data_file_in_the_provenance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bytes = std::fs::read(fixtures().join("tiny_classifier.onnx")).expect("fixture");
    let mut model = ModelProto::decode(bytes.as_slice()).expect("decode");
    let mut data = Vec::new();
    for tensor in &mut model.graph.as_mut().expect("graph").initializer {
        let raw = tensor.raw_data.take().expect("raw data");
        // 64-byte alignment as onnx's own writer does.
        data.resize(data.len().next_multiple_of(64), 0);
        let entry = |k: &str, v: String| StringStringEntryProto {
            key: Some(k.into()),
            value: Some(v),
        };
        tensor.external_data = vec![
            entry("location", "weights/tiny.bin".into()),
            entry("offset", data.len().to_string()),
            entry("length", raw.len().to_string()),
        ];
        tensor.data_location = Some(1);
        data.extend_from_slice(&raw);
    }
    std::fs::create_dir(dir.path().join("weights")).expect("mkdir");
    std::fs::write(dir.path().join("weights/tiny.bin"), &data).expect("data");
    let onnx = dir.path().join("tiny_external.onnx");
    std::fs::write(&onnx, model.encode_to_vec()).expect("model");
    assert!(
        std::fs::metadata(&onnx).expect("meta").len() < 1024,
        "weights left inside"
    );

    let out = dir.path().join("pkg");
    import(&onnx, &out, &[]).ok();
    let manifest = std::fs::read_to_string(out.join("zoo.toml")).expect("zoo.toml");
    assert!(
        manifest.contains("file = \"tiny_external.onnx\"")
            && manifest.contains("file = \"weights/tiny.bin\""),
        "{manifest}"
    );
    std::fs::copy(
        fixtures().join("tiny_classifier.npz"),
        out.join("golden.npz"),
    )
    .expect("copy");
    run_command(zoo().arg("verify").arg(&out)).ok();

    // A data file shorter than the tensors it holds is refused by name.
    std::fs::write(dir.path().join("weights/tiny.bin"), &data[..data.len() - 4]).expect("truncate");
    let again = dir.path().join("again");
    std::fs::create_dir(&again).expect("mkdir");
    let e = refused(&again, &onnx, &[]);
    assert!(
        e.contains("tensor \"b2\"") && e.contains("weights/tiny.bin"),
        "{e}"
    );
}

/// Where `cargo xtask test` leaves the large fixtures (as zoo-onnx's
/// tests find them).
fn large_fixtures_dir() -> PathBuf {
    std::env::var_os("ZOO_ONNX_LARGE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/onnx-fixtures"))
}

/// Every large fixture but the 531 MB VGG-11, through the package path
/// (safetensors written, read back by name, golden run), checked against
/// ONNX Runtime by `zoo verify` on the fixture's own input and output.
/// The PaddleOCR models from the rapidocr-onnxruntime wheel take images of
/// any height or width, but not of every size (the detector's feature
/// pyramid wants multiples of 32, the recogniser pools a minimum width), so
/// the import finds a golden input size they run at; ShuffleNet's layers
/// are named `/stage2/…` and keep the leading `/` in the weights file;
/// `resnet18_dynamo` is torch's default export (weights in a data file).
#[test]
fn pretrained_and_torchvision_models_import_and_match_onnx_runtime() {
    let large = large_fixtures_dir();
    let dir = tempfile::tempdir().expect("tempdir");
    let models = [
        "realworld/ch_PP-OCRv4_det_infer",
        "realworld/ch_PP-OCRv4_rec_infer",
        "realworld/ch_ppocr_mobile_v2.0_cls_infer",
        "resnet18",
        "squeezenet1_1",
        "mobilenet_v3_small",
        "densenet121",
        "efficientnet_b0",
        "shufflenet_v2_x1_0",
        "resnet18_dynamo",
        "swin_t",
        "maxvit_t",
        "lraspp_mobilenet_v3_large",
    ];
    for name in models {
        let model = large.join(format!("{name}.onnx"));
        assert!(
            model.is_file(),
            "{} is missing: run `cargo xtask fixtures onnx-large` (cargo xtask test does)",
            model.display()
        );
        let out = dir.path().join(name.replace('/', "-"));
        import(&model, &out, &["--quiet"]).ok();
        let golden = zoo_nn::params::read_npz(out.join("golden.npz")).expect("golden.npz");
        let x = golden
            .iter()
            .find(|(k, _)| k.starts_with("inputs/"))
            .map(|(_, t)| t.size())
            .expect("an input");
        assert_eq!((x.len(), x[0], x[1]), (4, 1, 3), "{name}: {x:?}");
        run_command(zoo().arg("verify").arg(&out)).ok();
        std::fs::copy(large.join(format!("{name}.npz")), out.join("golden.npz")).expect("copy");
        let verified = run_command(zoo().arg("verify").arg(&out)).ok();
        assert!(
            verified.contains("max relative difference"),
            "{name}: {verified}"
        );
        std::fs::remove_dir_all(&out).expect("remove");
    }
}

/// Log, Sqrt and Pow give NaN on the negative values of a golden input;
/// the package still verifies (NaN where NaN was recorded is the same
/// answer), against its own golden file and against ONNX Runtime's.
#[test]
fn golden_outputs_with_nan_verify() {
    let ops = Path::new(env!("CARGO_MANIFEST_DIR")).join("../zoo-onnx/tests/fixtures/ops");
    let dir = tempfile::tempdir().expect("tempdir");
    for name in ["log", "sqrt", "pow_tensor"] {
        let out = dir.path().join(name);
        import(&ops.join(format!("{name}.onnx")), &out, &["--quiet"]).ok();
        let golden = zoo_nn::params::read_npz(out.join("golden.npz")).expect("golden.npz");
        let y = golden
            .iter()
            .find(|(k, _)| k.starts_with("outputs/"))
            .expect("an output");
        assert!(
            y.1.isnan().any().int64_value(&[]) != 0,
            "{name}: the golden input no longer gives NaN"
        );
        run_command(zoo().arg("verify").arg(&out)).ok();
        std::fs::copy(ops.join(format!("{name}.npz")), out.join("golden.npz")).expect("copy");
        run_command(zoo().arg("verify").arg(&out)).ok();
    }
}

/// An initializer of ONNX type `data_type` holding `bytes` as raw data.
fn raw_tensor(name: &str, dims: &[i64], data_type: i32, bytes: Vec<u8>) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(data_type),
        raw_data: Some(bytes.into()),
        ..Default::default()
    }
}

/// Rewrites the model at `path` with its first input typed `elem_type`
/// and the given dimensions (names free).
fn type_first_input(path: &Path, elem_type: i32, dims: &[Result<i64, &str>]) {
    use zoo_onnx::proto::{Dimension, TensorShapeProto, TypeProto, TypeProtoTensor};
    let mut model =
        ModelProto::decode(std::fs::read(path).expect("read").as_slice()).expect("decode");
    let dim = |d: &Result<i64, &str>| match d {
        Ok(v) => Dimension {
            dim_value: Some(*v),
            ..Default::default()
        },
        Err(p) => Dimension {
            dim_param: Some(p.to_string()),
            ..Default::default()
        },
    };
    model.graph.as_mut().expect("graph").input[0].r#type = Some(TypeProto {
        tensor_type: Some(TypeProtoTensor {
            elem_type: Some(elem_type),
            shape: Some(TensorShapeProto {
                dim: dims.iter().map(dim).collect(),
            }),
        }),
        denotation: None,
    });
    std::fs::write(path, model.encode_to_vec()).expect("write");
}

/// A graph that runs at no size of its free dimensions is refused, naming
/// the sizes tried and the option that fixes them, and leaves nothing
/// behind; `--input-shape` gives the size it runs at, or `--golden-input`
/// a real input (both checked against the model's inputs first).
#[test]
fn graphs_that_run_at_no_golden_size_are_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("work");
    std::fs::create_dir(&dir).expect("mkdir");
    let shape = raw_tensor(
        "shape",
        &[2],
        7,
        [1i64, 7].iter().flat_map(|v| v.to_le_bytes()).collect(),
    );
    let path = write(
        root.path(),
        "seven.onnx",
        vec![node("reshape", "Reshape", &["x", "shape"], "y")],
        vec![shape],
    );
    type_first_input(&path, 1, &[Err("n"), Err("length")]);
    let e = refused(&dir, &path, &[]);
    assert!(
        e.contains("seven.onnx")
            && e.contains("size tried for its free dimensions (16, 32, 64, 128, 256, 512)")
            && e.contains("--input-shape NAME=D,D,…"),
        "{e}"
    );
    for (given, expected) in [
        ("y=1,7", "the model has no input \"y\" (its inputs: x)"),
        ("x=1,7,1", "does not fit the model's shape [-1, -1]"),
    ] {
        let e = refused(&dir, &path, &["--input-shape", given]);
        assert!(e.contains(expected), "{given}: {e}");
    }
    let out = dir.join("seven");
    import(&path, &out, &["--input-shape", "x=-1,7", "--quiet"]).ok();
    let toml = std::fs::read_to_string(out.join("zoo.toml")).expect("zoo.toml");
    assert!(toml.contains("shape = [-1, 7]"), "{toml}");
    run_command(zoo().arg("verify").arg(&out)).ok();

    // Or a real golden input, the shape staying free.
    let npy = root.path().join("seven.npy");
    zoo_nn::params::write_npy(
        &npy,
        &tch::Tensor::arange(7, (tch::Kind::Float, tch::Device::Cpu)).reshape([1, 7]),
    )
    .expect("npy");
    let given = format!("x={}", npy.display());
    for (given, expected) in [
        (
            format!("y={}", npy.display()),
            "golden input is given for \"y\", which is not an input",
        ),
        ("x=missing.npy".to_string(), "missing.npy"),
    ] {
        let e = refused(&dir, &path, &["--golden-input", &given]);
        assert!(e.contains(expected), "{given}: {e}");
    }
    let out = dir.join("seven-given");
    import(&path, &out, &["--golden-input", &given, "--quiet"]).ok();
    let toml = std::fs::read_to_string(out.join("zoo.toml")).expect("zoo.toml");
    assert!(toml.contains("shape = [-1, -1]"), "{toml}");
    let golden = zoo_nn::params::read_npz(out.join("golden.npz")).expect("golden.npz");
    let x = &golden.iter().find(|(k, _)| k == "inputs/x").expect("x").1;
    assert_eq!(x.size(), [1, 7]);
    run_command(zoo().arg("verify").arg(&out)).ok();
}

/// Integer inputs (token ids) keep their type in zoo.toml, and the golden
/// input gives them whole numbers.
#[test]
fn integer_inputs_are_int64_in_the_manifest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let table = raw_tensor(
        "table",
        &[10, 4],
        1,
        (0..40).flat_map(|v| (v as f32).to_le_bytes()).collect(),
    );
    let path = write(
        dir.path(),
        "embed.onnx",
        vec![node("embed", "Gather", &["table", "x"], "y")],
        vec![table],
    );
    type_first_input(&path, 7, &[Err("n"), Ok(3)]);
    let out = dir.path().join("embed");
    import(&path, &out, &["--quiet"]).ok();
    let toml = std::fs::read_to_string(out.join("zoo.toml")).expect("zoo.toml");
    assert!(toml.contains("dtype = \"i64\""), "{toml}");
    let golden = zoo_nn::params::read_npz(out.join("golden.npz")).expect("golden.npz");
    let x = &golden.iter().find(|(k, _)| k == "inputs/x").expect("x").1;
    assert_eq!(x.kind(), tch::Kind::Int64);
    run_command(zoo().arg("verify").arg(&out)).ok();

    // `zoo run --input` shows an output's type, range, mean and (few)
    // values: rows 1 to 3 of the table hold 4 to 15.
    let ids = dir.path().join("ids.npy");
    zoo_nn::params::write_npy(
        &ids,
        &tch::Tensor::from_slice(&[1i64, 2, 3]).reshape([1, 3]),
    )
    .expect("npy");
    let given = format!("x={}", ids.display());
    let text = run_command(zoo().arg("run").arg(&out).args(["--input", &given])).ok();
    assert!(
        text.contains(
            "y: shape [1, 3, 4] f32, min 4.000000 max 15.000000 mean 9.500000: [4.000000, 5.000000,"
        ),
        "{text}"
    );
    let json = run_command(
        zoo()
            .arg("run")
            .arg(&out)
            .args(["--input", &given, "--json"]),
    )
    .ok();
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    let y = &value["outputs"][0];
    assert_eq!(y["dtype"], "f32", "{value}");
    assert_eq!(y["values"].as_array().map(Vec::len), Some(12), "{value}");
    assert_eq!(y["max"], 15.0, "{value}");
}

/// A one-channel classifier (MNIST's kind of input): `--mean` and `--std`
/// take one value, kept as one, and `zoo run` feeds each image's luma; three
/// values are refused, naming the input and writing nothing.
#[test]
fn one_channel_classifiers_take_one_mean_and_run_on_the_luma() {
    let dir = tempfile::tempdir().expect("tempdir");
    let floats = |values: &[f32]| values.iter().flat_map(|v| v.to_le_bytes()).collect();
    // logits = [m, −m] for m the image's mean after --mean and --std.
    let model = write(
        dir.path(),
        "gray.onnx",
        vec![
            node("pool", "GlobalAveragePool", &["x"], "pooled"),
            node("flat", "Flatten", &["pooled"], "flat"),
            node("fc", "Gemm", &["flat", "W", "B"], "y"),
        ],
        vec![
            raw_tensor("W", &[1, 2], 1, floats(&[1.0, -1.0])),
            raw_tensor("B", &[2], 1, floats(&[0.0, 0.0])),
        ],
    );
    type_first_input(&model, 1, &[Err("N"), Ok(1), Ok(8), Ok(8)]);
    let labels = dir.path().join("labels.txt");
    std::fs::write(&labels, "light\ndark\n").expect("labels");
    let labels = labels.to_str().expect("utf-8 path");

    let stderr = refused(dir.path(), &model, &["--labels", labels, "--mean", "1,2,3"]);
    assert!(
        stderr.contains("\"x\" has one channel") && stderr.contains("1 value"),
        "{stderr}"
    );

    let out = dir.path().join("gray");
    let result = import(
        &model,
        &out,
        &["--labels", labels, "--mean", "100", "--std", "2"],
    );
    assert!(result.success, "{}", result.stderr);
    let written = manifest(&out);
    let pre = model_section(&written).inputs[0]
        .preprocess
        .clone()
        .expect("preprocess");
    assert_eq!((pre.mean, pre.std), (vec![100.0], vec![2.0]));

    // Colour images of another size: resized, turned to luma (ITU-R 601:
    // 200 and 25 here), labelled by it.
    let mut images = Vec::new();
    for (name, rgb) in [("pale.png", [200u8, 210, 150]), ("deep.png", [40, 10, 60])] {
        let path = dir.path().join(name);
        image::RgbImage::from_pixel(20, 12, image::Rgb(rgb))
            .save(&path)
            .expect("png");
        images.push(path);
    }
    let json = run_command(zoo().arg("run").arg(&out).args(&images).arg("--json")).ok();
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(value[0]["top"][0]["label"], "light", "{value}");
    assert_eq!(value[1]["top"][0]["label"], "dark", "{value}");
}

fn vgg_mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/vgg-mini")
}

fn manifest(dir: &Path) -> zoo_format::manifest::Manifest {
    let path = dir.join("zoo.toml");
    let text = std::fs::read_to_string(&path).expect("zoo.toml");
    zoo_format::manifest::Manifest::from_toml_str_named(&text, &path.display().to_string())
        .expect("a valid manifest")
}

fn model_section(m: &zoo_format::manifest::Manifest) -> &zoo_format::manifest::ModelSection {
    m.model.as_ref().expect("a model package")
}

/// `--like models/vgg-mini` (a built-in package whose input, 32×32 RGB with
/// 10 classes, is the tiny classifier's): the package is the imported graph
/// with vgg-mini's preprocessing, labels, task and card, and `zoo run`
/// names vgg-mini's classes; explicit options override what --like gives.
#[test]
fn like_takes_preprocessing_labels_task_and_card_from_a_package() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tiny = fixtures().join("tiny_classifier.onnx");
    let like = manifest(&vgg_mini());
    let like_input = &model_section(&like).inputs[0];
    let like_pre = like_input
        .preprocess
        .clone()
        .expect("vgg-mini's preprocessing");

    let out = dir.path().join("like");
    import(
        &tiny,
        &out,
        &["--like", vgg_mini().to_str().expect("utf-8")],
    )
    .ok();
    let m = manifest(&out);
    let section = model_section(&m);
    assert!(
        matches!(
            section.architecture,
            zoo_format::manifest::Architecture::Graph { .. }
        ),
        "the architecture stays the imported graph: {:?}",
        section.architecture
    );
    assert!(out.join("graph.json").is_file());
    assert_eq!(section.inputs[0].preprocess.as_ref(), Some(&like_pre));
    assert_eq!(section.task, Some(zoo_format::manifest::Task::Classify));
    assert_eq!(section.outputs[0].labels.as_deref(), Some("labels.txt"));
    assert_eq!(
        std::fs::read_to_string(out.join("labels.txt")).expect("labels"),
        std::fs::read_to_string(vgg_mini().join("labels.txt")).expect("vgg-mini labels")
    );
    // Not vgg-mini's name: the package is another model.
    assert_eq!(m.package.name, "tiny-classifier");
    let card = std::fs::read_to_string(out.join("README.md")).expect("card");
    let like_card = std::fs::read_to_string(vgg_mini().join("README.md")).expect("vgg-mini card");
    assert!(card.starts_with(like_card.trim_end()), "{card}");
    assert!(
        card.contains("zoo import onnx --like")
            && card.contains("tiny_classifier.onnx")
            && card.contains("zoo-onnx"),
        "{card}"
    );
    let photo = vgg_mini().join("examples/0-diamond.png");
    let json = run_command(zoo().arg("run").arg(&out).arg(&photo).arg("--json")).ok();
    let value: serde_json::Value = serde_json::from_str(&json).expect("json");
    let names: Vec<String> = std::fs::read_to_string(vgg_mini().join("labels.txt"))
        .expect("labels")
        .lines()
        .map(str::to_string)
        .collect();
    let top = value[0]["top"].as_array().expect("top");
    assert_eq!(top.len(), 5, "{value}");
    assert!(
        top.iter().all(|t| t["label"]
            .as_str()
            .is_some_and(|l| names.iter().any(|n| n == l))),
        "{value}"
    );

    // Explicit options win over --like, field by field.
    let own = dir.path().join("own.txt");
    std::fs::write(
        &own,
        (0..10).map(|i| format!("own-{i}\n")).collect::<String>(),
    )
    .expect("labels");
    let out = dir.path().join("override");
    import(
        &tiny,
        &out,
        &[
            "--like",
            vgg_mini().to_str().expect("utf-8"),
            "--std",
            "2,3,4",
            "--scale",
            "1",
            "--labels",
            own.to_str().expect("utf-8"),
        ],
    )
    .ok();
    let m = manifest(&out);
    let pre = model_section(&m).inputs[0]
        .preprocess
        .clone()
        .expect("preprocessing");
    assert_eq!(pre.std, vec![2.0, 3.0, 4.0]);
    assert_eq!(pre.scale, 1.0);
    assert_eq!(pre.mean, like_pre.mean, "the mean still comes from --like");
    assert_eq!(pre.channel_order, like_pre.channel_order);
    assert_eq!(
        std::fs::read_to_string(out.join("labels.txt")).expect("labels"),
        std::fs::read_to_string(&own).expect("own labels")
    );
}

#[test]
fn like_folders_that_are_not_packages_or_whose_labels_do_not_fit_are_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("work");
    std::fs::create_dir(&dir).expect("mkdir");
    let tiny = fixtures().join("tiny_classifier.onnx");

    // vgg-mini's metadata with 9 labels: the model has 10 classes.
    let nine = root.path().join("nine-labels");
    std::fs::create_dir(&nine).expect("mkdir");
    for file in ["zoo.toml", "README.md"] {
        std::fs::copy(vgg_mini().join(file), nine.join(file)).expect("copy");
    }
    std::fs::write(
        nine.join("labels.txt"),
        (0..9).map(|i| format!("l{i}\n")).collect::<String>(),
    )
    .expect("labels");
    let e = refused(&dir, &tiny, &["--like", nine.to_str().expect("utf-8")]);
    let labels = nine.join("labels.txt");
    assert!(
        e.contains(&format!("--like {}", nine.display()))
            && e.contains(labels.to_str().expect("utf-8"))
            && e.contains("9 labels")
            && e.contains("10 outputs"),
        "{e}"
    );

    // An empty folder, a missing one, and a package without [model].
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    let e = refused(&dir, &tiny, &["--like", empty.to_str().expect("utf-8")]);
    assert!(
        e.contains(&format!("--like {}: not a model package", empty.display()))
            && e.contains("zoo.toml is missing"),
        "{e}"
    );
    let missing = root.path().join("missing");
    let e = refused(&dir, &tiny, &["--like", missing.to_str().expect("utf-8")]);
    assert!(
        e.contains(&format!(
            "--like {}: not a model package",
            missing.display()
        )) && e.contains("no such folder"),
        "{e}"
    );
    let link = root.path().join("link");
    std::fs::create_dir(&link).expect("mkdir");
    std::fs::write(
        link.join("zoo.toml"),
        "[package]\nname = \"some-link\"\nversion = \"0.1.0\"\nkind = \"link\"\n\
         description = \"a link\"\nlicense = \"MIT\"\n",
    )
    .expect("zoo.toml");
    let e = refused(&dir, &tiny, &["--like", link.to_str().expect("utf-8")]);
    assert!(
        e.contains(&format!("--like {}: not a model package", link.display()))
            && e.contains("no [model] section"),
        "{e}"
    );
}

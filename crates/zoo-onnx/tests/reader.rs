//! The reader on models built here with the crate's own messages: what it
//! returns for good files, and the clear errors hostile ones get.

use std::path::Path;

use bytes::Bytes;
use prost::Message;
use zoo_onnx::proto::{
    DataLocation, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, ValueInfoProto,
};
use zoo_onnx::{DataType, Model, OnnxError};

fn tensor(name: &str, dims: &[i64], values: &[f32]) -> TensorProto {
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        raw_data: Some(
            values
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect::<Vec<u8>>()
                .into(),
        ),
        ..Default::default()
    }
}

fn node(name: &str, op: &str, inputs: &[&str], outputs: &[&str]) -> NodeProto {
    NodeProto {
        name: Some(name.into()),
        op_type: Some(op.into()),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: outputs.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn info(name: &str) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        ..Default::default()
    }
}

/// x → Add(x, w) → y, with w an initializer.
fn model(nodes: Vec<NodeProto>, initializers: Vec<TensorProto>) -> ModelProto {
    ModelProto {
        ir_version: Some(8),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(13),
        }],
        producer_name: Some("test".into()),
        graph: Some(GraphProto {
            name: Some("g".into()),
            node: nodes,
            initializer: initializers,
            input: vec![info("x")],
            output: vec![info("y")],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn simple() -> ModelProto {
    model(
        vec![node("add", "Add", &["x", "w"], &["y"])],
        vec![tensor("w", &[2, 2], &[1.0, 2.0, 3.0, 4.0])],
    )
}

fn read(m: &ModelProto) -> Result<Model, OnnxError> {
    Model::from_bytes(Bytes::from(m.encode_to_vec()), None)
}

fn err(m: &ModelProto) -> String {
    match read(m) {
        Ok(_) => panic!("the model was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn reads_opsets_inputs_and_initializers() {
    let model = read(&simple()).expect("model");
    assert_eq!(model.opset(), 13);
    assert_eq!(model.producer, "test");
    assert_eq!(model.graph.inputs.len(), 1);
    let w = &model.graph.initializers["w"];
    assert_eq!(w.dims, vec![2, 2]);
    assert_eq!(w.to_f32().expect("f32"), vec![1.0, 2.0, 3.0, 4.0]);
}

#[test]
fn raw_data_is_borrowed_from_the_buffer_not_copied() {
    let values: Vec<f32> = (0..100_000).map(|i| i as f32).collect();
    let m = model(
        vec![node("add", "Add", &["x", "w"], &["y"])],
        vec![tensor("w", &[100_000], &values)],
    );
    let buffer = Bytes::from(m.encode_to_vec());
    let range = buffer.as_ptr_range();
    let model = Model::from_bytes(buffer.clone(), None).expect("model");
    let data = &model.graph.initializers["w"].data;
    assert!(range.contains(&data.as_ptr()), "raw_data was copied");
    assert_eq!(model.graph.initializers["w"].to_f32().expect("f32"), values);
}

#[test]
fn typed_data_fields_are_read_and_counted() {
    let mut w = tensor("w", &[3], &[]);
    w.raw_data = None;
    w.float_data = vec![1.5, 2.5, 3.5];
    let m = model(
        vec![node("add", "Add", &["x", "w"], &["y"])],
        vec![w.clone()],
    );
    assert_eq!(
        read(&m).expect("model").graph.initializers["w"]
            .to_f32()
            .expect("f32"),
        vec![1.5, 2.5, 3.5]
    );
    w.float_data.pop();
    let m = model(vec![node("add", "Add", &["x", "w"], &["y"])], vec![w]);
    let e = err(&m);
    assert!(
        e.contains("\"w\"") && e.contains("3 values") && e.contains("stores 2"),
        "{e}"
    );
}

#[test]
fn a_huge_declared_tensor_is_refused_against_its_bytes() {
    let mut m = simple();
    let w = &mut m.graph.as_mut().expect("graph").initializer[0];
    w.dims = vec![1 << 30, 1 << 20];
    let e = err(&m);
    assert!(
        e.contains("tensor \"w\"") && e.contains("raw_data has 16 bytes"),
        "{e}"
    );
    let w = &mut m.graph.as_mut().expect("graph").initializer[0];
    w.dims = vec![i64::MAX, i64::MAX];
    let e = err(&m);
    assert!(e.contains("tensor \"w\"") && e.contains("overflow"), "{e}");
    let w = &mut m.graph.as_mut().expect("graph").initializer[0];
    w.dims = vec![-1, 4];
    assert!(err(&m).contains("negative dimension"));
}

#[test]
fn a_tensor_named_twice_is_refused() {
    let m = model(
        vec![node("add", "Add", &["x", "w"], &["y"])],
        vec![tensor("w", &[1], &[1.0]), tensor("w", &[1], &[2.0])],
    );
    let e = err(&m);
    assert!(
        e.contains("tensor \"w\"") && e.contains("named twice"),
        "{e}"
    );

    let m = model(
        vec![
            node("a", "Relu", &["x"], &["y"]),
            node("b", "Relu", &["x"], &["y"]),
        ],
        vec![],
    );
    let e = err(&m);
    assert!(
        e.contains("node \"b\" (Relu)") && e.contains("already produced by node \"a\""),
        "{e}"
    );

    let m = model(vec![node("a", "Relu", &["x"], &["x"])], vec![]);
    let e = err(&m);
    assert!(
        e.contains("node \"a\"") && e.contains("a graph input"),
        "{e}"
    );
}

#[test]
fn a_cycle_in_the_graph_is_refused_naming_its_nodes() {
    let m = model(
        vec![
            node("first", "Add", &["x", "b"], &["a"]),
            node("second", "Relu", &["a"], &["b"]),
            node("out", "Relu", &["b"], &["y"]),
        ],
        vec![],
    );
    let e = err(&m);
    assert!(
        e.contains("cycle") && e.contains("\"first\"") && e.contains("\"second\""),
        "{e}"
    );
}

#[test]
fn nodes_out_of_order_are_sorted_and_undefined_inputs_refused() {
    let m = model(
        vec![
            node("late", "Relu", &["a"], &["y"]),
            node("early", "Relu", &["x"], &["a"]),
        ],
        vec![],
    );
    let names: Vec<String> = read(&m)
        .expect("model")
        .graph
        .nodes
        .into_iter()
        .map(|n| n.name)
        .collect();
    assert_eq!(names, ["early", "late"]);

    let m = model(vec![node("n", "Add", &["x", "nowhere"], &["y"])], vec![]);
    let e = err(&m);
    assert!(
        e.contains("node \"n\" (Add)") && e.contains("\"nowhere\""),
        "{e}"
    );

    let mut m = simple();
    m.graph.as_mut().expect("graph").output = vec![info("missing")];
    assert!(err(&m).contains("\"missing\""));
}

#[test]
fn unnamed_nodes_get_a_name_from_type_and_position() {
    let m = model(vec![node("", "Relu", &["x"], &["y"])], vec![]);
    assert_eq!(read(&m).expect("model").graph.nodes[0].name, "Relu_0");
}

#[test]
fn missing_default_opset_or_graph_and_garbage_are_errors() {
    let mut m = simple();
    m.opset_import.clear();
    assert!(err(&m).contains("opset_import"));
    let mut m = simple();
    m.graph = None;
    assert!(err(&m).contains("no graph"));
    let e = Model::from_bytes(Bytes::from_static(b"\xff\xff\xff\xff garbage"), None)
        .expect_err("garbage");
    assert!(e.to_string().contains("not an ONNX model"), "{e}");
}

fn external(
    name: &str,
    dims: &[i64],
    location: &str,
    offset: usize,
    length: Option<usize>,
) -> TensorProto {
    let mut entries = vec![
        ("location", location.to_owned()),
        ("offset", offset.to_string()),
    ];
    if let Some(l) = length {
        entries.push(("length", l.to_string()));
    }
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(DataType::Float as i32),
        data_location: Some(DataLocation::External as i32),
        external_data: entries
            .into_iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.into()),
                value: Some(v),
            })
            .collect(),
        ..Default::default()
    }
}

fn write_model(dir: &Path, m: &ModelProto) -> std::path::PathBuf {
    let path = dir.join("model.onnx");
    std::fs::write(&path, m.encode_to_vec()).expect("write");
    path
}

fn open_err(path: &Path) -> String {
    match Model::open(path) {
        Ok(_) => panic!("the model was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn external_data_is_read_from_the_models_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bytes = vec![0u8; 8];
    for v in [1.0f32, 2.0, 3.0, 4.0] {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::create_dir(dir.path().join("data")).expect("mkdir");
    std::fs::write(dir.path().join("data/weights.bin"), &bytes).expect("write");
    let m = model(
        vec![node("add", "Add", &["x", "w"], &["y"])],
        vec![external("w", &[2, 2], "data/weights.bin", 8, Some(16))],
    );
    let path = write_model(dir.path(), &m);
    let model = Model::open(&path).expect("model");
    assert_eq!(
        model.graph.initializers["w"].to_f32().expect("f32"),
        vec![1.0, 2.0, 3.0, 4.0]
    );

    // Lengths are checked against the declared shape and the file.
    let m = model_with(external("w", &[2, 2], "data/weights.bin", 16, None));
    let e = open_err(&write_model(dir.path(), &m));
    assert!(
        e.contains("model.onnx") && e.contains("tensor \"w\"") && e.contains("24 bytes"),
        "{e}"
    );
    let m = model_with(external("w", &[2, 2], "data/weights.bin", 0, Some(12)));
    let e = open_err(&write_model(dir.path(), &m));
    assert!(e.contains("length is 12"), "{e}");
    let m = model_with(external("w", &[2, 2], "data/absent.bin", 0, None));
    let e = open_err(&write_model(dir.path(), &m));
    assert!(
        e.contains("tensor \"w\"") && e.contains("absent.bin"),
        "{e}"
    );

    // From memory there is no folder to read from.
    let m = model_with(external("w", &[2, 2], "data/weights.bin", 8, None));
    assert!(err(&m).contains("needs the model's folder"));
}

fn model_with(w: TensorProto) -> ModelProto {
    model(vec![node("add", "Add", &["x", "w"], &["y"])], vec![w])
}

#[test]
fn external_data_outside_the_models_folder_is_refused() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = root.path().join("model");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(root.path().join("secret.bin"), [0u8; 16]).expect("write");
    for location in ["../secret.bin", "/etc/passwd", "data/../../secret.bin"] {
        let m = model_with(external("w", &[2, 2], location, 0, None));
        let e = open_err(&write_model(&dir, &m));
        assert!(
            e.contains("tensor \"w\"") && e.contains("outside the model's folder"),
            "{location}: {e}"
        );
    }
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(root.path().join("secret.bin"), dir.join("link.bin"))
            .expect("symlink");
        let m = model_with(external("w", &[2, 2], "link.bin", 0, None));
        let e = open_err(&write_model(&dir, &m));
        assert!(e.contains("outside the model's folder"), "{e}");
    }
}

#[test]
fn attribute_tensors_are_checked_like_initializers() {
    let mut constant = node("c", "Constant", &[], &["y"]);
    let mut value = tensor("", &[1 << 20], &[1.0]);
    value.name = Some("value".into());
    constant.attribute.push(zoo_onnx::proto::AttributeProto {
        name: Some("value".into()),
        r#type: Some(zoo_onnx::proto::AttributeType::Tensor as i32),
        t: Some(value),
        ..Default::default()
    });
    let m = model(vec![constant], vec![]);
    let e = err(&m);
    assert!(
        e.contains("tensor \"value\"") && e.contains("raw_data has 4 bytes"),
        "{e}"
    );
}

/// Every committed fixture (onnx.helper and torch.onnx.export files) reads,
/// with the opset its name states where it states one.
#[test]
fn every_committed_fixture_reads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops");
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).expect("fixtures") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "onnx") {
            continue;
        }
        let model = Model::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if let Some(opset) = stem.rsplit('_').next().and_then(|s| s.parse::<i64>().ok()) {
            assert_eq!(model.opset(), opset, "{stem}");
        }
        assert!(!model.graph.nodes.is_empty(), "{stem}");
        count += 1;
    }
    assert!(count >= 100, "only {count} fixtures");
}

#[test]
fn a_folder_or_an_empty_file_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let folder = Model::open(dir.path()).unwrap_err().to_string();
    assert!(
        folder.contains("is a folder; give the .onnx file"),
        "{folder}"
    );
    let empty = dir.path().join("empty.onnx");
    std::fs::write(&empty, b"").unwrap();
    let text = Model::open(&empty).unwrap_err().to_string();
    assert!(
        text.contains("empty.onnx") && text.contains("the file is empty"),
        "{text}"
    );
}

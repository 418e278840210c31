//! Converted models against ONNX Runtime: every committed per-operator and
//! sequence fixture (tests/fixtures/ops), and the torchvision models that
//! `cargo xtask test` generates (`ZOO_ONNX_LARGE_FIXTURES`, else
//! `.cache/onnx-fixtures`), each output within 1e-4 max relative difference
//! (max|a−b| / max|b|) of ONNX Runtime's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tch::{Device, Tensor};
use zoo_nn::Model as _;
use zoo_nn::graph::GraphModel;
use zoo_onnx::Model;
use zoo_onnx::convert::{convert, torch_tensors};

const TOLERANCE: f64 = 1e-4;

fn relative(actual: &Tensor, expected: &Tensor) -> f64 {
    let a = actual.to_kind(tch::Kind::Double);
    let b = expected.to_kind(tch::Kind::Double);
    if a.size() != b.size() {
        return f64::INFINITY;
    }
    let diff = (&a - &b).abs().max().double_value(&[]);
    let scale = b.abs().max().double_value(&[]);
    let r = if scale > 0.0 { diff / scale } else { diff };
    if r.is_nan() { f64::INFINITY } else { r }
}

/// Converts `onnx`, runs it on the npz inputs and returns each output's
/// max relative difference to ONNX Runtime's.
fn check(onnx: &Path) -> Result<Vec<(String, f64)>, String> {
    check_model(onnx, Model::open(onnx).map_err(|e| e.to_string())?)
}

/// [`check`] for a model already read (`onnx` names its npz).
fn check_model(onnx: &Path, model: Model) -> Result<Vec<(String, f64)>, String> {
    let converted = convert(&model).map_err(|e| e.to_string())?;
    let tensors: HashMap<String, Tensor> = torch_tensors(&converted)
        .map_err(|e| e.to_string())?
        .into_iter()
        .collect();
    let graph =
        GraphModel::from_parts(converted.graph, tensors, Device::Cpu).map_err(|e| e.to_string())?;
    let arrays = zoo_nn::params::read_npz(onnx.with_extension("npz")).map_err(|e| e.to_string())?;
    let inputs: Vec<(String, Tensor)> = arrays
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("inputs/")?.to_owned(), v.shallow_clone())))
        .collect();
    let expected: Vec<(String, Tensor)> = arrays
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("outputs/")?.to_owned(), v.shallow_clone())))
        .collect();
    let names: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
    let outputs = graph.run(&inputs, &names).map_err(|e| e.to_string())?;
    Ok(outputs
        .iter()
        .zip(&expected)
        .map(|((name, actual), (_, want))| (name.clone(), relative(actual, want)))
        .collect())
}

fn check_all(files: &[PathBuf]) {
    check_all_with(files, check);
}

fn check_all_with(files: &[PathBuf], check: impl Fn(&Path) -> Result<Vec<(String, f64)>, String>) {
    let mut failures = Vec::new();
    for file in files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("?");
        match check(file) {
            Ok(diffs) => {
                let worst = diffs.iter().map(|(_, d)| *d).fold(0.0, f64::max);
                println!("{stem}: max relative difference {worst:.3e}");
                for (name, d) in diffs {
                    if d.is_nan() || d > TOLERANCE {
                        failures.push(format!("{stem}/{name}: {d:.3e}"));
                    }
                }
            }
            Err(e) => failures.push(format!("{stem}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn onnx_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "onnx"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_operator_fixture_matches_onnx_runtime() {
    let files = onnx_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops"));
    assert!(files.len() >= 100, "only {} fixtures", files.len());
    check_all(&files);
}

/// Opset 22 changed no supported operator's meaning (it added types, such
/// as bfloat16): every fixture from opset 13 on, stamped opset 22, still
/// matches ONNX Runtime. (Stamped so, ONNX Runtime 1.32 answers the same;
/// older opsets' forms, such as a reduction's axes attribute, are not valid
/// at 22, and GroupNormalization's per-group scale changed meaning at 21:
/// those are left out.)
#[test]
fn operator_fixtures_stamped_opset_22_match_onnx_runtime() {
    use prost::Message;
    let files: Vec<PathBuf> =
        onnx_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops"))
            .into_iter()
            .filter(|file| {
                let bytes = std::fs::read(file).expect("fixture");
                let proto = zoo_onnx::proto::ModelProto::decode(bytes.as_slice()).expect("decode");
                let opset = proto
                    .opset_import
                    .iter()
                    .filter_map(|o| o.version)
                    .min()
                    .unwrap_or(0);
                // Reductions took axes as an attribute before opset 18;
                // GroupNormalization's scale was per group before 21.
                let changed = proto.graph.iter().flat_map(|g| &g.node).any(|n| {
                    let op = n.op_type.as_deref().unwrap_or("");
                    (op.starts_with("Reduce")
                        && n.attribute
                            .iter()
                            .any(|a| a.name.as_deref() == Some("axes")))
                        || (op == "GroupNormalization" && opset < 21)
                });
                opset >= 13 && !changed
            })
            .collect();
    assert!(
        files.len() >= 90,
        "only {} fixtures from opset 13",
        files.len()
    );
    check_all_with(&files, |file| {
        let bytes = std::fs::read(file).map_err(|e| e.to_string())?;
        let mut proto =
            zoo_onnx::proto::ModelProto::decode(bytes.as_slice()).map_err(|e| e.to_string())?;
        for opset in &mut proto.opset_import {
            opset.version = Some(22);
        }
        let model = Model::from_bytes(proto.encode_to_vec().into(), file.parent())
            .map_err(|e| e.to_string())?;
        assert_eq!(model.opset(), 22);
        check_model(file, model)
    });
}

/// Where the large fixtures are: `ZOO_ONNX_LARGE_FIXTURES`, or
/// `.cache/onnx-fixtures` of the checkout.
fn large_fixtures_dir() -> PathBuf {
    std::env::var_os("ZOO_ONNX_LARGE_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache/onnx-fixtures"))
}

/// The `.onnx` files in `dir`, after checking that each of `wanted` is
/// among them (a missing one fails, naming the command that makes it).
fn large_fixtures(dir: &Path, wanted: &[&str]) -> Vec<PathBuf> {
    let files = onnx_files(dir);
    for name in wanted {
        assert!(
            files
                .iter()
                .any(|f| f.file_stem().is_some_and(|s| s == *name)),
            "{name}.onnx is missing from {}: run `cargo xtask fixtures onnx-large` (cargo xtask test does)",
            dir.display()
        );
    }
    files
}

/// The torchvision models, generated by the test command's set-up (never
/// skipped: without them this test fails, naming the command that makes
/// them); `resnet18_dynamo` as torch's default exporter writes it (opset
/// 18+, external data); Swin and MaxViT (attention: Mod, Range, Einsum,
/// run-time pads) and LR-ASPP (Resize to the input's run-time size).
#[test]
fn torchvision_models_match_onnx_runtime() {
    let wanted = [
        "resnet18",
        "squeezenet1_1",
        "mobilenet_v3_small",
        "resnet18_dynamo",
        "swin_t",
        "maxvit_t",
        "lraspp_mobilenet_v3_large",
    ];
    check_all(&large_fixtures(&large_fixtures_dir(), &wanted));
}

mod refused {
    use bytes::Bytes;
    use prost::Message;
    use zoo_onnx::Model;
    use zoo_onnx::convert::convert;
    use zoo_onnx::proto::{GraphProto, ModelProto, NodeProto, OperatorSetIdProto, ValueInfoProto};

    fn model(opset: i64, nodes: &[(&str, &str, &str)]) -> Model {
        let mut prev = "x".to_string();
        let node = nodes
            .iter()
            .enumerate()
            .map(|(i, (name, op, domain))| {
                let out = if i + 1 == nodes.len() {
                    "y".to_string()
                } else {
                    format!("t{i}")
                };
                let n = NodeProto {
                    name: Some(name.to_string()),
                    op_type: Some(op.to_string()),
                    domain: Some(domain.to_string()),
                    input: vec![prev.clone()],
                    output: vec![out.clone()],
                    ..Default::default()
                };
                prev = out;
                n
            })
            .collect();
        model_of(opset, node)
    }

    /// A model of `node`, reading `x` and answering `y`.
    fn model_of(opset: i64, node: Vec<NodeProto>) -> Model {
        let info = |n: &str| ValueInfoProto {
            name: Some(n.into()),
            ..Default::default()
        };
        let proto = ModelProto {
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(opset),
            }],
            graph: Some(GraphProto {
                node,
                input: vec![info("x")],
                output: vec![info("y")],
                ..Default::default()
            }),
            ..Default::default()
        };
        Model::from_bytes(Bytes::from(proto.encode_to_vec()), None).expect("model")
    }

    #[test]
    fn every_unsupported_operator_is_listed_with_node_and_opset() {
        let m = model(
            13,
            &[
                ("a", "Relu", ""),
                ("roi", "RoiAlign", ""),
                ("loop", "Loop", ""),
                ("custom", "FusedThing", "com.example"),
            ],
        );
        let e = convert(&m).err().expect("refused").to_string();
        for part in [
            "RoiAlign (node \"roi\", opset 13)",
            "Loop (node \"loop\", opset 13)",
            "com.example.FusedThing (node \"custom\", opset 13)",
        ] {
            assert!(e.contains(part), "{part} missing from: {e}");
        }
        assert!(!e.contains("Relu"), "{e}");
    }

    /// An attribute that became an input is refused where the input form
    /// holds (it would otherwise be dropped without a word).
    #[test]
    fn attributes_that_became_inputs_are_refused() {
        use zoo_onnx::proto::AttributeProto;
        let with_axes = |opset: i64, op: &str| {
            let node = NodeProto {
                name: Some("r".into()),
                op_type: Some(op.into()),
                input: vec!["x".into()],
                output: vec!["y".into()],
                attribute: vec![AttributeProto {
                    name: Some("axes".into()),
                    ints: vec![1],
                    r#type: Some(7),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let model = model_of(opset, vec![node]);
            convert(&model)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default()
        };
        let e = with_axes(18, "ReduceMean");
        assert!(
            e.contains("\"r\"") && e.contains("the axes attribute is an input from opset 18 on"),
            "{e}"
        );
        assert!(with_axes(17, "ReduceMean").is_empty());
        let e = with_axes(13, "Unsqueeze");
        assert!(e.contains("from opset 13 on (this model: opset 13)"), "{e}");
    }

    #[test]
    fn opsets_outside_7_to_22_are_refused() {
        for opset in [6, 23] {
            let e = convert(&model(opset, &[("a", "Relu", "")]))
                .err()
                .expect("refused")
                .to_string();
            assert!(
                e.contains(&format!("opset {opset}")) && e.contains("7..=22"),
                "{e}"
            );
        }
        assert!(convert(&model(7, &[("a", "Relu", "")])).is_ok());
    }
}

/// A graph with a free batch dimension runs at another batch size than the
/// fixture's: shape arithmetic is not frozen at import.
#[test]
fn dynamic_batch_stays_dynamic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops");
    for name in ["shape_gather_concat_reshape", "slice_13_run_time_ends"] {
        let model = Model::open(&dir.join(format!("{name}.onnx"))).expect("model");
        let converted = convert(&model).expect("convert");
        assert_eq!(
            converted.graph.inputs[0].shape.as_ref().expect("shape")[0],
            -1
        );
        let tensors: HashMap<String, Tensor> = torch_tensors(&converted)
            .expect("tensors")
            .into_iter()
            .collect();
        let graph = GraphModel::from_parts(converted.graph, tensors, Device::Cpu).expect("graph");
        let arrays = zoo_nn::params::read_npz(dir.join(format!("{name}.npz"))).expect("npz");
        let x = arrays
            .iter()
            .find(|(k, _)| k == "inputs/x")
            .expect("x")
            .1
            .shallow_clone();
        let y = arrays
            .iter()
            .find(|(k, _)| k == "outputs/y")
            .expect("y")
            .1
            .shallow_clone();
        // The same rows three times over: batch 6 instead of 2.
        let x3 = Tensor::cat(&[&x, &x, &x], 0);
        let out = graph.run(&[("x".into(), x3)], &["y".into()]).expect("run");
        let want = Tensor::cat(&[&y, &y, &y], 0);
        assert!(relative(&out[0].1, &want) <= TOLERANCE, "{name}");
    }
}

/// Real-world pretrained models: the PaddleOCR detection, recognition and
/// orientation models that the rapidocr-onnxruntime 1.4.4 wheel ships,
/// on rendered text (made by the test command's set-up like the
/// torchvision models; missing files fail the test).
#[test]
fn pretrained_models_from_a_pypi_wheel_match_onnx_runtime() {
    let wanted = [
        "ch_ppocr_mobile_v2.0_cls_infer",
        "ch_PP-OCRv4_det_infer",
        "ch_PP-OCRv4_rec_infer",
    ];
    check_all(&large_fixtures(
        &large_fixtures_dir().join("realworld"),
        &wanted,
    ));
}

/// Values a graph computes at run time are checked before libtorch
/// allocates or indexes with them: a Range of 10^12 values, a ScatterND
/// index past the end, Resize sizes beyond the graph format's extent.
#[test]
fn run_time_values_out_of_range_are_errors() {
    use zoo_graph::onnx::{
        Coordinates, NearestMode, OnnxOp, ResizeBy, ResizeMode, ScatterReduction,
    };
    use zoo_nn::graph::ops_onnx::forward;
    let run = |op: &OnnxOp, xs: &[Tensor]| {
        forward(op, xs, 1, &Default::default(), &Default::default())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = run(
        &OnnxOp::Range,
        &[
            Tensor::from(0i64),
            Tensor::from(1_000_000_000_000i64),
            Tensor::from(1i64),
        ],
    );
    assert!(e.contains("Range") && e.contains("values"), "{e}");
    let data = Tensor::zeros([4, 3], (tch::Kind::Float, Device::Cpu));
    let e = run(
        &OnnxOp::ScatterNd {
            reduction: ScatterReduction::None,
        },
        &[
            data.shallow_clone(),
            Tensor::from_slice(&[1i64, 4]).reshape([2, 1]),
            Tensor::zeros([2, 3], (tch::Kind::Float, Device::Cpu)),
        ],
    );
    assert!(e.contains("out of range for axis 0 of size 4"), "{e}");
    let e = run(
        &OnnxOp::Resize {
            mode: ResizeMode::Nearest,
            coordinates: Coordinates::Asymmetric,
            nearest: NearestMode::Floor,
            scales: vec![],
            sizes: vec![],
            at_run_time: Some(ResizeBy::Sizes),
        },
        &[data, Tensor::from_slice(&[4i64, 1 << 40])],
    );
    assert!(e.contains("out of range"), "{e}");
}

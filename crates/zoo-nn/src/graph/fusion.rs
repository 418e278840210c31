//! Activations folded into the convolution (or ONNX Gemm or Add) before
//! them.
//!
//! A mobile network is mostly convolutions each followed by an activation:
//! `Conv → Relu`, `Conv → HardSwish` (h-swish: the importer has already
//! made PyTorch's `HardSigmoid → Mul` one layer, `zoo_onnx::fuse`) and
//! `Conv → HardSigmoid` (a squeeze-excitation gate). Run as
//! separate layers, each activation is a libtorch call (8–15 µs on small
//! tensors) and another pass over memory; folded, the convolution applies
//! it to its fresh output (`functions::conv2d_then`). The graph file stays
//! as imported: the plan is made at load, and a run that is asked for a
//! blob that only exists unfolded runs those layers one by one.

use super::format::onnx::{BinaryFn, OnnxOp, UnaryFn};
use super::{Graph, Op};
use crate::functions::Activation;

/// One convolution and the activation layers folded into it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Fusion {
    pub conv: usize,
    pub activation: Activation,
    /// The folded layers, which a fused run skips.
    pub folded: Vec<usize>,
    /// What the fused convolution writes: the last folded layer's top.
    pub output: String,
    /// Blobs that only an unfused run computes.
    pub hidden: Vec<String>,
}

/// Every fusion the graph allows, in layer order.
pub(super) fn plan(graph: &Graph) -> Vec<Fusion> {
    (0..graph.layers.len())
        .filter_map(|conv| fusion_at(graph, conv))
        .collect()
}

fn fusion_at(graph: &Graph, conv: usize) -> Option<Fusion> {
    let layer = &graph.layers[conv];
    let is_conv = matches!(
        layer.op,
        Op::Convolution(_)
            | Op::Onnx(
                OnnxOp::Conv { .. }
                    | OnnxOp::Gemm { .. }
                    | OnnxOp::Binary {
                        func: BinaryFn::Add
                    }
            )
    );
    let [value] = layer.tops.as_slice() else {
        return None;
    };
    if !is_conv {
        return None;
    }
    match readers(graph, conv, value).as_slice() {
        // Conv → activation.
        &[next] => {
            let activation = activation_of(&graph.layers[next].op)?;
            let [output] = single_in_out(graph, next, value)?;
            let hidden = if output == value {
                // In place (Caffe): the blob's value is the activated one
                // either way.
                Vec::new()
            } else {
                vec![value.clone()]
            };
            Some(Fusion {
                conv,
                activation,
                folded: vec![next],
                output: output.clone(),
                hidden,
            })
        }
        _ => None,
    }
}

/// A per-channel gate (`Mul` of an image and a squeeze-excitation gate)
/// folded into the 1×1 convolution that alone reads its product: the
/// convolution scales its input on the way in
/// (`functions::pointwise_scaled`) and the gated image is never written.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct ScaleFusion {
    pub mul: usize,
    pub conv: usize,
    /// The product, which only an unfused run computes.
    pub hidden: String,
}

/// Every `Mul → Conv` the graph allows whose convolution `is_pointwise`
/// (the caller knows the kernels' shapes), in layer order. The Mul's
/// inputs must stay alive until the convolution: no layer in between may
/// read them (it could be their last reader, which drops them).
pub(super) fn plan_scales(graph: &Graph, is_pointwise: impl Fn(usize) -> bool) -> Vec<ScaleFusion> {
    let mut found = Vec::new();
    for (mul, layer) in graph.layers.iter().enumerate() {
        let is_mul = matches!(
            layer.op,
            Op::Onnx(OnnxOp::Binary {
                func: BinaryFn::Mul
            })
        );
        let ([product], [_, _]) = (layer.tops.as_slice(), layer.bottoms.as_slice()) else {
            continue;
        };
        if !is_mul || layer.bottoms.contains(product) {
            continue;
        }
        let &[conv] = readers(graph, mul, product).as_slice() else {
            continue;
        };
        let reader = &graph.layers[conv];
        let takes_it_first = reader.bottoms.first() == Some(product)
            && reader.bottoms[1..].iter().all(|b| b != product)
            && matches!(reader.op, Op::Onnx(OnnxOp::Conv { group: 1, .. }));
        let inputs_untouched = graph.layers[mul + 1..conv].iter().all(|between| {
            let touches = |blob: &String| layer.bottoms.contains(blob);
            !between.bottoms.iter().any(touches) && !between.tops.iter().any(touches)
        });
        if takes_it_first && inputs_untouched && is_pointwise(conv) {
            found.push(ScaleFusion {
                mul,
                conv,
                hidden: product.clone(),
            });
        }
    }
    found
}

/// The layers after `producer` that read the value it wrote to `blob`, up
/// to (and including) the first one that writes `blob` again.
fn readers(graph: &Graph, producer: usize, blob: &str) -> Vec<usize> {
    let mut found = Vec::new();
    for (index, layer) in graph.layers.iter().enumerate().skip(producer + 1) {
        if layer.bottoms.iter().any(|b| b == blob) {
            found.push(index);
        }
        if layer.tops.iter().any(|t| t == blob) {
            break;
        }
    }
    found
}

/// The single top of layer `index`, whose single bottom is `bottom`.
fn single_in_out<'g>(graph: &'g Graph, index: usize, bottom: &str) -> Option<&'g [String; 1]> {
    let layer = &graph.layers[index];
    if layer.bottoms.len() != 1 || layer.bottoms[0] != bottom {
        return None;
    }
    layer.tops.as_slice().try_into().ok()
}

/// The activation a layer computes, if it is one a convolution can apply.
fn activation_of(op: &Op) -> Option<Activation> {
    Some(match op {
        Op::Relu { negative_slope } if *negative_slope == 0.0 => Activation::Relu,
        Op::Relu { negative_slope } => Activation::LeakyRelu {
            slope: *negative_slope as f32,
        },
        Op::Onnx(OnnxOp::Unary {
            func: UnaryFn::Relu,
        }) => Activation::Relu,
        Op::Onnx(OnnxOp::Unary {
            func: UnaryFn::HardSwish,
        }) => Activation::HARD_SWISH,
        Op::Onnx(OnnxOp::LeakyRelu { alpha }) => Activation::LeakyRelu {
            slope: *alpha as f32,
        },
        Op::Onnx(OnnxOp::HardSigmoid { alpha, beta }) => Activation::HardSigmoid {
            alpha: *alpha as f32,
            beta: *beta as f32,
        },
        Op::Onnx(OnnxOp::Clip { min, max }) => Activation::Clip {
            min: min.map_or(f32::NEG_INFINITY, |v| v as f32),
            max: max.map_or(f32::INFINITY, |v| v as f32),
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{GRAPH_FORMAT, GRAPH_VERSION, GraphModel};
    use super::*;
    use crate::model::Model;
    use crate::synthetic::synthetic_tensor;
    use std::collections::HashMap;
    use tch::{Device, Tensor};

    /// `(name, shape)` constants, then `(name, params, bottoms, top)` layers.
    fn onnx_graph(
        constants: &[(&str, &[i64])],
        layers: &[(&str, &str, &[&str], &str)],
    ) -> (Graph, HashMap<String, Tensor>) {
        let mut json = Vec::new();
        let mut tensors = HashMap::new();
        for (name, shape) in constants {
            json.push(format!(
                r#"{{"name": "{name}", "type": "Onnx", "params": {{"op": "Constant"}},
                    "bottoms": [], "tops": ["{name}"]}}"#
            ));
            tensors.insert(format!("{name}/value"), synthetic_tensor(name, shape));
        }
        for (name, params, bottoms, top) in layers {
            let bottoms: Vec<String> = bottoms.iter().map(|b| format!("{b:?}")).collect();
            json.push(format!(
                r#"{{"name": "{name}", "type": "Onnx", "params": {params},
                    "bottoms": [{}], "tops": ["{top}"]}}"#,
                bottoms.join(", ")
            ));
        }
        let text = format!(
            r#"{{"format": "{GRAPH_FORMAT}", "version": {GRAPH_VERSION}, "name": "fusions",
                "inputs": [{{"name": "x", "shape": [-1, 4, 6, 6]}}], "outputs": ["out"],
                "layers": [{}]}}"#,
            json.join(",\n")
        );
        (Graph::from_json(&text).unwrap(), tensors)
    }

    const CONV: &str = r#"{"op": "Conv", "strides": [1, 1], "pads": [0, 0, 0, 0],
        "dilations": [1, 1], "group": 1, "auto_pad": "NOTSET"}"#;
    const DEPTHWISE: &str = r#"{"op": "Conv", "strides": [1, 1], "pads": [1, 1, 1, 1],
        "dilations": [1, 1], "group": 8, "auto_pad": "NOTSET"}"#;
    const STRIDED: &str = r#"{"op": "Conv", "strides": [2, 2], "pads": [1, 1, 1, 1],
        "dilations": [1, 1], "group": 1, "auto_pad": "NOTSET"}"#;
    const GATE: &str = r#"{"op": "HardSigmoid", "alpha": 0.1666666716337204, "beta": 0.5}"#;
    const MUL: &str = r#"{"op": "Binary", "func": "Mul"}"#;
    const SWISH: &str = r#"{"op": "Unary", "func": "HardSwish"}"#;
    const ADD: &str = r#"{"op": "Binary", "func": "Add"}"#;
    const RELU: &str = r#"{"op": "Unary", "func": "Relu"}"#;

    /// Every kind of fusion, each convolution on a different fast path
    /// (pointwise, depthwise, packed oneDNN) and a Gemm.
    fn every_kind() -> (Graph, HashMap<String, Tensor>) {
        onnx_graph(
            &[
                ("w1", &[8, 4, 1, 1]),
                ("b1", &[8]),
                ("w2", &[8, 1, 3, 3]),
                ("w3", &[6, 8, 3, 3]),
                ("b3", &[6]),
                ("w4", &[5, 54]),
                ("b4", &[5]),
            ],
            &[
                ("c1", CONV, &["x", "w1", "b1"], "c1"),
                ("swish", SWISH, &["c1"], "s"),
                ("c2", DEPTHWISE, &["s", "w2"], "c2"),
                ("relu", RELU, &["c2"], "r"),
                ("c3", STRIDED, &["r", "w3", "b3"], "c3"),
                (
                    "clip",
                    r#"{"op": "Clip", "min": 0.0, "max": 0.3}"#,
                    &["c3"],
                    "k",
                ),
                ("flat", r#"{"op": "Flatten", "axis": 1}"#, &["k"], "f"),
                (
                    "fc",
                    r#"{"op": "Gemm", "alpha": 1.0, "beta": 1.0, "trans_a": false, "trans_b": true}"#,
                    &["f", "w4", "b4"],
                    "fc",
                ),
                (
                    "leaky",
                    r#"{"op": "LeakyRelu", "alpha": 0.1}"#,
                    &["fc"],
                    "out",
                ),
            ],
        )
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).abs().max().double_value(&[])
    }

    #[test]
    fn plans_each_pattern() {
        let (graph, _) = every_kind();
        let plan = plan(&graph);
        let summary: Vec<(&str, &str, Vec<String>)> = plan
            .iter()
            .map(|f| {
                let folded = f.folded.iter().map(|&i| graph.layers[i].name.clone());
                (
                    graph.layers[f.conv].name.as_str(),
                    f.output.as_str(),
                    folded.collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                ("c1", "s", vec!["swish".to_string()]),
                ("c2", "r", vec!["relu".to_string()]),
                ("c3", "k", vec!["clip".to_string()]),
                ("fc", "out", vec!["leaky".to_string()]),
            ]
        );
        assert_eq!(plan[0].hidden, vec!["c1".to_string()]);
        assert_eq!(plan[0].activation, Activation::HARD_SWISH);
        assert_eq!(plan[2].activation, Activation::Clip { min: 0.0, max: 0.3 });
    }

    /// Fused and one-by-one runs agree; asking for a blob that only the
    /// unfused run has turns that fusion off and answers with its value.
    #[test]
    fn fused_runs_match_layer_by_layer_runs() {
        let (graph, tensors) = every_kind();
        let model = GraphModel::from_parts(graph, tensors, Device::Cpu).unwrap();
        let x = synthetic_tensor("x", &[2, 4, 6, 6]);
        let fused = model.run(&[("x".into(), x.shallow_clone())], &[]).unwrap();
        let hidden: Vec<String> = ["c1", "c2", "c3", "fc", "out"].map(String::from).to_vec();
        let unfused = model
            .run(&[("x".into(), x.shallow_clone())], &hidden)
            .unwrap();
        let out = &unfused.last().unwrap().1;
        assert!(
            max_diff(&fused[0].1, out) < 1e-5,
            "{}",
            max_diff(&fused[0].1, out)
        );
        // The hidden blobs are the convolutions' own outputs.
        let w1 = synthetic_tensor("w1", &[8, 4, 1, 1]);
        let b1 = synthetic_tensor("b1", &[8]);
        let c1 = x.conv2d(&w1, Some(&b1), [1, 1], [0, 0], [1, 1], 1);
        assert!(max_diff(&unfused[0].1, &c1) < 1e-5);
        // One fusion off, the others on: the same answer.
        let partly = model
            .run(&[("x".into(), x)], &["out".into(), "c2".into()])
            .unwrap();
        assert!(max_diff(&partly[0].1, out) < 1e-5);
    }

    /// A residual connection: `Add → Relu` is one pass over both inputs.
    #[test]
    fn residual_add_takes_its_relu() {
        let (graph, tensors) = onnx_graph(
            &[("w1", &[4, 4, 1, 1]), ("w2", &[4, 4, 1, 1])],
            &[
                ("c1", CONV, &["x", "w1"], "t1"),
                ("c2", CONV, &["t1", "w2"], "t2"),
                ("sum", ADD, &["t1", "t2"], "sum"),
                ("relu", RELU, &["sum"], "out"),
            ],
        );
        let plan = plan(&graph);
        assert_eq!(plan.len(), 1);
        assert_eq!(graph.layers[plan[0].conv].name, "sum");
        let model = GraphModel::from_parts(graph, tensors, Device::Cpu).unwrap();
        let x = synthetic_tensor("x", &[2, 4, 6, 6]);
        let fused = model.run(&[("x".into(), x.shallow_clone())], &[]).unwrap();
        let unfused = model
            .run(
                &[("x".into(), x)],
                &["out".into(), "sum".into(), "t1".into()],
            )
            .unwrap();
        assert!(max_diff(&fused[0].1, &unfused[0].1) < 1e-6);
        assert!(max_diff(&unfused[0].1, &unfused[1].1.relu()) < 1e-6);
        // Both inputs channels-last, as the fast path wants.
        assert_eq!(unfused[2].1.stride(), vec![144, 1, 24, 4]);
    }

    #[test]
    fn a_value_with_other_readers_is_not_fused() {
        let (graph, _) = onnx_graph(
            &[("w1", &[4, 4, 1, 1])],
            &[
                ("c1", CONV, &["x", "w1"], "c1"),
                ("relu", RELU, &["c1"], "r"),
                ("sum", ADD, &["c1", "r"], "out"),
            ],
        );
        assert!(plan(&graph).is_empty());
        // A gate whose input also feeds a product.
        let (graph, _) = onnx_graph(
            &[("w1", &[4, 4, 1, 1])],
            &[
                ("c1", CONV, &["x", "w1"], "c1"),
                ("gate", GATE, &["c1"], "g"),
                ("scale", MUL, &["g", "c1"], "out"),
            ],
        );
        assert!(plan(&graph).is_empty());
    }

    /// A squeeze-excitation block: its gate folds into the pointwise
    /// convolution after it, and the result is the Mul-then-Conv one.
    #[test]
    fn a_gate_folds_into_the_pointwise_convolution_after_it() {
        let pool = r#"{"op": "GlobalPool", "method": "Average"}"#;
        let se = |project: &'static str| {
            onnx_graph(
                &[
                    ("w1", &[8, 4, 1, 1]),
                    ("wf", &[8, 8, 1, 1]),
                    ("w2", &[6, 8, 1, 1]),
                    ("w3", &[6, 8, 3, 3]),
                    ("b2", &[6]),
                ],
                &[
                    ("c1", CONV, &["x", "w1"], "c1"),
                    ("pool", pool, &["c1"], "p"),
                    ("fc", CONV, &["p", "wf"], "f"),
                    ("gate", GATE, &["f"], "g"),
                    ("scale", MUL, &["c1", "g"], "m"),
                    ("c2", CONV, &["m", project, "b2"], "c2"),
                    ("relu", RELU, &["c2"], "out"),
                ],
            )
        };
        let (graph, tensors) = se("w2");
        let model = GraphModel::from_parts(graph, tensors, Device::Cpu).unwrap();
        let summary: Vec<(usize, usize, &str)> = model
            .scale_fusions
            .iter()
            .map(|f| (f.mul, f.conv, f.hidden.as_str()))
            .collect();
        assert_eq!(summary, vec![(9, 10, "m")]);
        let x = synthetic_tensor("x", &[2, 4, 6, 6]);
        let fused = model.run(&[("x".into(), x.shallow_clone())], &[]).unwrap();
        let unfused = model
            .run(&[("x".into(), x)], &["out".into(), "m".into()])
            .unwrap();
        assert!(max_diff(&fused[0].1, &unfused[0].1) < 1e-5);
        // A 3×3 convolution after the gate: nothing to fold.
        let (graph, tensors) = se("w3");
        let model = GraphModel::from_parts(graph, tensors, Device::Cpu).unwrap();
        assert!(model.scale_fusions.is_empty());
        // The gate's input read again between the Mul and the convolution.
        let (graph, _) = onnx_graph(
            &[("w1", &[4, 4, 1, 1])],
            &[
                ("scale", MUL, &["x", "x"], "m"),
                ("relu", RELU, &["x"], "r"),
                ("c1", CONV, &["m", "w1"], "out"),
            ],
        );
        assert!(plan_scales(&graph, |_| true).is_empty());
    }

    /// Caffe's in-place ReLU: the blob's value is the activated one either
    /// way, so asking for it keeps the fusion.
    #[test]
    fn caffe_in_place_relu_is_fused() {
        let text = format!(
            r#"{{"format": "{GRAPH_FORMAT}", "version": {GRAPH_VERSION}, "name": "caffe",
                "inputs": [{{"name": "x"}}], "outputs": ["conv"],
                "layers": [
                  {{"name": "conv", "type": "Convolution",
                    "params": {{"num_output": 4, "kernel": [3, 3], "stride": [1, 1],
                               "pad": [1, 1], "dilation": [1, 1], "group": 1,
                               "bias_term": true}},
                    "bottoms": ["x"], "tops": ["conv"]}},
                  {{"name": "relu", "type": "ReLU", "params": {{"negative_slope": 0.25}},
                    "bottoms": ["conv"], "tops": ["conv"]}}]}}"#
        );
        let graph = Graph::from_json(&text).unwrap();
        let plan = plan(&graph);
        assert_eq!(plan.len(), 1);
        assert!(plan[0].hidden.is_empty());
        assert_eq!(plan[0].activation, Activation::LeakyRelu { slope: 0.25 });
        let w = synthetic_tensor("conv/W", &[4, 3, 3, 3]);
        let b = synthetic_tensor("conv/b", &[4]);
        let tensors: HashMap<String, Tensor> = [("conv/W", &w), ("conv/b", &b)]
            .into_iter()
            .map(|(n, t)| (n.to_string(), t.copy()))
            .collect();
        let model = GraphModel::from_parts(graph, tensors, Device::Cpu).unwrap();
        let x = synthetic_tensor("x", &[1, 3, 7, 7]);
        let y = x.conv2d(&w, Some(&b), [1, 1], [1, 1], [1, 1], 1);
        let want = y.clamp_min(0.0) + y.clamp_max(0.0) * 0.25;
        let got = model.run(&[("x".into(), x)], &["conv".into()]).unwrap();
        assert!(max_diff(&got[0].1, &want) < 1e-5);
    }
}

//! The zoo graph file (docs/graph-format.md): a JSON layer DAG in Caffe's
//! vocabulary. Blobs are named tensors; each layer reads its `bottoms` and
//! writes its `tops` (a top may reuse a bottom's name: in place). Parameters
//! live in safetensors files under `<layer name>/<role>` (see [`Op::weights`]).
//!
//! Torch-free so that importers (Caffe, ONNX) write graphs without linking
//! libtorch; `zoo-nn`'s executor runs them.

pub mod onnx;
pub mod synthetic;

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// The value of `format` in every graph file.
pub const GRAPH_FORMAT: &str = "zoo-graph";
/// The version this crate writes and reads.
pub const GRAPH_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub format: String,
    pub version: u32,
    #[serde(default)]
    pub name: String,
    pub inputs: Vec<GraphInput>,
    /// Blobs returned when the caller names none: the tops no layer consumes.
    pub outputs: Vec<String>,
    pub layers: Vec<LayerDef>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GraphInput {
    pub name: String,
    /// Dimensions, −1 where free; absent when the source did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<Vec<i64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerDef {
    pub name: String,
    #[serde(flatten)]
    pub op: Op,
    pub bottoms: Vec<String>,
    pub tops: Vec<String>,
}

/// A layer's operation and its (fully resolved) parameters, `type` +
/// `params` in JSON. Type names are Caffe's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "params")]
pub enum Op {
    Convolution(ConvParams),
    Deconvolution(ConvParams),
    InnerProduct {
        num_output: i64,
        bias_term: bool,
        axis: i64,
    },
    Pooling(PoolParams),
    #[serde(rename = "LRN")]
    Lrn {
        local_size: i64,
        alpha: f64,
        beta: f64,
        k: f64,
        region: LrnRegion,
    },
    #[serde(rename = "ReLU")]
    Relu {
        negative_slope: f64,
    },
    Dropout {
        ratio: f64,
    },
    Concat {
        axis: i64,
    },
    Softmax {
        axis: i64,
    },
    Sigmoid,
    TanH,
    AbsVal,
    #[serde(rename = "BNLL")]
    Bnll,
    Reshape {
        shape: Vec<i64>,
        axis: i64,
        num_axes: i64,
    },
    Flatten {
        axis: i64,
        end_axis: i64,
    },
    BatchNorm {
        eps: f64,
    },
    Scale {
        axis: i64,
        num_axes: i64,
        bias_term: bool,
    },
    Bias {
        axis: i64,
        num_axes: i64,
    },
    Eltwise {
        operation: EltwiseOp,
        coeff: Vec<f64>,
    },
    Slice {
        axis: i64,
        slice_points: Vec<i64>,
    },
    Split,
    Power {
        power: f64,
        scale: f64,
        shift: f64,
    },
    /// y = base^(shift + scale·x); base −1 means e.
    Exp {
        base: f64,
        scale: f64,
        shift: f64,
    },
    /// y = log_base(shift + scale·x); base −1 means e.
    Log {
        base: f64,
        scale: f64,
        shift: f64,
    },
    #[serde(rename = "ELU")]
    Elu {
        alpha: f64,
    },
    #[serde(rename = "PReLU")]
    Prelu {
        channel_shared: bool,
    },
    Crop {
        axis: i64,
        offset: Vec<i64>,
    },
    Permute {
        order: Vec<i64>,
    },
    /// An ONNX operator with ONNX semantics (`zoo import onnx`).
    Onnx(crate::onnx::OnnxOp),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConvParams {
    pub num_output: i64,
    /// `[h, w]`.
    pub kernel: [i64; 2],
    pub stride: [i64; 2],
    pub pad: [i64; 2],
    pub dilation: [i64; 2],
    pub group: i64,
    pub bias_term: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolParams {
    pub method: PoolMethod,
    pub kernel: [i64; 2],
    pub stride: [i64; 2],
    pub pad: [i64; 2],
    /// One window over the whole map (kernel, stride and pad are ignored).
    pub global: bool,
    pub round: RoundMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMethod {
    Max,
    Ave,
}

/// Caffe's output-size rounding: `ceil` (default, with its last-window
/// rule) or `floor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoundMode {
    Ceil,
    Floor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LrnRegion {
    AcrossChannels,
    WithinChannel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EltwiseOp {
    Prod,
    Sum,
    Max,
}

impl Op {
    /// The Caffe type name (the JSON `type`).
    pub fn type_name(&self) -> &'static str {
        match self {
            Op::Convolution(_) => "Convolution",
            Op::Deconvolution(_) => "Deconvolution",
            Op::InnerProduct { .. } => "InnerProduct",
            Op::Pooling(_) => "Pooling",
            Op::Lrn { .. } => "LRN",
            Op::Relu { .. } => "ReLU",
            Op::Dropout { .. } => "Dropout",
            Op::Concat { .. } => "Concat",
            Op::Softmax { .. } => "Softmax",
            Op::Sigmoid => "Sigmoid",
            Op::TanH => "TanH",
            Op::AbsVal => "AbsVal",
            Op::Bnll => "BNLL",
            Op::Reshape { .. } => "Reshape",
            Op::Flatten { .. } => "Flatten",
            Op::BatchNorm { .. } => "BatchNorm",
            Op::Scale { .. } => "Scale",
            Op::Bias { .. } => "Bias",
            Op::Eltwise { .. } => "Eltwise",
            Op::Slice { .. } => "Slice",
            Op::Split => "Split",
            Op::Power { .. } => "Power",
            Op::Exp { .. } => "Exp",
            Op::Log { .. } => "Log",
            Op::Elu { .. } => "ELU",
            Op::Prelu { .. } => "PReLU",
            Op::Crop { .. } => "Crop",
            Op::Permute { .. } => "Permute",
            Op::Onnx(_) => "Onnx",
        }
    }

    /// The roles of the parameters this layer reads (`<layer>/<role>`), given
    /// its number of bottoms: W and b for weighted layers, mean and var for
    /// BatchNorm, gamma and beta for Scale.
    pub fn weights(&self, bottoms: usize) -> Vec<&'static str> {
        match self {
            Op::Convolution(p) | Op::Deconvolution(p) if p.bias_term => vec!["W", "b"],
            Op::Convolution(_) | Op::Deconvolution(_) => vec!["W"],
            Op::InnerProduct {
                bias_term: true, ..
            } => vec!["W", "b"],
            Op::InnerProduct { .. } => vec!["W"],
            Op::BatchNorm { .. } => vec!["mean", "var"],
            Op::Scale { bias_term, .. } => {
                let mut roles = Vec::new();
                if bottoms < 2 {
                    roles.push("gamma");
                }
                if *bias_term {
                    roles.push("beta");
                }
                roles
            }
            Op::Bias { .. } if bottoms < 2 => vec!["b"],
            Op::Prelu { .. } => vec!["W"],
            Op::Onnx(crate::onnx::OnnxOp::Constant) => vec!["value"],
            _ => Vec::new(),
        }
    }
}

/// Largest size-like parameter (output count, kernel, stride, pad, offset,
/// reshape dimension): far above any real network, and small enough that
/// sums of a few of them never overflow.
pub const MAX_EXTENT: i64 = 1 << 24;
/// Axis parameters lie in `-MAX_RANK..MAX_RANK`.
pub const MAX_RANK: i64 = 16;

impl Graph {
    /// Checks every layer's parameters before anything is built or run: a
    /// graph file comes from a package, so negative, zero or overflowing
    /// sizes must be errors, not panics. The message names the layer, the
    /// field and the value.
    pub fn validate(&self) -> Result<(), String> {
        for input in &self.inputs {
            if let Some(bad) = input
                .shape
                .iter()
                .flatten()
                .find(|d| !(-1..=MAX_EXTENT).contains(*d))
            {
                return Err(format!(
                    "input {:?}: shape dimension {bad} is out of range (-1 = free, up to {MAX_EXTENT})",
                    input.name
                ));
            }
        }
        for layer in &self.layers {
            layer.op.validate().map_err(|message| {
                format!(
                    "layer {:?} ({}): {message}",
                    layer.name,
                    layer.op.type_name()
                )
            })?;
        }
        Ok(())
    }
}

impl Graph {
    /// Parses a graph file's text (no checks: see [`Graph::check`]).
    pub fn from_json(text: &str) -> Result<Graph, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The file's text as importers write it: pretty JSON, final newline.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        Ok(serde_json::to_string_pretty(self)? + "\n")
    }

    /// Everything that can be checked without tensors: format and version,
    /// each layer's parameters ([`Graph::validate`]) and the topology
    /// ([`Graph::check_topology`]).
    pub fn check(&self) -> Result<(), String> {
        if self.format != GRAPH_FORMAT || self.version != GRAPH_VERSION {
            return Err(format!(
                "format {:?} version {} is not {GRAPH_FORMAT:?} version {GRAPH_VERSION}",
                self.format, self.version
            ));
        }
        self.validate()?;
        self.check_topology()
    }

    /// Every bottom must be an input or an earlier top, every output a blob.
    pub fn check_topology(&self) -> Result<(), String> {
        let mut known: HashSet<&str> = self.inputs.iter().map(|i| i.name.as_str()).collect();
        for layer in &self.layers {
            for bottom in &layer.bottoms {
                if !known.contains(bottom.as_str()) {
                    return Err(format!(
                        "layer {:?} reads blob {bottom:?}, which no input or earlier layer provides",
                        layer.name
                    ));
                }
            }
            known.extend(layer.tops.iter().map(String::as_str));
        }
        for output in &self.outputs {
            if !known.contains(output.as_str()) {
                return Err(format!("output {output:?} is not a blob of the graph"));
            }
        }
        Ok(())
    }

    /// Every blob name a caller may ask for: inputs and all layer tops, in
    /// order of first appearance.
    pub fn blob_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.inputs.iter().map(|i| i.name.clone()).collect();
        for layer in &self.layers {
            for top in &layer.tops {
                if !names.contains(top) {
                    names.push(top.clone());
                }
            }
        }
        names
    }
}

/// `field = value` must lie in `range`.
fn within(field: &str, value: i64, range: std::ops::RangeInclusive<i64>) -> Result<(), String> {
    if range.contains(&value) {
        Ok(())
    } else {
        Err(format!(
            "{field} = {value} is out of range ({} to {})",
            range.start(),
            range.end()
        ))
    }
}

fn axis(field: &str, value: i64) -> Result<(), String> {
    within(field, value, -MAX_RANK..=MAX_RANK - 1)
}

fn pair(field: &str, values: [i64; 2], min: i64) -> Result<(), String> {
    within(&format!("{field}[0]"), values[0], min..=MAX_EXTENT)?;
    within(&format!("{field}[1]"), values[1], min..=MAX_EXTENT)
}

impl Op {
    /// This layer's parameters, each checked against its range.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Op::Convolution(p) | Op::Deconvolution(p) => {
                within("num_output", p.num_output, 1..=MAX_EXTENT)?;
                pair("kernel", p.kernel, 1)?;
                pair("stride", p.stride, 1)?;
                pair("pad", p.pad, 0)?;
                pair("dilation", p.dilation, 1)?;
                within("group", p.group, 1..=p.num_output)?;
                if p.num_output % p.group != 0 {
                    return Err(format!(
                        "group = {} does not divide num_output = {}",
                        p.group, p.num_output
                    ));
                }
                Ok(())
            }
            Op::InnerProduct {
                num_output,
                axis: a,
                ..
            } => {
                within("num_output", *num_output, 1..=MAX_EXTENT)?;
                axis("axis", *a)
            }
            Op::Pooling(p) if p.global => Ok(()),
            Op::Pooling(p) => {
                pair("kernel", p.kernel, 1)?;
                pair("stride", p.stride, 1)?;
                pair("pad", p.pad, 0)
            }
            Op::Lrn { local_size, .. } => within("local_size", *local_size, 1..=MAX_EXTENT),
            Op::Dropout { ratio } if !(0.0..1.0).contains(ratio) => {
                Err(format!("ratio = {ratio} is out of range (0 to below 1)"))
            }
            Op::Concat { axis: a } | Op::Softmax { axis: a } => axis("axis", *a),
            Op::Reshape {
                shape,
                axis: a,
                num_axes,
            } => {
                for (index, dim) in shape.iter().enumerate() {
                    within(&format!("shape[{index}]"), *dim, -1..=MAX_EXTENT)?;
                }
                axis("axis", *a)?;
                within("num_axes", *num_axes, -1..=MAX_RANK)
            }
            Op::Flatten { axis: a, end_axis } => {
                axis("axis", *a)?;
                axis("end_axis", *end_axis)
            }
            Op::Scale {
                axis: a, num_axes, ..
            }
            | Op::Bias { axis: a, num_axes } => {
                axis("axis", *a)?;
                within("num_axes", *num_axes, -1..=MAX_RANK)
            }
            Op::Slice {
                axis: a,
                slice_points,
            } => {
                axis("axis", *a)?;
                for (index, point) in slice_points.iter().enumerate() {
                    within(&format!("slice_points[{index}]"), *point, 1..=MAX_EXTENT)?;
                }
                if slice_points.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(format!(
                        "slice_points {slice_points:?} are not strictly increasing"
                    ));
                }
                Ok(())
            }
            Op::Crop { axis: a, offset } => {
                axis("axis", *a)?;
                for (index, value) in offset.iter().enumerate() {
                    within(&format!("offset[{index}]"), *value, 0..=MAX_EXTENT)?;
                }
                Ok(())
            }
            Op::Permute { order } => {
                for (index, value) in order.iter().enumerate() {
                    within(&format!("order[{index}]"), *value, 0..=MAX_RANK - 1)?;
                }
                Ok(())
            }
            Op::Onnx(op) => op
                .validate()
                .map_err(|message| format!("{}: {message}", op.name())),
            _ => Ok(()),
        }
    }
}

/// Every type name a graph may use, for error messages.
pub const SUPPORTED_TYPES: &[&str] = &[
    "AbsVal",
    "BatchNorm",
    "Bias",
    "BNLL",
    "Concat",
    "Convolution",
    "Crop",
    "Deconvolution",
    "Dropout",
    "ELU",
    "Eltwise",
    "Exp",
    "Flatten",
    "InnerProduct",
    "Log",
    "LRN",
    "Permute",
    "Pooling",
    "Power",
    "PReLU",
    "ReLU",
    "Reshape",
    "Scale",
    "Sigmoid",
    "Slice",
    "Softmax",
    "Split",
    "TanH",
];

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid convolution: 3x3 kernel, 4 outputs, the input's size kept.
    fn same_3x3() -> ConvParams {
        ConvParams {
            num_output: 4,
            kernel: [3, 3],
            stride: [1, 1],
            pad: [1, 1],
            dilation: [1, 1],
            group: 1,
            bias_term: true,
        }
    }

    #[test]
    fn layers_round_trip_through_json() {
        let layers = vec![
            LayerDef {
                name: "conv1".into(),
                op: Op::Convolution(same_3x3()),
                bottoms: vec!["data".into()],
                tops: vec!["conv1".into()],
            },
            LayerDef {
                name: "sig".into(),
                op: Op::Sigmoid,
                bottoms: vec!["conv1".into()],
                tops: vec!["conv1".into()],
            },
        ];
        let text = serde_json::to_string(&layers).unwrap();
        assert!(
            text.contains(r#""type":"Convolution","params":{"num_output":4"#),
            "{text}"
        );
        assert!(
            text.contains(r#"{"name":"sig","type":"Sigmoid","bottoms""#),
            "{text}"
        );
        let back: Vec<LayerDef> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, layers);
    }

    #[test]
    fn hostile_parameters_are_refused_naming_the_layer_field_and_value() {
        let graph = |op: Op| Graph {
            format: GRAPH_FORMAT.into(),
            version: GRAPH_VERSION,
            name: String::new(),
            inputs: vec![],
            outputs: vec![],
            layers: vec![LayerDef {
                name: "bad".into(),
                op,
                bottoms: vec![],
                tops: vec![],
            }],
        };
        let conv = same_3x3();
        assert!(graph(Op::Convolution(conv.clone())).validate().is_ok());
        for (op, expected) in [
            (
                Op::Crop {
                    axis: 2,
                    offset: vec![i64::MAX],
                },
                "layer \"bad\" (Crop): offset[0] = 9223372036854775807 is out of range",
            ),
            (
                Op::Convolution(ConvParams {
                    stride: [0, 1],
                    ..conv.clone()
                }),
                "stride[0] = 0",
            ),
            (
                Op::Convolution(ConvParams {
                    pad: [-1, 1],
                    ..conv.clone()
                }),
                "pad[0] = -1",
            ),
            (
                Op::Deconvolution(ConvParams {
                    kernel: [3, i64::MAX],
                    ..conv.clone()
                }),
                "kernel[1] = 9223372036854775807",
            ),
            (
                Op::Convolution(ConvParams {
                    group: 3,
                    ..conv.clone()
                }),
                "group = 3 does not divide num_output = 4",
            ),
            (
                Op::Pooling(PoolParams {
                    method: PoolMethod::Max,
                    kernel: [2, 2],
                    stride: [-2, 2],
                    pad: [0, 0],
                    global: false,
                    round: RoundMode::Ceil,
                }),
                "stride[0] = -2",
            ),
            (
                Op::Softmax { axis: i64::MIN },
                "axis = -9223372036854775808",
            ),
            (
                Op::Reshape {
                    shape: vec![1, -2],
                    axis: 0,
                    num_axes: -1,
                },
                "shape[1] = -2",
            ),
            (
                Op::Onnx(onnx::OnnxOp::Einsum {
                    equation: "ij,jk->ik; rm -rf".into(),
                }),
                "einsum equation",
            ),
            (
                Op::Onnx(onnx::OnnxOp::Resize {
                    mode: onnx::ResizeMode::Nearest,
                    coordinates: onnx::Coordinates::Asymmetric,
                    nearest: onnx::NearestMode::Floor,
                    scales: vec![1.0, 1.0, 2.0, 2.0],
                    sizes: vec![],
                    at_run_time: Some(onnx::ResizeBy::Sizes),
                }),
                "come from bottom 1 at run time",
            ),
        ] {
            let error = graph(op).validate().unwrap_err();
            assert!(error.contains(expected), "{error} lacks {expected}");
        }
    }

    #[test]
    fn topology_and_format_are_checked_without_tensors() {
        let mut graph = Graph {
            format: GRAPH_FORMAT.into(),
            version: GRAPH_VERSION,
            name: "t".into(),
            inputs: vec![GraphInput {
                name: "x".into(),
                shape: None,
            }],
            outputs: vec!["y".into()],
            layers: vec![LayerDef {
                name: "s".into(),
                op: Op::Sigmoid,
                bottoms: vec!["x".into()],
                tops: vec!["y".into()],
            }],
        };
        assert_eq!(graph.check(), Ok(()));
        assert_eq!(graph.blob_names(), ["x", "y"]);
        let text = graph.to_json().unwrap();
        assert!(text.ends_with("}\n"), "{text}");
        assert_eq!(Graph::from_json(&text).unwrap(), graph);
        graph.layers[0].bottoms = vec!["z".into()];
        let error = graph.check().unwrap_err();
        assert!(error.contains("reads blob \"z\""), "{error}");
        graph.layers[0].bottoms = vec!["x".into()];
        graph.outputs = vec!["w".into()];
        let error = graph.check().unwrap_err();
        assert!(error.contains("output \"w\" is not a blob"), "{error}");
        graph.version = 2;
        let error = graph.check().unwrap_err();
        assert!(error.contains("version 2 is not"), "{error}");
    }
}

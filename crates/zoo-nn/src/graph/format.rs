//! The zoo graph file (docs/graph-format.md): a JSON layer DAG in Caffe's
//! vocabulary. Blobs are named tensors; each layer reads its `bottoms` and
//! writes its `tops` (a top may reuse a bottom's name: in place). Parameters
//! live in safetensors files under `<layer name>/<role>` (see [`Op::weights`]).

use serde::{Deserialize, Serialize};

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
            _ => Vec::new(),
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

    #[test]
    fn layers_round_trip_through_json() {
        let layers = vec![
            LayerDef {
                name: "conv1".into(),
                op: Op::Convolution(ConvParams {
                    num_output: 4,
                    kernel: [3, 3],
                    stride: [1, 1],
                    pad: [1, 1],
                    dilation: [1, 1],
                    group: 1,
                    bias_term: true,
                }),
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
}

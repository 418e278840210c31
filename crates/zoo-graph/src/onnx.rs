//! The graph format's ONNX-vocabulary layers (`"type": "Onnx"`, the ONNX
//! operator in `params.op`), written by `zoo import onnx`. Parameters are
//! resolved at import (opset differences, constant inputs such as Clip's
//! bounds or Slice's starts); tensors that stay inputs (weights, shape
//! vectors computed at run time) are bottoms. Semantics are ONNX's: numpy
//! broadcasting, negative axes counted from the end.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum OnnxOp {
    /// No bottoms; the tensor is the layer's parameter `value` (any dtype).
    Constant,
    Identity,
    /// Bottoms X, W, [B]. `pads` = begins then ends; `auto_pad` SAME_UPPER /
    /// SAME_LOWER computes them from the input size at run time.
    Conv {
        strides: Vec<i64>,
        pads: Vec<i64>,
        dilations: Vec<i64>,
        group: i64,
        auto_pad: AutoPad,
    },
    /// Bottoms X, W, [B].
    ConvTranspose {
        strides: Vec<i64>,
        pads: Vec<i64>,
        dilations: Vec<i64>,
        output_padding: Vec<i64>,
        group: i64,
    },
    /// Bottoms X, scale, B, mean, var.
    BatchNormalization {
        epsilon: f64,
    },
    /// Bottoms X, scale, B.
    InstanceNormalization {
        epsilon: f64,
    },
    /// Bottoms X, scale, [B]; normalises the axes from `axis` on.
    LayerNormalization {
        axis: i64,
        epsilon: f64,
    },
    /// Bottoms X, scale, bias: normalises each of `num_groups` channel
    /// groups; scale and bias are per group before opset 21
    /// (`per_group_scale`), per channel from 21.
    GroupNormalization {
        num_groups: i64,
        epsilon: f64,
        per_group_scale: bool,
    },
    /// Across channels, as Caffe's: x / (bias + alpha/size · Σ x²)^beta over
    /// `size` channels around each.
    Lrn {
        size: i64,
        alpha: f64,
        beta: f64,
        bias: f64,
    },
    /// x divided by its L1 (`p` 1) or L2 (`p` 2) norm along `axis`.
    LpNormalization {
        axis: i64,
        p: i64,
    },
    Unary {
        func: UnaryFn,
    },
    LeakyRelu {
        alpha: f64,
    },
    Elu {
        alpha: f64,
    },
    Selu {
        alpha: f64,
        gamma: f64,
    },
    HardSigmoid {
        alpha: f64,
        beta: f64,
    },
    Gelu {
        tanh: bool,
    },
    /// Bottoms X, slope (broadcast).
    PRelu,
    Clip {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// `legacy`: before opset 13, the input is flattened to 2-D at `axis`
    /// and normalised over the second part.
    Softmax {
        axis: i64,
        legacy: bool,
        log: bool,
    },
    Pool {
        method: PoolKind,
        kernel: Vec<i64>,
        strides: Vec<i64>,
        pads: Vec<i64>,
        dilations: Vec<i64>,
        ceil_mode: bool,
        count_include_pad: bool,
        auto_pad: AutoPad,
    },
    GlobalPool {
        method: PoolKind,
    },
    /// Bottoms A, B, [C].
    Gemm {
        alpha: f64,
        beta: f64,
        trans_a: bool,
        trans_b: bool,
    },
    MatMul,
    Binary {
        func: BinaryFn,
    },
    /// Min, Max, Sum, Mean over any number of bottoms.
    Variadic {
        func: VariadicFn,
    },
    /// `axes` empty: all axes (or none with `noop_with_empty_axes`).
    Reduce {
        func: ReduceFn,
        axes: Vec<i64>,
        keepdims: bool,
        noop_with_empty_axes: bool,
    },
    Concat {
        axis: i64,
    },
    /// `split` empty: equal parts, one per top.
    Split {
        axis: i64,
        split: Vec<i64>,
    },
    /// With `at_run_time`, starts, ends and (when given) axes and steps are
    /// bottoms 1 to 4 instead (int64 tensors computed by the graph).
    Slice {
        starts: Vec<i64>,
        ends: Vec<i64>,
        axes: Vec<i64>,
        steps: Vec<i64>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        at_run_time: bool,
    },
    /// Bottoms data, indices.
    Gather {
        axis: i64,
    },
    /// Bottoms data, shape (int64, at run time).
    Reshape {
        allowzero: bool,
    },
    Flatten {
        axis: i64,
    },
    /// `perm` empty: reversed axes.
    Transpose {
        perm: Vec<i64>,
    },
    /// `axes` empty: every axis of size 1.
    Squeeze {
        axes: Vec<i64>,
    },
    Unsqueeze {
        axes: Vec<i64>,
    },
    /// Bottoms X, shape.
    Expand,
    /// Bottoms X, repeats.
    Tile,
    /// With `at_run_time`, `pads` is empty and bottom 1 holds them (int64,
    /// computed by the graph: Swin pads its windows to the input's size).
    Pad {
        mode: PadMode,
        pads: Vec<i64>,
        value: f64,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        at_run_time: bool,
    },
    /// Exactly one of `scales` and `sizes` is non-empty (all axes), or
    /// with `at_run_time` both are empty and bottom 1 holds the scales
    /// (float) or sizes (int64) that the graph computes (a segmentation
    /// head resized to its input's size).
    Resize {
        mode: ResizeMode,
        coordinates: Coordinates,
        nearest: NearestMode,
        scales: Vec<f64>,
        sizes: Vec<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        at_run_time: Option<ResizeBy>,
    },
    /// int64 dimensions `start..end` of the bottom.
    Shape {
        start: i64,
        end: Option<i64>,
    },
    /// Bottom: the shape (int64).
    ConstantOfShape {
        value: f64,
        dtype: DType,
    },
    Cast {
        to: DType,
    },
    /// Bottoms condition, X, Y.
    Where,
    /// Any number of bottoms, combined as `equation` says (numpy's einsum).
    Einsum {
        equation: String,
    },
    /// Bottoms start, limit, delta (scalars): `start + i·delta` while short
    /// of `limit`; empty when the signs disagree.
    Range,
    /// Bottoms data, indices `[…, k]`, updates: a copy of data with the
    /// updates written at (`Add`: added to) the indexed slices.
    ScatterNd {
        reduction: ScatterReduction,
    },
    /// Booleans: which values are +∞ (`positive`) or −∞ (`negative`).
    IsInf {
        positive: bool,
        negative: bool,
    },
    /// Running sums along `axis`; `exclusive` leaves each value out of its
    /// own sum, `reverse` sums from the end.
    CumSum {
        axis: i64,
        exclusive: bool,
        reverse: bool,
    },
    /// The upper (or lower) triangle of the last two axes from diagonal `k`.
    Trilu {
        upper: bool,
        k: i64,
    },
    /// int64 index of the largest (`max`) or smallest value along `axis`;
    /// the last of equal ones with `select_last_index`.
    ArgExtreme {
        max: bool,
        axis: i64,
        keepdims: bool,
        select_last_index: bool,
    },
    /// Bottoms data, indices (same rank): data's values at the indices
    /// along `axis`.
    GatherElements {
        axis: i64,
    },
    /// The bottom's number of elements (int64 scalar).
    Size,
    /// int64 `[rank, count]`: the coordinates of the non-zero values.
    NonZero,
    /// Bottoms data, indices `[…, k]`: the slices of data's first `k` axes
    /// that the indices address (`batch_dims` 0).
    GatherNd,
    /// Bottoms data, indices, updates (same rank): a copy of data with each
    /// update written at (or combined by `reduction` with) the value its
    /// index addresses along `axis`.
    ScatterElements {
        axis: i64,
        reduction: ElementReduction,
    },
    /// Bottoms X, W, R, B, [initial_h], [initial_c]; tops Y, Y_h, Y_c.
    Lstm {
        hidden_size: i64,
        direction: Direction,
        has_initial_h: bool,
        has_initial_c: bool,
    },
    /// Bottoms X, W, R, B, [initial_h]; tops Y, Y_h.
    Gru {
        hidden_size: i64,
        direction: Direction,
        linear_before_reset: bool,
        has_initial_h: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AutoPad {
    #[serde(rename = "NOTSET")]
    NotSet,
    #[serde(rename = "SAME_UPPER")]
    SameUpper,
    #[serde(rename = "SAME_LOWER")]
    SameLower,
    #[serde(rename = "VALID")]
    Valid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryFn {
    Relu,
    Sigmoid,
    Tanh,
    Erf,
    Abs,
    Neg,
    Exp,
    Log,
    Sqrt,
    Reciprocal,
    Floor,
    Ceil,
    Round,
    Softplus,
    HardSwish,
    Not,
    Sin,
    Cos,
    Sign,
    /// x / (1 + |x|).
    Softsign,
    /// x · tanh(softplus(x)).
    Mish,
    IsNaN,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryFn {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Equal,
    Greater,
    Less,
    GreaterOrEqual,
    LessOrEqual,
    And,
    Or,
    /// ONNX `Mod` with `fmod = 0`: the remainder takes the divisor's sign
    /// (integers only).
    Mod,
    /// ONNX `Mod` with `fmod = 1`: the remainder takes the dividend's sign.
    Fmod,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum VariadicFn {
    Min,
    Max,
    Sum,
    Mean,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceFn {
    Mean,
    Sum,
    Max,
    Min,
    Prod,
    /// Sum of absolute values.
    L1,
    /// Square root of the sum of squares.
    L2,
    SumSquare,
    /// log(Σ exp(x)).
    LogSumExp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PoolKind {
    Max,
    Average,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PadMode {
    Constant,
    Reflect,
    Edge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeMode {
    Nearest,
    Linear,
}

/// What a run-time Resize input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResizeBy {
    Scales,
    Sizes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScatterReduction {
    None,
    Add,
}

/// How ScatterElements combines an update with the value it lands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ElementReduction {
    None,
    Add,
    Mul,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coordinates {
    HalfPixel,
    PytorchHalfPixel,
    AlignCorners,
    Asymmetric,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NearestMode {
    RoundPreferFloor,
    RoundPreferCeil,
    Floor,
    Ceil,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Forward,
    Reverse,
    Bidirectional,
}

/// Element types a Cast or ConstantOfShape may produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DType {
    Float32,
    Float64,
    Int64,
    Int32,
    Int8,
    Uint8,
    Bool,
}

impl OnnxOp {
    /// The ONNX operator name, for messages.
    pub fn name(&self) -> &'static str {
        match self {
            OnnxOp::Constant => "Constant",
            OnnxOp::Identity => "Identity",
            OnnxOp::Conv { .. } => "Conv",
            OnnxOp::ConvTranspose { .. } => "ConvTranspose",
            OnnxOp::BatchNormalization { .. } => "BatchNormalization",
            OnnxOp::InstanceNormalization { .. } => "InstanceNormalization",
            OnnxOp::LayerNormalization { .. } => "LayerNormalization",
            OnnxOp::GroupNormalization { .. } => "GroupNormalization",
            OnnxOp::Lrn { .. } => "LRN",
            OnnxOp::LpNormalization { .. } => "LpNormalization",
            OnnxOp::Unary { .. } => "Unary",
            OnnxOp::LeakyRelu { .. } => "LeakyRelu",
            OnnxOp::Elu { .. } => "Elu",
            OnnxOp::Selu { .. } => "Selu",
            OnnxOp::HardSigmoid { .. } => "HardSigmoid",
            OnnxOp::Gelu { .. } => "Gelu",
            OnnxOp::PRelu => "PRelu",
            OnnxOp::Clip { .. } => "Clip",
            OnnxOp::Softmax { .. } => "Softmax",
            OnnxOp::Pool { .. } => "Pool",
            OnnxOp::GlobalPool { .. } => "GlobalPool",
            OnnxOp::Gemm { .. } => "Gemm",
            OnnxOp::MatMul => "MatMul",
            OnnxOp::Binary { .. } => "Binary",
            OnnxOp::Variadic { .. } => "Variadic",
            OnnxOp::Reduce { .. } => "Reduce",
            OnnxOp::Concat { .. } => "Concat",
            OnnxOp::Split { .. } => "Split",
            OnnxOp::Slice { .. } => "Slice",
            OnnxOp::Gather { .. } => "Gather",
            OnnxOp::Reshape { .. } => "Reshape",
            OnnxOp::Flatten { .. } => "Flatten",
            OnnxOp::Transpose { .. } => "Transpose",
            OnnxOp::Squeeze { .. } => "Squeeze",
            OnnxOp::Unsqueeze { .. } => "Unsqueeze",
            OnnxOp::Expand => "Expand",
            OnnxOp::Tile => "Tile",
            OnnxOp::Pad { .. } => "Pad",
            OnnxOp::Resize { .. } => "Resize",
            OnnxOp::Shape { .. } => "Shape",
            OnnxOp::ConstantOfShape { .. } => "ConstantOfShape",
            OnnxOp::Cast { .. } => "Cast",
            OnnxOp::Where => "Where",
            OnnxOp::Einsum { .. } => "Einsum",
            OnnxOp::Range => "Range",
            OnnxOp::ScatterNd { .. } => "ScatterND",
            OnnxOp::IsInf { .. } => "IsInf",
            OnnxOp::CumSum { .. } => "CumSum",
            OnnxOp::Trilu { .. } => "Trilu",
            OnnxOp::ArgExtreme { max: true, .. } => "ArgMax",
            OnnxOp::ArgExtreme { max: false, .. } => "ArgMin",
            OnnxOp::GatherElements { .. } => "GatherElements",
            OnnxOp::Size => "Size",
            OnnxOp::NonZero => "NonZero",
            OnnxOp::GatherNd => "GatherND",
            OnnxOp::ScatterElements { .. } => "ScatterElements",
            OnnxOp::Lstm { .. } => "LSTM",
            OnnxOp::Gru { .. } => "GRU",
        }
    }

    /// Checks sizes and counts that would otherwise reach libtorch.
    pub fn validate(&self) -> Result<(), String> {
        use crate::{MAX_EXTENT, MAX_RANK};
        let extents = |field: &str, values: &[i64], min: i64| -> Result<(), String> {
            if values.len() as i64 > MAX_RANK {
                return Err(format!("{field} has {} values", values.len()));
            }
            match values.iter().find(|v| !(min..=MAX_EXTENT).contains(*v)) {
                Some(bad) => Err(format!(
                    "{field} value {bad} is out of range ({min} to {MAX_EXTENT})"
                )),
                None => Ok(()),
            }
        };
        match self {
            OnnxOp::Conv {
                strides,
                pads,
                dilations,
                group,
                ..
            }
            | OnnxOp::ConvTranspose {
                strides,
                pads,
                dilations,
                group,
                ..
            } => {
                extents("strides", strides, 1)?;
                extents("pads", pads, 0)?;
                extents("dilations", dilations, 1)?;
                if let OnnxOp::ConvTranspose { output_padding, .. } = self {
                    extents("output_padding", output_padding, 0)?;
                }
                extents("group", &[*group], 1)
            }
            OnnxOp::Pool {
                kernel,
                strides,
                pads,
                dilations,
                ..
            } => {
                extents("kernel", kernel, 1)?;
                extents("strides", strides, 1)?;
                extents("pads", pads, 0)?;
                extents("dilations", dilations, 1)
            }
            OnnxOp::Lstm { hidden_size, .. } | OnnxOp::Gru { hidden_size, .. } => {
                extents("hidden_size", &[*hidden_size], 1)
            }
            OnnxOp::GroupNormalization { num_groups, .. } => {
                extents("num_groups", &[*num_groups], 1)
            }
            OnnxOp::Lrn { size, .. } => extents("size", &[*size], 1),
            OnnxOp::LpNormalization { p, .. } if !matches!(p, 1 | 2) => {
                Err(format!("p = {p} (1 or 2)"))
            }
            OnnxOp::Resize {
                scales,
                sizes,
                at_run_time,
                ..
            } => {
                extents("sizes", sizes, 0)?;
                if scales
                    .iter()
                    .any(|s| !(s.is_finite() && *s > 0.0 && *s < MAX_EXTENT as f64))
                {
                    return Err(format!("scales {scales:?} must be positive and finite"));
                }
                match at_run_time {
                    Some(_) if !(scales.is_empty() && sizes.is_empty()) => {
                        Err("scales and sizes come from bottom 1 at run time".into())
                    }
                    None if scales.is_empty() == sizes.is_empty() => {
                        Err("needs exactly one of scales and sizes".into())
                    }
                    _ => Ok(()),
                }
            }
            OnnxOp::Einsum { equation } => {
                let allowed = |c: char| c.is_ascii_alphabetic() || ",->. ".contains(c);
                if equation.is_empty() || equation.len() > 256 || !equation.chars().all(allowed) {
                    return Err(format!(
                        "einsum equation {equation:?} must be 1 to 256 letters, ',', '->', '...' and spaces"
                    ));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

//! ONNX model → zoo graph (ONNX-vocabulary layers, `zoo_graph::onnx`) plus
//! its constant tensors. Opset differences and inputs that must be known at
//! import (Clip bounds, axes, Slice ranges, pads, Resize scales) are resolved
//! here; nodes whose inputs are all constants are folded by running them once
//! with the executor's own code. Initializers stay borrowed from the model's
//! memory map until the package writer streams them.

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use tch::Kind;
use zoo_graph::onnx::{
    AutoPad, BinaryFn, Coordinates, DType, Direction, ElementReduction, NearestMode, OnnxOp,
    PadMode, PoolKind, ReduceFn, ResizeBy, ResizeMode, ScatterReduction, UnaryFn, VariadicFn,
};
use zoo_graph::{GRAPH_FORMAT, GRAPH_VERSION, Graph, GraphInput, LayerDef, Op};

use crate::error::{OnnxError, Result};
use crate::model::{Attribute, Dim, Model, Node};
use crate::proto::DataType;
use crate::tensor::Tensor;

/// Opsets this converter knows the operator meanings of.
pub const OPSETS: std::ops::RangeInclusive<i64> = 7..=22;

/// The operators [`convert`] accepts.
pub const SUPPORTED: &[&str] = &[
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "AveragePool",
    "BatchNormalization",
    "Cast",
    "Ceil",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Conv",
    "ConvTranspose",
    "Cos",
    "CumSum",
    "Div",
    "Dropout",
    "Einsum",
    "Elu",
    "Equal",
    "Erf",
    "Exp",
    "Expand",
    "Flatten",
    "Floor",
    "GRU",
    "Gather",
    "GatherElements",
    "GatherND",
    "Gelu",
    "Gemm",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Greater",
    "GreaterOrEqual",
    "GroupNormalization",
    "HardSigmoid",
    "HardSwish",
    "Identity",
    "InstanceNormalization",
    "IsInf",
    "IsNaN",
    "LRN",
    "LSTM",
    "LayerNormalization",
    "LeakyRelu",
    "Less",
    "LessOrEqual",
    "Log",
    "LogSoftmax",
    "LpNormalization",
    "MatMul",
    "Max",
    "MaxPool",
    "Mean",
    "Min",
    "Mish",
    "Mod",
    "Mul",
    "Neg",
    "NonZero",
    "Not",
    "Or",
    "PRelu",
    "Pad",
    "Pow",
    "Range",
    "Reciprocal",
    "ReduceL1",
    "ReduceL2",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceMin",
    "ReduceProd",
    "ReduceSum",
    "ReduceSumSquare",
    "Relu",
    "Reshape",
    "Resize",
    "Round",
    "Scatter",
    "ScatterElements",
    "ScatterND",
    "Selu",
    "Shape",
    "Sigmoid",
    "Sign",
    "Sin",
    "Size",
    "Slice",
    "Softmax",
    "Softplus",
    "Softsign",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tanh",
    "Tile",
    "Transpose",
    "Trilu",
    "Unsqueeze",
    "Upsample",
    "Where",
];

/// A converted model: the graph and the constants its `Constant` layers
/// hold (`<layer>/value`).
pub struct Converted {
    pub graph: Graph,
    pub tensors: Vec<Tensor>,
    /// Nodes folded into constants at import.
    pub folded: usize,
}

/// A tensor name's value during conversion.
enum Value {
    Const(Tensor),
    /// Computed by a layer at run time.
    Blob,
}

struct Converter {
    values: HashMap<String, Value>,
    layers: Vec<LayerDef>,
    layer_names: HashSet<String>,
    /// Constants already emitted as a layer (tensor name → its blob).
    emitted: HashSet<String>,
    tensors: Vec<Tensor>,
    folded: usize,
}

/// Converts `model`. Every unsupported operator is reported at once, with
/// node names and the opset; nothing is returned then.
pub fn convert(model: &Model) -> Result<Converted> {
    let opset = model.opset();
    if !OPSETS.contains(&opset) {
        return Err(OnnxError::Graph(format!(
            "opset {opset} is outside the supported {}..={}",
            OPSETS.start(),
            OPSETS.end()
        )));
    }
    let unsupported: Vec<String> = model
        .graph
        .nodes
        .iter()
        .filter(|n| {
            !(n.domain.is_empty() || n.domain == "ai.onnx")
                || !SUPPORTED.contains(&n.op_type.as_str())
        })
        .map(|n| {
            let domain = if n.domain.is_empty() {
                String::new()
            } else {
                format!("{}.", n.domain)
            };
            format!("{domain}{} (node {:?}, opset {opset})", n.op_type, n.name)
        })
        .collect();
    if !unsupported.is_empty() {
        return Err(OnnxError::Graph(format!(
            "unsupported operators: {}",
            unsupported.join(", ")
        )));
    }
    let mut c = Converter {
        values: HashMap::new(),
        layers: Vec::new(),
        layer_names: HashSet::new(),
        emitted: HashSet::new(),
        tensors: Vec::new(),
        folded: 0,
    };
    for (name, tensor) in &model.graph.initializers {
        c.values.insert(name.clone(), Value::Const(tensor.clone()));
    }
    let mut inputs = Vec::new();
    for input in &model.graph.inputs {
        c.values.insert(input.name.clone(), Value::Blob);
        inputs.push(GraphInput {
            name: input.name.clone(),
            shape: input.shape.as_ref().map(|dims| {
                dims.iter()
                    .map(|d| match d {
                        Dim::Fixed(v) => *v,
                        Dim::Free(_) => -1,
                    })
                    .collect()
            }),
        });
    }
    for node in &model.graph.nodes {
        c.node(node, opset).map_err(|e| match e {
            OnnxError::Node { .. } | OnnxError::Tensor { .. } => e,
            other => OnnxError::node(&node.name, &node.op_type, other.to_string()),
        })?;
    }
    let mut outputs = Vec::new();
    for output in &model.graph.outputs {
        c.bottom(&output.name)?;
        outputs.push(output.name.clone());
    }
    let mut graph = Graph {
        format: GRAPH_FORMAT.into(),
        version: GRAPH_VERSION,
        name: model.graph.name.clone(),
        inputs,
        outputs,
        layers: c.layers,
    };
    crate::fuse::hard_swish(&mut graph);
    graph.validate().map_err(OnnxError::Graph)?;
    Ok(Converted {
        graph,
        tensors: c.tensors,
        folded: c.folded,
    })
}

fn kind_of(dtype: DataType) -> Option<Kind> {
    Some(match dtype {
        DataType::Float => Kind::Float,
        DataType::Double => Kind::Double,
        DataType::Float16 => Kind::Half,
        DataType::Bfloat16 => Kind::BFloat16,
        DataType::Int64 => Kind::Int64,
        DataType::Int32 => Kind::Int,
        DataType::Int16 => Kind::Int16,
        DataType::Int8 => Kind::Int8,
        DataType::Uint8 => Kind::Uint8,
        DataType::Bool => Kind::Bool,
        _ => return None,
    })
}

fn dtype_of(kind: Kind) -> Option<DataType> {
    Some(match kind {
        Kind::Float => DataType::Float,
        Kind::Double => DataType::Double,
        Kind::Half => DataType::Float16,
        Kind::BFloat16 => DataType::Bfloat16,
        Kind::Int64 => DataType::Int64,
        Kind::Int => DataType::Int32,
        Kind::Int16 => DataType::Int16,
        Kind::Int8 => DataType::Int8,
        Kind::Uint8 => DataType::Uint8,
        Kind::Bool => DataType::Bool,
        _ => return None,
    })
}

/// A constant as a libtorch tensor (copied; used for folding and tests).
pub fn to_torch(t: &Tensor) -> Result<tch::Tensor> {
    let kind = kind_of(t.dtype).ok_or_else(|| {
        OnnxError::tensor(&t.name, format!("type {:?} has no tensor kind", t.dtype))
    })?;
    let dims: Vec<i64> = t.dims.iter().map(|&d| d as i64).collect();
    tch::Tensor::f_from_data_size(&t.data, &dims, kind)
        .map_err(|e| OnnxError::tensor(&t.name, e.to_string()))
}

fn from_torch(name: &str, t: &tch::Tensor) -> Result<Tensor> {
    let t = t.contiguous();
    let dtype = dtype_of(t.kind()).ok_or_else(|| {
        OnnxError::tensor(name, format!("folded to unsupported kind {:?}", t.kind()))
    })?;
    let numel = t.numel();
    let mut data = vec![0u8; numel * t.kind().elt_size_in_bytes()];
    t.f_copy_data_u8(&mut data, numel)
        .map_err(|e| OnnxError::tensor(name, e.to_string()))?;
    Ok(Tensor {
        name: name.to_owned(),
        dtype,
        dims: t.size().iter().map(|&d| d as usize).collect(),
        data: Bytes::from(data),
    })
}

fn attr_i(node: &Node, name: &str, default: i64) -> i64 {
    match node.attributes.get(name) {
        Some(Attribute::Int(v)) => *v,
        _ => default,
    }
}

/// An integer attribute the operator cannot do without.
fn required_i(node: &Node, name: &str) -> Result<i64> {
    node.attributes
        .contains_key(name)
        .then(|| attr_i(node, name, 1))
        .ok_or_else(|| err(node, format!("needs {name}")))
}

fn attr_f(node: &Node, name: &str, default: f64) -> f64 {
    match node.attributes.get(name) {
        Some(Attribute::Float(v)) => *v as f64,
        Some(Attribute::Int(v)) => *v as f64,
        _ => default,
    }
}

fn attr_ints(node: &Node, name: &str) -> Option<Vec<i64>> {
    match node.attributes.get(name) {
        Some(Attribute::Ints(v)) => Some(v.clone()),
        _ => None,
    }
}

fn attr_floats(node: &Node, name: &str) -> Option<Vec<f32>> {
    match node.attributes.get(name) {
        Some(Attribute::Floats(v)) => Some(v.clone()),
        _ => None,
    }
}

fn attr_s(node: &Node, name: &str) -> Option<String> {
    match node.attributes.get(name) {
        Some(Attribute::String(v)) => Some(String::from_utf8_lossy(v).into_owned()),
        _ => None,
    }
}

fn err(node: &Node, message: impl Into<String>) -> OnnxError {
    OnnxError::node(&node.name, &node.op_type, message)
}

fn auto_pad(node: &Node) -> Result<AutoPad> {
    Ok(
        match attr_s(node, "auto_pad").as_deref().unwrap_or("NOTSET") {
            "NOTSET" | "" => AutoPad::NotSet,
            "SAME_UPPER" => AutoPad::SameUpper,
            "SAME_LOWER" => AutoPad::SameLower,
            "VALID" => AutoPad::Valid,
            other => {
                return Err(err(
                    node,
                    format!("auto_pad {other:?} is not an ONNX value"),
                ));
            }
        },
    )
}

fn dtype_attr(node: &Node, code: i64) -> Result<DType> {
    let dtype =
        DataType::try_from(code as i32).map_err(|_| err(node, format!("unknown type {code}")))?;
    Ok(match dtype {
        DataType::Float | DataType::Float16 | DataType::Bfloat16 => DType::Float32,
        DataType::Double => DType::Float64,
        DataType::Int64 | DataType::Uint32 | DataType::Uint64 => DType::Int64,
        DataType::Int32 | DataType::Int16 | DataType::Uint16 => DType::Int32,
        DataType::Int8 => DType::Int8,
        DataType::Uint8 => DType::Uint8,
        DataType::Bool => DType::Bool,
        other => return Err(err(node, format!("type {other:?} is not supported"))),
    })
}

impl Converter {
    fn constant(&self, name: &str) -> Option<&Tensor> {
        match self.values.get(name) {
            Some(Value::Const(t)) => Some(t),
            _ => None,
        }
    }

    /// A constant input that the operator needs at import; `None` when the
    /// optional input is absent.
    fn const_input(&self, node: &Node, index: usize) -> Result<Option<&Tensor>> {
        let Some(name) = node.inputs.get(index).filter(|n| !n.is_empty()) else {
            return Ok(None);
        };
        let t = self.constant(name).ok_or_else(|| {
            err(
                node,
                format!("input {name:?} must be a constant (computed at run time here)"),
            )
        })?;
        Ok(Some(t))
    }

    /// The values of a constant input, as integers.
    fn const_ints(&self, node: &Node, index: usize) -> Result<Option<Vec<i64>>> {
        Ok(match self.const_input(node, index)? {
            Some(t) => Some(t.to_i64()?),
            None => None,
        })
    }

    /// The first value of a constant integer input (a scalar or a
    /// one-element vector).
    fn const_int(&self, node: &Node, index: usize) -> Result<Option<i64>> {
        Ok(self
            .const_ints(node, index)?
            .and_then(|v| v.first().copied()))
    }

    /// Input `index` of `node` when it is given and computed by the graph
    /// (not a constant): read at run time, as a bottom.
    fn run_time_input(&self, node: &Node, index: usize) -> Option<String> {
        node.inputs
            .get(index)
            .filter(|n| !n.is_empty() && self.constant(n).is_none())
            .cloned()
    }

    /// The values of a constant input, as floats.
    fn const_floats(&self, node: &Node, index: usize) -> Result<Option<Vec<f32>>> {
        Ok(match self.const_input(node, index)? {
            Some(t) => Some(t.to_f32()?),
            None => None,
        })
    }

    fn unique_layer(&mut self, wanted: &str) -> String {
        let base = if wanted.is_empty() { "layer" } else { wanted };
        let mut name = base.to_owned();
        let mut n = 1;
        while !self.layer_names.insert(name.clone()) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }

    /// Makes `name` available as a blob: constants get a Constant layer.
    fn bottom(&mut self, name: &str) -> Result<String> {
        match self.values.get(name) {
            Some(Value::Blob) => Ok(name.to_owned()),
            Some(Value::Const(t)) => {
                let t = t.clone();
                if self.emitted.insert(name.to_owned()) {
                    let layer = self.unique_layer(name);
                    let mut tensor = t;
                    tensor.name = format!("{layer}/value");
                    self.tensors.push(tensor);
                    self.layers.push(LayerDef {
                        name: layer,
                        op: Op::Onnx(OnnxOp::Constant),
                        bottoms: Vec::new(),
                        tops: vec![name.to_owned()],
                    });
                }
                Ok(name.to_owned())
            }
            None => Err(OnnxError::Graph(format!("tensor {name:?} is not defined"))),
        }
    }

    /// A Constant node: its value joins the constants (emitted as a layer
    /// only where a layer reads it).
    fn constant_node(&mut self, node: &Node) -> Result<()> {
        let name = node
            .outputs
            .first()
            .cloned()
            .ok_or_else(|| err(node, "has no output"))?;
        let mut tensor = match node.attributes.iter().next() {
            Some((_, Attribute::Tensor(t))) => t.clone(),
            Some((key, Attribute::Float(v))) if key == "value_float" => {
                scalar_f32(&name, &[*v], &[])
            }
            Some((key, Attribute::Floats(v))) if key == "value_floats" => {
                scalar_f32(&name, v, &[v.len()])
            }
            Some((key, Attribute::Int(v))) if key == "value_int" => scalar_i64(&name, &[*v], &[]),
            Some((key, Attribute::Ints(v))) if key == "value_ints" => {
                scalar_i64(&name, v, &[v.len()])
            }
            _ => {
                return Err(err(
                    node,
                    "needs a value, value_float(s) or value_int(s) attribute",
                ));
            }
        };
        tensor.name = name.clone();
        self.values.insert(name, Value::Const(tensor));
        self.folded += 1;
        Ok(())
    }

    fn node(&mut self, node: &Node, opset: i64) -> Result<()> {
        if node.op_type == "Constant" {
            return self.constant_node(node);
        }
        if node.outputs.iter().all(|o| o.is_empty()) {
            return Err(err(node, "has no output"));
        }
        let Some((op, inputs)) = self.op_of(node, opset)? else {
            // Identity-like: the outputs are the input's value.
            let source = node.inputs.first().cloned().unwrap_or_default();
            let value = match self.values.get(&source) {
                Some(Value::Const(t)) => Value::Const(t.clone()),
                Some(Value::Blob) => {
                    self.emit(node, OnnxOp::Identity, vec![source])?;
                    return Ok(());
                }
                None => return Err(err(node, format!("input {source:?} is not defined"))),
            };
            if let Some(out) = node.outputs.first() {
                self.values.insert(out.clone(), value);
            }
            return Ok(());
        };
        let all_const = inputs.iter().all(|i| self.constant(i).is_some());
        let recurrent = matches!(op, OnnxOp::Lstm { .. } | OnnxOp::Gru { .. });
        if all_const && !recurrent {
            let xs = inputs
                .iter()
                .map(|i| self.constant(i).map(to_torch).transpose())
                .collect::<Result<Option<Vec<_>>>>()?
                .unwrap_or_default();
            let outputs: Vec<&String> = node.outputs.iter().filter(|o| !o.is_empty()).collect();
            let ys = tch::no_grad(|| {
                zoo_nn::guard::no_panic(|| {
                    zoo_nn::graph::ops_onnx::forward(
                        &op,
                        &xs,
                        outputs.len(),
                        &Default::default(),
                        &Default::default(),
                    )
                })
            })
            .map_err(|e| err(node, format!("folding at import: {e}")))?;
            for (name, y) in outputs.into_iter().zip(ys) {
                let t = from_torch(name, &y)?;
                self.values.insert(name.clone(), Value::Const(t));
            }
            self.folded += 1;
            return Ok(());
        }
        self.emit(node, op, inputs)
    }

    fn emit(&mut self, node: &Node, op: OnnxOp, inputs: Vec<String>) -> Result<()> {
        let bottoms = inputs
            .iter()
            .map(|i| self.bottom(i))
            .collect::<Result<Vec<_>>>()?;
        let tops: Vec<String> = node
            .outputs
            .iter()
            .enumerate()
            .map(|(i, o)| {
                if o.is_empty() {
                    format!("{}:unused{i}", node.name)
                } else {
                    o.clone()
                }
            })
            .collect();
        // Dropout's mask and unused recurrent outputs: only the first top
        // of Identity is produced.
        let tops = if matches!(op, OnnxOp::Identity) {
            tops[..1].to_vec()
        } else {
            tops
        };
        for top in &tops {
            self.values.insert(top.clone(), Value::Blob);
        }
        let name = self.unique_layer(&node.name);
        self.layers.push(LayerDef {
            name,
            op: Op::Onnx(op),
            bottoms,
            tops,
        });
        Ok(())
    }

    /// The layer for `node` and the tensor names it reads; `None` for
    /// Identity and Dropout (the output is the input).
    fn op_of(&mut self, node: &Node, opset: i64) -> Result<Option<(OnnxOp, Vec<String>)>> {
        let ins: Vec<String> = node.inputs.clone();
        let first = |n: usize| {
            ins.iter()
                .take(n)
                .filter(|s| !s.is_empty())
                .cloned()
                .collect::<Vec<_>>()
        };
        let unary = |func| Ok(Some((OnnxOp::Unary { func }, first(1))));
        let binary = |func| Ok(Some((OnnxOp::Binary { func }, first(2))));
        let ints_or = |name: &str, default: Vec<i64>| attr_ints(node, name).unwrap_or(default);
        // An attribute that became an input: a model that still sets it is
        // invalid at this opset (ONNX Runtime refuses it too), and reading
        // the input alone would silently drop it.
        let moved: &[(&str, i64)] = match node.op_type.as_str() {
            "ReduceSum" => &[("axes", 13)],
            op if op.starts_with("Reduce") => &[("axes", 18)],
            "Squeeze" | "Unsqueeze" => &[("axes", 13)],
            "Split" => &[("split", 13)],
            "Pad" => &[("pads", 11), ("value", 11)],
            "Clip" => &[("min", 11), ("max", 11)],
            _ => &[],
        };
        if let Some((attribute, since)) = moved
            .iter()
            .find(|(attribute, since)| opset >= *since && node.attributes.contains_key(*attribute))
        {
            return Err(err(
                node,
                format!(
                    "the {attribute} attribute is an input from opset {since} on (this model: opset {opset})"
                ),
            ));
        }
        let op = match node.op_type.as_str() {
            "Identity" | "Dropout" => return Ok(None),
            "Conv" => (
                OnnxOp::Conv {
                    strides: ints_or("strides", vec![]),
                    pads: ints_or("pads", vec![]),
                    dilations: ints_or("dilations", vec![]),
                    group: attr_i(node, "group", 1),
                    auto_pad: auto_pad(node)?,
                },
                first(3),
            ),
            "ConvTranspose" => {
                if attr_ints(node, "output_shape").is_some() {
                    return Err(err(node, "output_shape is not supported (give pads)"));
                }
                if !matches!(auto_pad(node)?, AutoPad::NotSet | AutoPad::Valid) {
                    return Err(err(node, "auto_pad SAME_* is not supported (give pads)"));
                }
                (
                    OnnxOp::ConvTranspose {
                        strides: ints_or("strides", vec![]),
                        pads: ints_or("pads", vec![]),
                        dilations: ints_or("dilations", vec![]),
                        output_padding: ints_or("output_padding", vec![]),
                        group: attr_i(node, "group", 1),
                    },
                    first(3),
                )
            }
            "BatchNormalization" => (
                OnnxOp::BatchNormalization {
                    epsilon: attr_f(node, "epsilon", 1e-5),
                },
                first(5),
            ),
            "InstanceNormalization" => (
                OnnxOp::InstanceNormalization {
                    epsilon: attr_f(node, "epsilon", 1e-5),
                },
                first(3),
            ),
            "LayerNormalization" => (
                OnnxOp::LayerNormalization {
                    axis: attr_i(node, "axis", -1),
                    epsilon: attr_f(node, "epsilon", 1e-5),
                },
                first(3),
            ),
            "GroupNormalization" => (
                OnnxOp::GroupNormalization {
                    num_groups: required_i(node, "num_groups")?,
                    epsilon: attr_f(node, "epsilon", 1e-5),
                    per_group_scale: opset < 21,
                },
                first(3),
            ),
            "LRN" => (
                OnnxOp::Lrn {
                    size: required_i(node, "size")?,
                    alpha: attr_f(node, "alpha", 1e-4),
                    beta: attr_f(node, "beta", 0.75),
                    bias: attr_f(node, "bias", 1.0),
                },
                first(1),
            ),
            "LpNormalization" => (
                OnnxOp::LpNormalization {
                    axis: attr_i(node, "axis", -1),
                    p: attr_i(node, "p", 2),
                },
                first(1),
            ),
            "Relu" => return unary(UnaryFn::Relu),
            "Sigmoid" => return unary(UnaryFn::Sigmoid),
            "Tanh" => return unary(UnaryFn::Tanh),
            "Erf" => return unary(UnaryFn::Erf),
            "Abs" => return unary(UnaryFn::Abs),
            "Neg" => return unary(UnaryFn::Neg),
            "Exp" => return unary(UnaryFn::Exp),
            "Log" => return unary(UnaryFn::Log),
            "Sqrt" => return unary(UnaryFn::Sqrt),
            "Reciprocal" => return unary(UnaryFn::Reciprocal),
            "Floor" => return unary(UnaryFn::Floor),
            "Ceil" => return unary(UnaryFn::Ceil),
            "Round" => return unary(UnaryFn::Round),
            "Softplus" => return unary(UnaryFn::Softplus),
            "HardSwish" => return unary(UnaryFn::HardSwish),
            "Not" => return unary(UnaryFn::Not),
            "Sin" => return unary(UnaryFn::Sin),
            "Cos" => return unary(UnaryFn::Cos),
            "Sign" => return unary(UnaryFn::Sign),
            "Softsign" => return unary(UnaryFn::Softsign),
            "Mish" => return unary(UnaryFn::Mish),
            "IsNaN" => return unary(UnaryFn::IsNaN),
            "IsInf" => (
                OnnxOp::IsInf {
                    positive: attr_i(node, "detect_positive", 1) != 0,
                    negative: attr_i(node, "detect_negative", 1) != 0,
                },
                first(1),
            ),
            "CumSum" => {
                let axis = self
                    .const_int(node, 1)?
                    .ok_or_else(|| err(node, "needs a constant axis"))?;
                (
                    OnnxOp::CumSum {
                        axis,
                        exclusive: attr_i(node, "exclusive", 0) != 0,
                        reverse: attr_i(node, "reverse", 0) != 0,
                    },
                    first(1),
                )
            }
            "Trilu" => {
                let k = self.const_int(node, 1)?.unwrap_or(0);
                (
                    OnnxOp::Trilu {
                        upper: attr_i(node, "upper", 1) != 0,
                        k,
                    },
                    first(1),
                )
            }
            "ArgMax" | "ArgMin" => (
                OnnxOp::ArgExtreme {
                    max: node.op_type == "ArgMax",
                    axis: attr_i(node, "axis", 0),
                    keepdims: attr_i(node, "keepdims", 1) != 0,
                    select_last_index: attr_i(node, "select_last_index", 0) != 0,
                },
                first(1),
            ),
            "GatherElements" => (
                OnnxOp::GatherElements {
                    axis: attr_i(node, "axis", 0),
                },
                first(2),
            ),
            "Size" => (OnnxOp::Size, first(1)),
            "NonZero" => (OnnxOp::NonZero, first(1)),
            "GatherND" => {
                if attr_i(node, "batch_dims", 0) != 0 {
                    return Err(err(node, "batch_dims other than 0 is not supported"));
                }
                (OnnxOp::GatherNd, first(2))
            }
            "ScatterElements" | "Scatter" => {
                let reduction = match attr_s(node, "reduction").as_deref() {
                    None | Some("none") => ElementReduction::None,
                    Some("add") => ElementReduction::Add,
                    Some("mul") => ElementReduction::Mul,
                    Some(other) => {
                        return Err(err(node, format!("reduction {other:?} is not supported")));
                    }
                };
                (
                    OnnxOp::ScatterElements {
                        axis: attr_i(node, "axis", 0),
                        reduction,
                    },
                    first(3),
                )
            }
            "LeakyRelu" => (
                OnnxOp::LeakyRelu {
                    alpha: attr_f(node, "alpha", 0.01),
                },
                first(1),
            ),
            "Elu" => (
                OnnxOp::Elu {
                    alpha: attr_f(node, "alpha", 1.0),
                },
                first(1),
            ),
            "Selu" => (
                OnnxOp::Selu {
                    alpha: attr_f(node, "alpha", 1.673_263_192_176_818_8),
                    gamma: attr_f(node, "gamma", 1.050_701_022_148_132_3),
                },
                first(1),
            ),
            "HardSigmoid" => (
                OnnxOp::HardSigmoid {
                    alpha: attr_f(node, "alpha", 0.2),
                    beta: attr_f(node, "beta", 0.5),
                },
                first(1),
            ),
            "Gelu" => (
                OnnxOp::Gelu {
                    tanh: attr_s(node, "approximate").as_deref() == Some("tanh"),
                },
                first(1),
            ),
            "PRelu" => (OnnxOp::PRelu, first(2)),
            "Clip" => {
                let (min, max) = if opset < 11 {
                    (
                        node.attributes
                            .contains_key("min")
                            .then(|| attr_f(node, "min", 0.0)),
                        node.attributes
                            .contains_key("max")
                            .then(|| attr_f(node, "max", 0.0)),
                    )
                } else {
                    let bound = |i| -> Result<Option<f64>> {
                        Ok(self
                            .const_floats(node, i)?
                            .and_then(|v| v.first().map(|&f| f as f64)))
                    };
                    (bound(1)?, bound(2)?)
                };
                (OnnxOp::Clip { min, max }, first(1))
            }
            "Softmax" | "LogSoftmax" => (
                OnnxOp::Softmax {
                    axis: attr_i(node, "axis", if opset < 13 { 1 } else { -1 }),
                    legacy: opset < 13,
                    log: node.op_type == "LogSoftmax",
                },
                first(1),
            ),
            "MaxPool" | "AveragePool" => {
                if node.outputs.iter().skip(1).any(|o| !o.is_empty()) {
                    return Err(err(node, "the Indices output is not supported"));
                }
                if attr_i(node, "storage_order", 0) != 0 {
                    return Err(err(node, "storage_order 1 is not supported"));
                }
                let kernel = attr_ints(node, "kernel_shape")
                    .ok_or_else(|| err(node, "needs kernel_shape"))?;
                (
                    OnnxOp::Pool {
                        method: if node.op_type == "MaxPool" {
                            PoolKind::Max
                        } else {
                            PoolKind::Average
                        },
                        kernel,
                        strides: ints_or("strides", vec![]),
                        pads: ints_or("pads", vec![]),
                        dilations: ints_or("dilations", vec![]),
                        ceil_mode: attr_i(node, "ceil_mode", 0) != 0,
                        count_include_pad: attr_i(node, "count_include_pad", 0) != 0,
                        auto_pad: auto_pad(node)?,
                    },
                    first(1),
                )
            }
            "GlobalAveragePool" => (
                OnnxOp::GlobalPool {
                    method: PoolKind::Average,
                },
                first(1),
            ),
            "GlobalMaxPool" => (
                OnnxOp::GlobalPool {
                    method: PoolKind::Max,
                },
                first(1),
            ),
            "Gemm" => (
                OnnxOp::Gemm {
                    alpha: attr_f(node, "alpha", 1.0),
                    beta: attr_f(node, "beta", 1.0),
                    trans_a: attr_i(node, "transA", 0) != 0,
                    trans_b: attr_i(node, "transB", 0) != 0,
                },
                first(3),
            ),
            "MatMul" => (OnnxOp::MatMul, first(2)),
            "Add" => return binary(BinaryFn::Add),
            "Sub" => return binary(BinaryFn::Sub),
            "Mul" => return binary(BinaryFn::Mul),
            "Div" => return binary(BinaryFn::Div),
            "Pow" => return binary(BinaryFn::Pow),
            "Equal" => return binary(BinaryFn::Equal),
            "Greater" => return binary(BinaryFn::Greater),
            "Less" => return binary(BinaryFn::Less),
            "GreaterOrEqual" => return binary(BinaryFn::GreaterOrEqual),
            "LessOrEqual" => return binary(BinaryFn::LessOrEqual),
            "And" => return binary(BinaryFn::And),
            "Or" => return binary(BinaryFn::Or),
            "Mod" => {
                return binary(if attr_i(node, "fmod", 0) != 0 {
                    BinaryFn::Fmod
                } else {
                    BinaryFn::Mod
                });
            }
            "Einsum" => {
                let equation =
                    attr_s(node, "equation").ok_or_else(|| err(node, "needs an equation"))?;
                (OnnxOp::Einsum { equation }, first(usize::MAX))
            }
            "Range" => (OnnxOp::Range, first(3)),
            "ScatterND" => {
                let reduction = match attr_s(node, "reduction").as_deref() {
                    None | Some("none") => ScatterReduction::None,
                    Some("add") => ScatterReduction::Add,
                    Some(other) => {
                        return Err(err(node, format!("reduction {other:?} is not supported")));
                    }
                };
                (OnnxOp::ScatterNd { reduction }, first(3))
            }
            "Min" | "Max" | "Sum" | "Mean" => {
                let func = match node.op_type.as_str() {
                    "Min" => VariadicFn::Min,
                    "Max" => VariadicFn::Max,
                    "Sum" => VariadicFn::Sum,
                    _ => VariadicFn::Mean,
                };
                (OnnxOp::Variadic { func }, first(usize::MAX))
            }
            "ReduceMean" | "ReduceSum" | "ReduceMax" | "ReduceMin" | "ReduceProd" | "ReduceL1"
            | "ReduceL2" | "ReduceSumSquare" | "ReduceLogSumExp" => {
                let func = match node.op_type.as_str() {
                    "ReduceMean" => ReduceFn::Mean,
                    "ReduceSum" => ReduceFn::Sum,
                    "ReduceMax" => ReduceFn::Max,
                    "ReduceMin" => ReduceFn::Min,
                    "ReduceL1" => ReduceFn::L1,
                    "ReduceL2" => ReduceFn::L2,
                    "ReduceSumSquare" => ReduceFn::SumSquare,
                    "ReduceLogSumExp" => ReduceFn::LogSumExp,
                    _ => ReduceFn::Prod,
                };
                // Axes became an input: ReduceSum at 13, the others at 18.
                let as_input = if func == ReduceFn::Sum {
                    opset >= 13
                } else {
                    opset >= 18
                };
                let axes = if as_input {
                    self.const_ints(node, 1)?.unwrap_or_default()
                } else {
                    ints_or("axes", vec![])
                };
                (
                    OnnxOp::Reduce {
                        func,
                        axes,
                        keepdims: attr_i(node, "keepdims", 1) != 0,
                        noop_with_empty_axes: as_input
                            && attr_i(node, "noop_with_empty_axes", 0) != 0,
                    },
                    first(1),
                )
            }
            "Concat" => (
                OnnxOp::Concat {
                    axis: attr_i(node, "axis", 0),
                },
                first(usize::MAX),
            ),
            "Split" => {
                let split = if opset >= 13 {
                    self.const_ints(node, 1)?.unwrap_or_default()
                } else {
                    ints_or("split", vec![])
                };
                (
                    OnnxOp::Split {
                        axis: attr_i(node, "axis", 0),
                        split,
                    },
                    first(1),
                )
            }
            "Slice" => {
                let known = (1..5).all(|i| {
                    node.inputs
                        .get(i)
                        .is_none_or(|s| s.is_empty() || self.constant(s).is_some())
                });
                if opset >= 10 && !known {
                    // Ranges computed by the graph (x.chunk in exports):
                    // read at run time; absent inputs only at the end.
                    let given: Vec<bool> = (1..5)
                        .map(|i| node.inputs.get(i).is_some_and(|s| !s.is_empty()))
                        .collect();
                    if given.windows(2).any(|w| !w[0] && w[1]) {
                        return Err(err(
                            node,
                            "steps without axes computed at run time is not supported",
                        ));
                    }
                    let op = OnnxOp::Slice {
                        starts: vec![],
                        ends: vec![],
                        axes: vec![],
                        steps: vec![],
                        at_run_time: true,
                    };
                    return Ok(Some((op, first(5))));
                }
                let (starts, ends, axes, steps) = if opset < 10 {
                    (
                        ints_or("starts", vec![]),
                        ints_or("ends", vec![]),
                        ints_or("axes", vec![]),
                        vec![],
                    )
                } else {
                    (
                        self.const_ints(node, 1)?.unwrap_or_default(),
                        self.const_ints(node, 2)?.unwrap_or_default(),
                        self.const_ints(node, 3)?.unwrap_or_default(),
                        self.const_ints(node, 4)?.unwrap_or_default(),
                    )
                };
                if starts.len() != ends.len() {
                    return Err(err(
                        node,
                        format!("{} starts for {} ends", starts.len(), ends.len()),
                    ));
                }
                (
                    OnnxOp::Slice {
                        starts,
                        ends,
                        axes,
                        steps,
                        at_run_time: false,
                    },
                    first(1),
                )
            }
            "Gather" => (
                OnnxOp::Gather {
                    axis: attr_i(node, "axis", 0),
                },
                first(2),
            ),
            "Reshape" => {
                if opset < 5 {
                    return Err(err(node, "Reshape before opset 5 is not supported"));
                }
                (
                    OnnxOp::Reshape {
                        allowzero: attr_i(node, "allowzero", 0) != 0,
                    },
                    first(2),
                )
            }
            "Flatten" => (
                OnnxOp::Flatten {
                    axis: attr_i(node, "axis", 1),
                },
                first(1),
            ),
            "Transpose" => (
                OnnxOp::Transpose {
                    perm: ints_or("perm", vec![]),
                },
                first(1),
            ),
            "Squeeze" | "Unsqueeze" => {
                let axes = if opset >= 13 {
                    self.const_ints(node, 1)?.unwrap_or_default()
                } else {
                    ints_or("axes", vec![])
                };
                if node.op_type == "Squeeze" {
                    (OnnxOp::Squeeze { axes }, first(1))
                } else {
                    (OnnxOp::Unsqueeze { axes }, first(1))
                }
            }
            "Expand" => (OnnxOp::Expand, first(2)),
            "Tile" => (OnnxOp::Tile, first(2)),
            "Pad" => {
                let mode = match attr_s(node, "mode").as_deref().unwrap_or("constant") {
                    "constant" => PadMode::Constant,
                    "reflect" => PadMode::Reflect,
                    "edge" => PadMode::Edge,
                    other => return Err(err(node, format!("mode {other:?} is not supported"))),
                };
                if opset < 11 {
                    let pads = ints_or("pads", vec![]);
                    let value = attr_f(node, "value", 0.0);
                    let at_run_time = false;
                    return Ok(Some((
                        OnnxOp::Pad {
                            mode,
                            pads,
                            value,
                            at_run_time,
                        },
                        first(1),
                    )));
                }
                if node.inputs.get(3).is_some_and(|s| !s.is_empty()) {
                    return Err(err(node, "the axes input is not supported"));
                }
                let value = self
                    .const_floats(node, 2)?
                    .and_then(|v| v.first().map(|&f| f as f64))
                    .unwrap_or(0.0);
                // Pads the graph computes (Swin pads its windows to the
                // input's size): read at run time.
                match self.run_time_input(node, 1) {
                    Some(pads) => (
                        OnnxOp::Pad {
                            mode,
                            pads: vec![],
                            value,
                            at_run_time: true,
                        },
                        vec![node.inputs[0].clone(), pads],
                    ),
                    None => (
                        OnnxOp::Pad {
                            mode,
                            pads: self.const_ints(node, 1)?.unwrap_or_default(),
                            value,
                            at_run_time: false,
                        },
                        first(1),
                    ),
                }
            }
            "Upsample" => {
                let mode = resize_mode(node)?;
                let scales: Vec<f64> = if opset < 9 {
                    attr_floats(node, "scales").unwrap_or_default()
                } else {
                    self.const_floats(node, 1)?.unwrap_or_default()
                }
                .into_iter()
                .map(f64::from)
                .collect();
                (
                    OnnxOp::Resize {
                        mode,
                        coordinates: Coordinates::Asymmetric,
                        nearest: NearestMode::Floor,
                        scales,
                        sizes: vec![],
                        at_run_time: None,
                    },
                    first(1),
                )
            }
            "Resize" => {
                let mode = resize_mode(node)?;
                let coordinates = match attr_s(node, "coordinate_transformation_mode").as_deref() {
                    None if opset < 11 => Coordinates::Asymmetric,
                    None | Some("half_pixel") => Coordinates::HalfPixel,
                    Some("pytorch_half_pixel") => Coordinates::PytorchHalfPixel,
                    Some("align_corners") => Coordinates::AlignCorners,
                    Some("asymmetric") => Coordinates::Asymmetric,
                    Some(other) => {
                        return Err(err(
                            node,
                            format!("coordinate_transformation_mode {other:?} is not supported"),
                        ));
                    }
                };
                let nearest = match attr_s(node, "nearest_mode").as_deref() {
                    _ if opset < 11 => NearestMode::Floor,
                    None | Some("round_prefer_floor") => NearestMode::RoundPreferFloor,
                    Some("round_prefer_ceil") => NearestMode::RoundPreferCeil,
                    Some("floor") => NearestMode::Floor,
                    Some("ceil") => NearestMode::Ceil,
                    Some(other) => {
                        return Err(err(
                            node,
                            format!("nearest_mode {other:?} is not supported"),
                        ));
                    }
                };
                if node.attributes.contains_key("axes") {
                    return Err(err(node, "the axes attribute is not supported"));
                }
                let (scales_at, sizes_at) = if opset < 11 { (1, usize::MAX) } else { (2, 3) };
                if attr_i(node, "exclude_outside", 0) != 0 {
                    return Err(err(node, "exclude_outside is not supported"));
                }
                // Sizes or scales the graph computes (a segmentation head
                // resized to its input's size): read at run time.
                let given = |i: usize| node.inputs.get(i).is_some_and(|n| !n.is_empty());
                let run_time = match (
                    self.run_time_input(node, sizes_at),
                    self.run_time_input(node, scales_at),
                ) {
                    (Some(sizes), _) => Some((ResizeBy::Sizes, sizes)),
                    (None, Some(scales)) if !given(sizes_at) => Some((ResizeBy::Scales, scales)),
                    _ => None,
                };
                if let Some((by, input)) = run_time {
                    let op = OnnxOp::Resize {
                        mode,
                        coordinates,
                        nearest,
                        scales: vec![],
                        sizes: vec![],
                        at_run_time: Some(by),
                    };
                    return Ok(Some((op, vec![node.inputs[0].clone(), input])));
                }
                let scales: Vec<f64> = self
                    .const_floats(node, scales_at)?
                    .unwrap_or_default()
                    .into_iter()
                    .map(f64::from)
                    .collect();
                let sizes = self.const_ints(node, sizes_at)?.unwrap_or_default();
                (
                    OnnxOp::Resize {
                        mode,
                        coordinates,
                        nearest,
                        scales: if sizes.is_empty() { scales } else { vec![] },
                        sizes,
                        at_run_time: None,
                    },
                    first(1),
                )
            }
            "Shape" => (
                OnnxOp::Shape {
                    start: attr_i(node, "start", 0),
                    end: node
                        .attributes
                        .contains_key("end")
                        .then(|| attr_i(node, "end", 0)),
                },
                first(1),
            ),
            "ConstantOfShape" => {
                let (value, dtype) = match node.attributes.get("value") {
                    Some(Attribute::Tensor(t)) => (
                        t.to_f32()?.first().copied().unwrap_or(0.0) as f64,
                        dtype_attr(node, t.dtype as i64)?,
                    ),
                    _ => (0.0, DType::Float32),
                };
                (OnnxOp::ConstantOfShape { value, dtype }, first(1))
            }
            "Cast" => (
                OnnxOp::Cast {
                    to: dtype_attr(node, attr_i(node, "to", 1))?,
                },
                first(1),
            ),
            "Where" => (OnnxOp::Where, first(3)),
            "LSTM" | "GRU" => return self.recurrent(node).map(Some),
            other => return Err(err(node, format!("{other} is not supported"))),
        };
        Ok(Some(op))
    }

    fn recurrent(&mut self, node: &Node) -> Result<(OnnxOp, Vec<String>)> {
        let lstm = node.op_type == "LSTM";
        let gates = if lstm { 4 } else { 3 };
        if attr_i(node, "layout", 0) != 0 {
            return Err(err(node, "layout 1 is not supported"));
        }
        if node.attributes.contains_key("clip") || attr_i(node, "input_forget", 0) != 0 {
            return Err(err(node, "clip and input_forget are not supported"));
        }
        if let Some(Attribute::Strings(acts)) = node.attributes.get("activations") {
            let expected: &[&str] = if lstm {
                &["Sigmoid", "Tanh", "Tanh"]
            } else {
                &["Sigmoid", "Tanh"]
            };
            let ok = acts
                .iter()
                .enumerate()
                .all(|(i, a)| a.as_ref() == expected[i % expected.len()].as_bytes());
            if !ok {
                return Err(err(node, "only the default activations are supported"));
            }
        }
        let input = |i: usize| node.inputs.get(i).filter(|s| !s.is_empty()).cloned();
        if input(4).is_some() {
            return Err(err(node, "sequence_lens is not supported"));
        }
        if lstm && input(7).is_some() {
            return Err(err(node, "peepholes (input P) are not supported"));
        }
        let hidden = attr_i(node, "hidden_size", 0);
        let direction = match attr_s(node, "direction").as_deref().unwrap_or("forward") {
            "forward" => Direction::Forward,
            "reverse" => Direction::Reverse,
            "bidirectional" => Direction::Bidirectional,
            other => return Err(err(node, format!("direction {other:?}"))),
        };
        let (x, w, r) = match (input(0), input(1), input(2)) {
            (Some(x), Some(w), Some(r)) => (x, w, r),
            _ => return Err(err(node, "needs X, W and R")),
        };
        let bias = match input(3) {
            Some(b) => b,
            None => {
                // An absent bias is zeros: a constant of (dirs, 2·gates·hidden).
                let dirs = if direction == Direction::Bidirectional {
                    2
                } else {
                    1
                };
                let name = format!("{}:zero_bias", node.name);
                let len = (dirs * 2 * gates * hidden).max(0) as usize;
                self.values.insert(
                    name.clone(),
                    Value::Const(scalar_f32(
                        &name,
                        &vec![0.0; len],
                        &[dirs as usize, len / dirs as usize],
                    )),
                );
                name
            }
        };
        let mut bottoms = vec![x, w, r, bias];
        let h0 = input(5);
        let c0 = if lstm { input(6) } else { None };
        bottoms.extend(h0.clone());
        bottoms.extend(c0.clone());
        let op = if lstm {
            OnnxOp::Lstm {
                hidden_size: hidden,
                direction,
                has_initial_h: h0.is_some(),
                has_initial_c: c0.is_some(),
            }
        } else {
            OnnxOp::Gru {
                hidden_size: hidden,
                direction,
                linear_before_reset: attr_i(node, "linear_before_reset", 0) != 0,
                has_initial_h: h0.is_some(),
            }
        };
        Ok((op, bottoms))
    }
}

fn resize_mode(node: &Node) -> Result<ResizeMode> {
    Ok(match attr_s(node, "mode").as_deref().unwrap_or("nearest") {
        "nearest" => ResizeMode::Nearest,
        "linear" | "bilinear" => ResizeMode::Linear,
        other => return Err(err(node, format!("mode {other:?} is not supported"))),
    })
}

fn scalar_f32(name: &str, values: &[f32], dims: &[usize]) -> Tensor {
    let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    constant_tensor(name, DataType::Float, dims, data)
}

fn scalar_i64(name: &str, values: &[i64], dims: &[usize]) -> Tensor {
    let data = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    constant_tensor(name, DataType::Int64, dims, data)
}

/// A tensor of `dims` whose values are `data`, little-endian as ONNX stores them.
fn constant_tensor(name: &str, dtype: DataType, dims: &[usize], data: Vec<u8>) -> Tensor {
    Tensor {
        name: name.to_owned(),
        dtype,
        dims: dims.to_vec(),
        data: Bytes::from(data),
    }
}

/// The converted constants by parameter name, as libtorch tensors (for
/// running a converted graph in memory, e.g. in tests).
pub fn torch_tensors(converted: &Converted) -> Result<BTreeMap<String, tch::Tensor>> {
    converted
        .tensors
        .iter()
        .map(|t| Ok((t.name.clone(), to_torch(t)?)))
        .collect()
}

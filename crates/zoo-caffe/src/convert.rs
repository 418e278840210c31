//! Caffe layers → zoo graph layers and named parameter tensors, following
//! Caffe's semantics (inference mode). Each layer's parameters are checked
//! against its blobs; every error names the layer and its type.

use crate::error::{CaffeError, Result};
use crate::net::{NetInput, NetLayer};
use crate::proto::{EltwiseOp as PEltwise, NormRegion, PoolMethod as PPool, RoundMode as PRound};
use crate::wire::{Blob, BlobData};
use std::collections::{HashMap, HashSet};
use zoo_graph::{
    ConvParams, EltwiseOp, GRAPH_FORMAT, GRAPH_VERSION, Graph, GraphInput, LayerDef, LrnRegion, Op,
    PoolMethod, PoolParams, RoundMode, SUPPORTED_TYPES,
};

/// A parameter tensor of the output: f32, C order, named `<layer>/<role>`.
#[derive(Debug, Clone)]
pub struct NamedTensor<'a> {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: BlobData<'a>,
}

/// Layers that feed data or compute losses: not part of an inference graph.
/// Their tops (`data`, `label`) become graph inputs when a kept layer reads them.
const DATA_TYPES: &[&str] = &[
    "Data",
    "ImageData",
    "MemoryData",
    "HDF5Data",
    "WindowData",
    "DummyData",
    "Python",
];
const SKIPPED_TYPES: &[&str] = &[
    "Accuracy",
    "SoftmaxWithLoss",
    "EuclideanLoss",
    "HingeLoss",
    "InfogainLoss",
    "MultinomialLogisticLoss",
    "SigmoidCrossEntropyLoss",
    "ContrastiveLoss",
    "Silence",
    "HDF5Output",
];

/// Builds the graph from `structure` (prototxt or caffemodel layers) with the
/// blobs of `weights` (caffemodel layers by name; a layer not found there
/// uses blobs embedded in the structure, if any).
pub fn convert<'a>(
    name: &str,
    declared: Vec<NetInput>,
    structure: &[NetLayer<'a>],
    weights: &HashMap<String, Vec<Blob<'a>>>,
) -> Result<(Graph, Vec<NamedTensor<'a>>)> {
    let mut inputs: Vec<GraphInput> = declared
        .into_iter()
        .map(|i| GraphInput {
            name: i.name,
            shape: i.shape,
        })
        .collect();
    let mut known: HashSet<String> = inputs.iter().map(|i| i.name.clone()).collect();
    let data_tops: HashSet<&str> = structure
        .iter()
        .filter(|l| DATA_TYPES.contains(&l.kind.as_str()))
        .flat_map(|l| l.tops.iter().map(String::as_str))
        .collect();
    let mut names = HashSet::new();
    let mut layers = Vec::new();
    let mut tensors = Vec::new();
    for layer in structure {
        let kind = layer.kind.as_str();
        if kind == "Input" || DATA_TYPES.contains(&kind) || SKIPPED_TYPES.contains(&kind) {
            continue;
        }
        if !names.insert(layer.name.clone()) {
            return Err(CaffeError::Invalid(format!(
                "two layers are named {:?}; zoo names parameters by layer",
                layer.name
            )));
        }
        for bottom in &layer.bottoms {
            if known.contains(bottom) {
                continue;
            }
            if data_tops.contains(bottom.as_str()) {
                inputs.push(GraphInput {
                    name: bottom.clone(),
                    shape: None,
                });
                known.insert(bottom.clone());
                continue;
            }
            return Err(layer_error(
                layer,
                format!("reads blob {bottom:?}, which no input or earlier layer provides"),
            ));
        }
        let blobs: &[Blob<'a>] = match weights.get(&layer.name) {
            Some(blobs) if !blobs.is_empty() => blobs,
            _ => &layer.blobs,
        };
        let (op, params) = convert_layer(layer, blobs)?;
        for (role, shape, data) in params {
            tensors.push(NamedTensor {
                name: format!("{}/{role}", layer.name),
                shape,
                data,
            });
        }
        known.extend(layer.tops.iter().cloned());
        layers.push(LayerDef {
            name: layer.name.clone(),
            op,
            bottoms: layer.bottoms.clone(),
            tops: layer.tops.clone(),
        });
    }
    let outputs = final_outputs(&layers);
    let graph = Graph {
        format: GRAPH_FORMAT.to_string(),
        version: GRAPH_VERSION,
        name: name.to_string(),
        inputs,
        outputs,
        layers,
    };
    Ok((graph, tensors))
}

/// Tops that no later layer consumes (reading a blob in place does not consume it).
fn final_outputs(layers: &[LayerDef]) -> Vec<String> {
    let mut outputs: Vec<String> = Vec::new();
    for layer in layers {
        for bottom in &layer.bottoms {
            if !layer.tops.contains(bottom) {
                outputs.retain(|o| o != bottom);
            }
        }
        for top in &layer.tops {
            if !outputs.contains(top) {
                outputs.push(top.clone());
            }
        }
    }
    outputs
}

fn layer_error(layer: &NetLayer<'_>, message: impl Into<String>) -> CaffeError {
    CaffeError::Layer {
        layer: layer.name.clone(),
        kind: layer.kind.clone(),
        message: message.into(),
    }
}

type Params<'a> = Vec<(&'static str, Vec<usize>, BlobData<'a>)>;

fn convert_layer<'a>(layer: &NetLayer<'a>, blobs: &[Blob<'a>]) -> Result<(Op, Params<'a>)> {
    let p = &layer.param;
    let err = |message: String| layer_error(layer, message);
    let mut params: Params<'a> = Vec::new();
    let op = match layer.kind.as_str() {
        "Convolution" | "Deconvolution" => {
            let transposed = layer.kind == "Deconvolution";
            let c = p.convolution_param.clone().unwrap_or_default();
            let conv = conv_params(&c).map_err(&err)?;
            let w = blob(layer, blobs, 0, "W")?;
            let (kh, kw) = (conv.kernel[0], conv.kernel[1]);
            let fits = w.shape.len() == 4
                && w.shape[2] == kh
                && w.shape[3] == kw
                && if transposed {
                    w.shape[1] * conv.group == conv.num_output
                } else {
                    w.shape[0] == conv.num_output && conv.num_output % conv.group == 0
                };
            if !fits {
                let layout = if transposed {
                    format!("(in, {}/{}, {kh}, {kw})", conv.num_output, conv.group)
                } else {
                    format!("({}, in/{}, {kh}, {kw})", conv.num_output, conv.group)
                };
                return Err(err(format!(
                    "weight blob has shape {:?}, expected {layout}",
                    w.shape
                )));
            }
            params.push(("W", dims(&w.shape), w.data.clone()));
            if conv.bias_term {
                let b = blob(layer, blobs, 1, "b")?;
                expect_count(layer, b, conv.num_output, "bias")?;
                params.push(("b", vec![conv.num_output as usize], b.data.clone()));
            }
            if transposed {
                Op::Deconvolution(conv)
            } else {
                Op::Convolution(conv)
            }
        }
        "InnerProduct" => {
            let ip = p.inner_product_param.clone().unwrap_or_default();
            let n = i64::from(ip.num_output());
            if n < 1 {
                return Err(err("inner_product_param.num_output must be positive".into()));
            }
            let w = blob(layer, blobs, 0, "W")?;
            let matrix: Option<[i64; 2]> = match w.shape.as_slice() {
                [a, b] => Some([*a, *b]),
                [1, 1, a, b] => Some([*a, *b]),
                _ => None,
            };
            let transpose = ip.transpose();
            let (rows, cols) = match matrix {
                Some([a, b]) if !transpose && a == n => (a, b),
                Some([a, b]) if transpose && b == n => (a, b),
                _ => {
                    let expected = if transpose {
                        "(in, num_output)"
                    } else {
                        "(num_output, in)"
                    };
                    return Err(err(format!(
                        "weight blob has shape {:?}, expected {expected} with num_output {n}",
                        w.shape
                    )));
                }
            };
            let data = if transpose {
                BlobData::Owned(transpose_2d(&w.data.to_vec(), rows as usize, cols as usize))
            } else {
                w.data.clone()
            };
            let k = if transpose { rows } else { cols };
            params.push(("W", vec![n as usize, k as usize], data));
            if ip.bias_term() {
                let b = blob(layer, blobs, 1, "b")?;
                expect_count(layer, b, n, "bias")?;
                params.push(("b", vec![n as usize], b.data.clone()));
            }
            Op::InnerProduct {
                num_output: n,
                bias_term: ip.bias_term(),
                axis: i64::from(ip.axis()),
            }
        }
        "Pooling" => {
            let pp = p.pooling_param.clone().unwrap_or_default();
            let method = match pp.pool() {
                PPool::Max => PoolMethod::Max,
                PPool::Ave => PoolMethod::Ave,
                PPool::Stochastic => {
                    return Err(err(
                        "only MAX and AVE pooling are supported for inference".into()
                    ));
                }
            };
            let global = pp.global_pooling();
            let kernel = match (pp.kernel_h, pp.kernel_w, pp.kernel_size) {
                (Some(h), Some(w), _) => [h, w],
                (None, None, Some(k)) => [k, k],
                _ if global => [1, 1],
                _ => {
                    return Err(err(
                        "pooling needs kernel_size or both kernel_h and kernel_w".into(),
                    ));
                }
            };
            let stride = match (pp.stride_h, pp.stride_w) {
                (Some(h), Some(w)) => [h, w],
                _ => [pp.stride(); 2],
            };
            let pad = match (pp.pad_h, pp.pad_w) {
                (Some(h), Some(w)) => [h, w],
                _ => [pp.pad(); 2],
            };
            if !global && (kernel.contains(&0) || stride.contains(&0)) {
                return Err(err("pooling kernel and stride must be positive".into()));
            }
            if !global && (pad[0] >= kernel[0] || pad[1] >= kernel[1]) {
                return Err(err(format!(
                    "pad {pad:?} must be smaller than kernel {kernel:?}"
                )));
            }
            let round = match pp.round_mode() {
                PRound::Floor => RoundMode::Floor,
                PRound::Ceil => RoundMode::Ceil,
            };
            Op::Pooling(PoolParams {
                method,
                kernel: kernel.map(i64::from),
                stride: stride.map(i64::from),
                pad: pad.map(i64::from),
                global,
                round,
            })
        }
        "LRN" => {
            let l = p.lrn_param.clone().unwrap_or_default();
            let region = match l.norm_region() {
                NormRegion::WithinChannel => LrnRegion::WithinChannel,
                NormRegion::AcrossChannels => LrnRegion::AcrossChannels,
            };
            if l.local_size().is_multiple_of(2) {
                return Err(err(format!(
                    "local_size {} must be odd (Caffe requires it)",
                    l.local_size()
                )));
            }
            Op::Lrn {
                local_size: i64::from(l.local_size()),
                alpha: f64::from(l.alpha()),
                beta: f64::from(l.beta()),
                k: f64::from(l.k()),
                region,
            }
        }
        "ReLU" => Op::Relu {
            negative_slope: f64::from(p.relu_param.clone().unwrap_or_default().negative_slope()),
        },
        "Dropout" => Op::Dropout {
            ratio: f64::from(p.dropout_param.clone().unwrap_or_default().dropout_ratio()),
        },
        "Concat" => {
            let c = p.concat_param.clone().unwrap_or_default();
            let axis = match (c.axis, c.concat_dim) {
                (Some(axis), _) => i64::from(axis),
                (None, Some(dim)) => i64::from(dim),
                (None, None) => 1,
            };
            Op::Concat { axis }
        }
        "Softmax" => Op::Softmax {
            axis: i64::from(p.softmax_param.clone().unwrap_or_default().axis()),
        },
        "Sigmoid" => Op::Sigmoid,
        "TanH" => Op::TanH,
        "AbsVal" => Op::AbsVal,
        "BNLL" => Op::Bnll,
        "Split" => Op::Split,
        "Reshape" => {
            let r = p.reshape_param.clone().unwrap_or_default();
            let Some(shape) = r.shape.clone() else {
                return Err(err("reshape_param.shape is missing".into()));
            };
            if shape.dim.iter().filter(|&&d| d == -1).count() > 1
                || shape.dim.iter().any(|&d| d < -1)
            {
                return Err(err(format!(
                    "reshape_param.shape {:?}: at most one -1 and no other negative value",
                    shape.dim
                )));
            }
            Op::Reshape {
                shape: shape.dim,
                axis: i64::from(r.axis()),
                num_axes: i64::from(r.num_axes()),
            }
        }
        "Flatten" => {
            let f = p.flatten_param.clone().unwrap_or_default();
            Op::Flatten {
                axis: i64::from(f.axis()),
                end_axis: i64::from(f.end_axis()),
            }
        }
        "BatchNorm" => {
            let bn = p.batch_norm_param.clone().unwrap_or_default();
            let mean = blob(layer, blobs, 0, "mean")?;
            let var = blob(layer, blobs, 1, "variance")?;
            let factor = blob(layer, blobs, 2, "moving-average factor")?;
            let c = mean.data.len() as i64;
            expect_count(layer, var, c, "variance")?;
            if factor.data.is_empty() {
                return Err(err("the moving-average factor blob is empty".into()));
            }
            // Caffe: statistics / factor, and a zero factor gives zeros.
            let f = factor.data.to_vec()[0];
            let scale = if f == 0.0 { 0.0 } else { 1.0 / f };
            let scaled =
                |b: &Blob<'_>| BlobData::Owned(b.data.to_vec().iter().map(|v| v * scale).collect());
            params.push(("mean", vec![c as usize], scaled(mean)));
            params.push(("var", vec![c as usize], scaled(var)));
            Op::BatchNorm {
                eps: f64::from(bn.eps()),
            }
        }
        "Scale" => {
            let s = p.scale_param.clone().unwrap_or_default();
            let mut next = 0;
            let mut count = None;
            if layer.bottoms.len() < 2 {
                let gamma = blob(layer, blobs, 0, "gamma")?;
                count = Some(gamma.data.len() as i64);
                params.push(("gamma", dims(&gamma.shape), gamma.data.clone()));
                next = 1;
            }
            if s.bias_term() {
                let beta = blob(layer, blobs, next, "beta")?;
                if let Some(count) = count {
                    expect_count(layer, beta, count, "beta")?;
                }
                params.push(("beta", dims(&beta.shape), beta.data.clone()));
            }
            Op::Scale {
                axis: i64::from(s.axis()),
                num_axes: i64::from(s.num_axes()),
                bias_term: s.bias_term(),
            }
        }
        "Bias" => {
            let b = p.bias_param.clone().unwrap_or_default();
            if layer.bottoms.len() < 2 {
                let bias = blob(layer, blobs, 0, "b")?;
                params.push(("b", dims(&bias.shape), bias.data.clone()));
            }
            Op::Bias {
                axis: i64::from(b.axis()),
                num_axes: i64::from(b.num_axes()),
            }
        }
        "Eltwise" => {
            let e = p.eltwise_param.clone().unwrap_or_default();
            let operation = match e.operation() {
                PEltwise::Prod => EltwiseOp::Prod,
                PEltwise::Max => EltwiseOp::Max,
                PEltwise::Sum => EltwiseOp::Sum,
            };
            if !e.coeff.is_empty()
                && (operation != EltwiseOp::Sum || e.coeff.len() != layer.bottoms.len())
            {
                return Err(err(format!(
                    "{} coefficients for {} bottoms (coefficients need SUM and one per bottom)",
                    e.coeff.len(),
                    layer.bottoms.len()
                )));
            }
            Op::Eltwise {
                operation,
                coeff: e.coeff.iter().map(|&c| f64::from(c)).collect(),
            }
        }
        "Slice" => {
            let s = p.slice_param.clone().unwrap_or_default();
            let axis = match (s.axis, s.slice_dim) {
                (Some(axis), _) => i64::from(axis),
                (None, Some(dim)) => i64::from(dim),
                (None, None) => 1,
            };
            if !s.slice_point.is_empty() && s.slice_point.len() + 1 != layer.tops.len() {
                return Err(err(format!(
                    "{} slice points for {} tops (need one fewer than tops)",
                    s.slice_point.len(),
                    layer.tops.len()
                )));
            }
            Op::Slice {
                axis,
                slice_points: s.slice_point.iter().map(|&v| i64::from(v)).collect(),
            }
        }
        "Power" => {
            let q = p.power_param.clone().unwrap_or_default();
            Op::Power {
                power: f64::from(q.power()),
                scale: f64::from(q.scale()),
                shift: f64::from(q.shift()),
            }
        }
        "Exp" | "Log" => {
            let q = if layer.kind == "Exp" {
                p.exp_param.clone()
            } else {
                p.log_param.clone()
            }
            .unwrap_or_default();
            let base = f64::from(q.base());
            if base != -1.0 && base <= 0.0 {
                return Err(err(format!("base {base} must be positive (or -1 for e)")));
            }
            let (scale, shift) = (f64::from(q.scale()), f64::from(q.shift()));
            if layer.kind == "Exp" {
                Op::Exp { base, scale, shift }
            } else {
                Op::Log { base, scale, shift }
            }
        }
        "ELU" => Op::Elu {
            alpha: f64::from(p.elu_param.clone().unwrap_or_default().alpha()),
        },
        "PReLU" => {
            let q = p.prelu_param.clone().unwrap_or_default();
            let w = blob(layer, blobs, 0, "slope")?;
            if q.channel_shared() {
                expect_count(layer, w, 1, "slope")?;
            }
            params.push(("W", vec![w.data.len()], w.data.clone()));
            Op::Prelu {
                channel_shared: q.channel_shared(),
            }
        }
        "Crop" => {
            let c = p.crop_param.clone().unwrap_or_default();
            if layer.bottoms.len() != 2 {
                return Err(err("Crop needs two bottoms (input and reference)".into()));
            }
            Op::Crop {
                axis: i64::from(c.axis()),
                offset: c.offset.iter().map(|&v| i64::from(v)).collect(),
            }
        }
        "Permute" => Op::Permute {
            order: p
                .permute_param
                .clone()
                .unwrap_or_default()
                .order
                .iter()
                .map(|&v| i64::from(v))
                .collect(),
        },
        other => {
            return Err(CaffeError::Unsupported {
                layer: layer.name.clone(),
                kind: other.to_string(),
                supported: format!("{}, Input", SUPPORTED_TYPES.join(", ")),
            });
        }
    };
    Ok((op, params))
}

fn conv_params(c: &crate::proto::ConvolutionParameter) -> std::result::Result<ConvParams, String> {
    let pair = |name: &str, list: &[u32], h: Option<u32>, w: Option<u32>, default: u32| match (h, w)
    {
        (Some(h), Some(w)) => Ok([h, w]),
        (Some(_), None) | (None, Some(_)) => {
            Err(format!("{name}_h and {name}_w must be given together"))
        }
        (None, None) => match list {
            [] => Ok([default; 2]),
            [v] => Ok([*v; 2]),
            [h, w] => Ok([*h, *w]),
            _ => Err(format!(
                "{name} has {} values: only 2-D convolution is supported",
                list.len()
            )),
        },
    };
    let kernel = pair("kernel", &c.kernel_size, c.kernel_h, c.kernel_w, 0)?;
    if kernel.contains(&0) {
        return Err("convolution needs kernel_size or kernel_h and kernel_w".into());
    }
    let stride = pair("stride", &c.stride, c.stride_h, c.stride_w, 1)?;
    let pad = pair("pad", &c.pad, c.pad_h, c.pad_w, 0)?;
    let dilation = match c.dilation.as_slice() {
        [] => [1, 1],
        [d] => [*d; 2],
        [h, w] => [*h, *w],
        more => {
            return Err(format!(
                "dilation has {} values: only 2-D convolution is supported",
                more.len()
            ));
        }
    };
    if c.axis() != 1 {
        return Err(format!(
            "axis {} is not supported (channels must be axis 1)",
            c.axis()
        ));
    }
    let num_output = i64::from(c.num_output());
    let group = i64::from(c.group());
    if num_output < 1 || group < 1 || num_output % group != 0 {
        return Err(format!(
            "num_output {num_output} must be positive and divisible by group {group}"
        ));
    }
    if stride.contains(&0) || dilation.contains(&0) {
        return Err("stride and dilation must be positive".into());
    }
    Ok(ConvParams {
        num_output,
        kernel: kernel.map(i64::from),
        stride: stride.map(i64::from),
        pad: pad.map(i64::from),
        dilation: dilation.map(i64::from),
        group,
        bias_term: c.bias_term(),
    })
}

fn blob<'b, 'a>(
    layer: &NetLayer<'_>,
    blobs: &'b [Blob<'a>],
    index: usize,
    role: &str,
) -> Result<&'b Blob<'a>> {
    blobs.get(index).ok_or_else(|| {
        let found = if blobs.is_empty() {
            "the caffemodel has no weights for it".to_string()
        } else {
            format!("it has only {} blob(s)", blobs.len())
        };
        layer_error(layer, format!("needs blob {index} ({role}) but {found}"))
    })
}

fn expect_count(layer: &NetLayer<'_>, blob: &Blob<'_>, count: i64, role: &str) -> Result<()> {
    if blob.data.len() as i64 != count {
        return Err(layer_error(
            layer,
            format!(
                "{role} blob has shape {:?} ({} values), expected {count} values",
                blob.shape,
                blob.data.len()
            ),
        ));
    }
    Ok(())
}

fn dims(shape: &[i64]) -> Vec<usize> {
    shape.iter().map(|&d| d as usize).collect()
}

fn transpose_2d(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

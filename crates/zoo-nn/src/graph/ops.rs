//! Running one graph layer: Caffe semantics in inference mode, built on
//! [`crate::functions`] where a function exists and on libtorch directly for
//! the graph-only ops (Crop, Permute, Power, Exp, Log, ELU, PReLU, BNLL, ...).

use super::format::onnx::OnnxOp;
use super::format::{ConvParams, EltwiseOp, LrnRegion, Op, PoolMethod, PoolParams, RoundMode};
use crate::error::{NnError, Result};
use crate::functions::{self, Activation, Eltwise, Lrn, Pool2d, PoolRule, SplitAt};
use crate::link::Mode;
use tch::Tensor;

/// A layer's parameters by role (`W`, `b`, `mean`, ...), already on the device.
pub type Weights = std::collections::HashMap<&'static str, Tensor>;

pub use crate::mkldnn::PackedConv;

/// A convolution layer (Caffe's or ONNX's), an ONNX Gemm or Add followed by
/// `activation`, the layers after it that the executor fused into it: one
/// top.
pub fn forward_conv_then(
    op: &Op,
    xs: &[Tensor],
    w: &Weights,
    packed: &PackedConv,
    activation: Activation,
) -> Result<Tensor> {
    match op {
        Op::Onnx(onnx @ OnnxOp::Gemm { .. }) => super::ops_onnx::gemm_then(onnx, xs, activation),
        Op::Onnx(OnnxOp::Binary {
            func: super::format::onnx::BinaryFn::Add,
        }) => match xs {
            [a, b] => functions::add_then(a, b, activation),
            _ => Err(NnError::input("Add", "needs two inputs")),
        },
        Op::Onnx(onnx) => super::ops_onnx::conv_then(onnx, xs, packed, activation),
        Op::Convolution(p) => {
            let x = xs
                .first()
                .ok_or_else(|| NnError::input(op.type_name(), "needs at least one bottom"))?;
            convolution(x, p, w, false, packed, activation)
        }
        other => Err(NnError::input(
            other.type_name(),
            "is not a convolution; no activation can be fused into it",
        )),
    }
}

/// Computes a layer's tops from its bottoms.
/// `packed` is the layer's oneDNN kernel cache (used by convolutions).
pub fn forward(
    op: &Op,
    xs: &[Tensor],
    tops: usize,
    w: &Weights,
    packed: &PackedConv,
) -> Result<Vec<Tensor>> {
    // ONNX layers may have no bottoms (Constant): dispatched before the
    // Caffe layers' first-bottom check.
    if let Op::Onnx(onnx) = op {
        return super::ops_onnx::forward(onnx, xs, tops, w, packed);
    }
    let x = xs
        .first()
        .ok_or_else(|| NnError::input(op.type_name(), "needs at least one bottom"))?;
    let one = |t: Tensor| Ok(vec![t]);
    match op {
        Op::Convolution(p) => one(convolution(x, p, w, false, packed, Activation::Identity)?),
        Op::Deconvolution(p) => one(convolution(x, p, w, true, packed, Activation::Identity)?),
        Op::InnerProduct { axis, .. } => {
            let axis = resolve_axis("InnerProduct", *axis, x.dim())?;
            let flat = x.f_flatten(axis, -1)?;
            let weight = weight(w, "W")?;
            one(flat.f_linear(weight, w.get("b"))?)
        }
        Op::Pooling(p) => one(pooling(x, p)?),
        Op::Lrn {
            local_size,
            alpha,
            beta,
            k,
            region,
        } => match region {
            LrnRegion::AcrossChannels => one(functions::lrn(
                x,
                &Lrn::caffe(*local_size, *alpha, *beta, *k),
            )?),
            LrnRegion::WithinChannel => one(lrn_within_channel(x, *local_size, *alpha, *beta)?),
        },
        Op::Relu { negative_slope } if *negative_slope == 0.0 => one(functions::relu(x)?),
        Op::Relu { negative_slope } => one(functions::leaky_relu(x, *negative_slope)?),
        Op::Dropout { ratio } => one(functions::dropout(x, *ratio, Mode::Test)?),
        Op::Concat { axis } => one(functions::concat(xs, *axis)?),
        Op::Softmax { axis } => one(functions::softmax(x, *axis)?),
        Op::Sigmoid => one(functions::sigmoid(x)?),
        Op::TanH => one(functions::tanh(x)?),
        Op::AbsVal => one(x.f_abs()?),
        // Caffe's stable form of log(1 + e^x).
        Op::Bnll => one(x
            .f_clamp_min(0.0)?
            .f_add(&x.f_abs()?.f_neg()?.f_exp()?.f_log1p()?)?),
        Op::Reshape {
            shape,
            axis,
            num_axes,
        } => one(functions::reshape_caffe(x, shape, *axis, *num_axes)?),
        Op::Flatten { axis, end_axis } => {
            let start = resolve_axis("Flatten", *axis, x.dim())?;
            let end = resolve_axis("Flatten", *end_axis, x.dim())?;
            one(x.f_flatten(start, end)?)
        }
        Op::BatchNorm { eps } => {
            let mean = weight(w, "mean")?;
            let var = weight(w, "var")?;
            let centered = functions::add_along(x, &mean.f_neg()?, 1)?;
            one(functions::mul_along(
                &centered,
                &var.f_add_scalar(*eps)?.f_rsqrt()?,
                1,
            )?)
        }
        Op::Scale { axis, .. } => {
            let gamma = match xs.get(1) {
                Some(second) => second.shallow_clone(),
                None => weight(w, "gamma")?.shallow_clone(),
            };
            let axis = resolve_axis("Scale", *axis, x.dim())?;
            let mut y = functions::mul_along(x, &gamma, axis)?;
            if let Some(beta) = w.get("beta") {
                y = functions::add_along(&y, beta, axis)?;
            }
            one(y)
        }
        Op::Bias { axis, .. } => {
            let b = match xs.get(1) {
                Some(second) => second.shallow_clone(),
                None => weight(w, "b")?.shallow_clone(),
            };
            let axis = resolve_axis("Bias", *axis, x.dim())?;
            one(functions::add_along(x, &b, axis)?)
        }
        Op::Eltwise { operation, coeff } => {
            let op = match operation {
                EltwiseOp::Prod => Eltwise::Prod,
                EltwiseOp::Sum => Eltwise::Sum(coeff.clone()),
                EltwiseOp::Max => Eltwise::Max,
            };
            one(functions::eltwise(&op, xs)?)
        }
        Op::Slice { axis, slice_points } => {
            let at = if slice_points.is_empty() {
                SplitAt::Sections(tops as i64)
            } else {
                SplitAt::Indices(slice_points.clone())
            };
            let parts = functions::split(x, &at, *axis)?;
            if parts.len() != tops {
                return Err(NnError::input(
                    "Slice",
                    format!("{} slices for {tops} tops", parts.len()),
                ));
            }
            Ok(parts)
        }
        Op::Split => Ok((0..tops).map(|_| x.shallow_clone()).collect()),
        Op::Power {
            power,
            scale,
            shift,
        } => {
            let base = x.f_mul_scalar(*scale)?.f_add_scalar(*shift)?;
            one(if *power == 1.0 {
                base
            } else {
                base.f_pow_tensor_scalar(*power)?
            })
        }
        Op::Exp { base, scale, shift } => {
            let inner = x.f_mul_scalar(*scale)?.f_add_scalar(*shift)?;
            let ln_base = if *base == -1.0 { 1.0 } else { base.ln() };
            one(inner.f_mul_scalar(ln_base)?.f_exp()?)
        }
        Op::Log { base, scale, shift } => {
            let inner = x.f_mul_scalar(*scale)?.f_add_scalar(*shift)?;
            let ln_base = if *base == -1.0 { 1.0 } else { base.ln() };
            one(inner.f_log()?.f_div_scalar(ln_base)?)
        }
        Op::Elu { alpha } => {
            let negative = x
                .f_clamp_max(0.0)?
                .f_exp()?
                .f_sub_scalar(1.0)?
                .f_mul_scalar(*alpha)?;
            one(x.f_clamp_min(0.0)?.f_add(&negative)?)
        }
        Op::Prelu { channel_shared } => {
            let slope = weight(w, "W")?;
            let negative = x.f_clamp_max(0.0)?;
            let scaled = if *channel_shared || x.dim() < 2 {
                negative.f_mul(&slope.f_reshape([-1i64].as_slice())?.f_select(0, 0)?)?
            } else {
                functions::mul_along(&negative, slope, 1)?
            };
            one(x.f_clamp_min(0.0)?.f_add(&scaled)?)
        }
        Op::Crop { axis, offset } => {
            let reference = xs
                .get(1)
                .ok_or_else(|| NnError::input("Crop", "needs two bottoms (input, reference)"))?;
            one(crop(x, reference, *axis, offset)?)
        }
        Op::Permute { order } => one(permute(x, order)?),
        Op::Onnx(onnx) => super::ops_onnx::forward(onnx, xs, tops, w, packed),
    }
}

fn weight<'a>(w: &'a Weights, role: &str) -> Result<&'a Tensor> {
    w.get(role)
        .ok_or_else(|| NnError::Other(format!("missing parameter {role}")))
}

fn resolve_axis(layer: &str, axis: i64, ndim: usize) -> Result<i64> {
    let ndim = ndim as i64;
    let resolved = if axis < 0 { axis + ndim } else { axis };
    if resolved < 0 || resolved >= ndim {
        return Err(NnError::input(
            layer,
            format!("axis {axis} is out of range for a {ndim}-d input"),
        ));
    }
    Ok(resolved)
}

fn convolution(
    x: &Tensor,
    p: &ConvParams,
    w: &Weights,
    transposed: bool,
    packed: &PackedConv,
    activation: Activation,
) -> Result<Tensor> {
    if x.dim() != 4 {
        return Err(NnError::input(
            "Convolution",
            format!("expected a 4-d input (N, C, H, W), got {:?}", x.size()),
        ));
    }
    let weight = weight(w, "W")?;
    let bias = w.get("b");
    let y = if transposed {
        let y = x.f_conv_transpose2d(weight, bias, p.stride, p.pad, [0, 0], p.group, p.dilation)?;
        functions::activate(&y, activation)?
    } else {
        let geometry = crate::functions::Conv2d {
            stride: p.stride,
            dilation: p.dilation,
            pad_begin: p.pad,
            pad_end: p.pad,
            groups: p.group,
        };
        functions::conv2d_then(x, weight, bias, geometry, Some(packed), activation)?
    };
    Ok(y)
}

fn pooling(x: &Tensor, p: &PoolParams) -> Result<Tensor> {
    if p.global {
        return match p.method {
            PoolMethod::Max => functions::global_max_pooling_2d(x),
            PoolMethod::Ave => functions::global_average_pooling_2d(x),
        };
    }
    if p.round == RoundMode::Floor {
        // Floor rounding never produces a window starting in the padding:
        // libtorch's floor mode is Caffe's (average counts the padding).
        return Ok(match p.method {
            PoolMethod::Max => x.f_max_pool2d(p.kernel, p.stride, p.pad, [1, 1], false)?,
            PoolMethod::Ave => x.f_avg_pool2d(p.kernel, p.stride, p.pad, false, true, None)?,
        });
    }
    let pool = Pool2d::new(p.kernel, PoolRule::Caffe)
        .stride(p.stride)
        .pad(p.pad);
    match p.method {
        PoolMethod::Max => functions::max_pooling_2d(x, &pool),
        PoolMethod::Ave => functions::average_pooling_2d(x, &pool),
    }
}

/// Caffe's WITHIN_CHANNEL LRN: x · (1 + alpha · mean of x² over an n×n
/// window)^(−beta), the window zero-padded by (n−1)/2 and always divided by
/// n² (Caffe builds it from Pooling AVE with that padding and Power with
/// shift 1, so `k` plays no part).
fn lrn_within_channel(x: &Tensor, n: i64, alpha: f64, beta: f64) -> Result<Tensor> {
    let pad = (n - 1) / 2;
    let pool = Pool2d::new([n, n], PoolRule::Caffe)
        .stride([1, 1])
        .pad([pad, pad]);
    let mean = functions::average_pooling_2d(&x.f_square()?, &pool)?;
    let scale = mean
        .f_mul_scalar(alpha)?
        .f_add_scalar(1.0)?
        .f_pow_tensor_scalar(-beta)?;
    Ok(x.f_mul(&scale)?)
}

/// Caffe's Crop: bottom 0 cut to bottom 1's shape on the axes from `axis`
/// on, starting at `offset` (one value for all those axes, or one each).
fn crop(x: &Tensor, reference: &Tensor, axis: i64, offset: &[i64]) -> Result<Tensor> {
    let ndim = x.dim() as i64;
    let start = resolve_axis("Crop", axis, x.dim())?;
    let (xs, rs) = (x.size(), reference.size());
    if rs.len() != xs.len() {
        return Err(NnError::input(
            "Crop",
            format!("input {xs:?} and reference {rs:?} differ in rank"),
        ));
    }
    let axes = (ndim - start) as usize;
    if offset.len() > 1 && offset.len() != axes {
        return Err(NnError::input(
            "Crop",
            format!("{} offsets for {axes} cropped axes", offset.len()),
        ));
    }
    let mut y = x.shallow_clone();
    for i in 0..axes {
        let dim = start as usize + i;
        let off = match offset.len() {
            0 => 0,
            1 => offset[0],
            _ => offset[i],
        };
        if off < 0 || off.checked_add(rs[dim]).is_none_or(|end| end > xs[dim]) {
            return Err(NnError::input(
                "Crop",
                format!(
                    "axis {dim}: offset {off} + size {} exceeds the input's {}",
                    rs[dim], xs[dim]
                ),
            ));
        }
        y = y.f_narrow(dim as i64, off, rs[dim])?;
    }
    Ok(y)
}

/// SSD-Caffe's Permute: `order` lists the new axis order; axes it leaves
/// out follow in their original order.
fn permute(x: &Tensor, order: &[i64]) -> Result<Tensor> {
    let ndim = x.dim() as i64;
    let mut full: Vec<i64> = Vec::with_capacity(ndim as usize);
    for &axis in order {
        if axis < 0 || axis >= ndim || full.contains(&axis) {
            return Err(NnError::input(
                "Permute",
                format!("order {order:?} is not a permutation of a {ndim}-d input's axes"),
            ));
        }
        full.push(axis);
    }
    full.extend((0..ndim).filter(|a| !order.contains(a)));
    Ok(x.f_permute(full.as_slice())?.f_contiguous()?)
}

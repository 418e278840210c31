//! Running one ONNX-vocabulary layer with ONNX's semantics on libtorch:
//! numpy broadcasting, asymmetric and automatic padding, ONNX's pooling
//! output sizes (ceil mode, count_include_pad), Resize's coordinate
//! transformations, LSTM/GRU gate orders. The importer also calls
//! [`forward`] to fold constant subgraphs.

use super::ops::Weights;
use crate::error::{NnError, Result};
use crate::functions::Activation;
use tch::{Kind, Tensor};
use zoo_graph::onnx::{
    AutoPad, BinaryFn, Coordinates, DType, Direction, ElementReduction, NearestMode, OnnxOp,
    PadMode, PoolKind, ReduceFn, ResizeBy, ResizeMode, ScatterReduction, UnaryFn, VariadicFn,
};

fn bad(op: &OnnxOp, message: impl Into<String>) -> NnError {
    NnError::input(op.name(), message.into())
}

fn input<'a>(op: &OnnxOp, xs: &'a [Tensor], index: usize) -> Result<&'a Tensor> {
    xs.get(index)
        .ok_or_else(|| bad(op, format!("needs input {index}; given {}", xs.len())))
}

/// An int64 tensor's values (shape vectors, repeats).
pub fn int_values(t: &Tensor) -> Result<Vec<i64>> {
    Ok(Vec::<i64>::try_from(
        t.f_to_kind(Kind::Int64)?.f_reshape([-1i64].as_slice())?,
    )?)
}

fn axis_of(op: &OnnxOp, axis: i64, rank: i64) -> Result<i64> {
    let a = if axis < 0 { axis + rank } else { axis };
    if a < 0 || a >= rank.max(1) {
        return Err(bad(
            op,
            format!("axis {axis} is out of range for rank {rank}"),
        ));
    }
    Ok(a)
}

pub fn kind_of(dtype: DType) -> Kind {
    match dtype {
        DType::Float32 => Kind::Float,
        DType::Float64 => Kind::Double,
        DType::Int64 => Kind::Int64,
        DType::Int32 => Kind::Int,
        DType::Int8 => Kind::Int8,
        DType::Uint8 => Kind::Uint8,
        DType::Bool => Kind::Bool,
    }
}

/// Computes a layer's tops from its bottoms.
pub fn forward(
    op: &OnnxOp,
    xs: &[Tensor],
    tops: usize,
    w: &Weights,
    packed: &crate::mkldnn::PackedConv,
) -> Result<Vec<Tensor>> {
    let one = |t: Tensor| Ok(vec![t]);
    if let OnnxOp::Constant = op {
        let value = w
            .get("value")
            .ok_or_else(|| bad(op, "missing parameter value"))?;
        return one(value.shallow_clone());
    }
    let x = input(op, xs, 0)?;
    let rank = x.dim() as i64;
    match op {
        OnnxOp::Constant | OnnxOp::Identity => one(x.shallow_clone()),
        OnnxOp::Conv { .. } => one(conv_then(op, xs, packed, Activation::Identity)?),
        OnnxOp::ConvTranspose {
            strides,
            pads,
            dilations,
            output_padding,
            group,
        } => one(conv_transpose(
            op,
            xs,
            strides,
            pads,
            dilations,
            output_padding,
            *group,
        )?),
        OnnxOp::BatchNormalization { epsilon } => {
            let shape = channel_shape(rank);
            let p = |i| -> Result<Tensor> { Ok(input(op, xs, i)?.f_reshape(shape.as_slice())?) };
            let (scale, bias, mean, var) = (p(1)?, p(2)?, p(3)?, p(4)?);
            let inv = var.f_add_scalar(*epsilon)?.f_rsqrt()?.f_mul(&scale)?;
            one(x.f_sub(&mean)?.f_mul(&inv)?.f_add(&bias)?)
        }
        OnnxOp::InstanceNormalization { epsilon } => {
            let (scale, bias) = (input(op, xs, 1)?, input(op, xs, 2)?);
            one(x.f_instance_norm(
                Some(scale),
                Some(bias),
                None::<&Tensor>,
                None,
                true,
                0.0,
                *epsilon,
                false,
            )?)
        }
        OnnxOp::LayerNormalization { axis, epsilon } => {
            let a = axis_of(op, *axis, rank)?;
            let shape: Vec<i64> = x.size()[a as usize..].to_vec();
            let scale = input(op, xs, 1)?.f_expand(shape.as_slice(), false)?;
            let bias = match xs.get(2) {
                Some(b) => Some(b.f_expand(shape.as_slice(), false)?),
                None => None,
            };
            one(x.f_layer_norm(
                shape.as_slice(),
                Some(&scale),
                bias.as_ref(),
                *epsilon,
                false,
            )?)
        }
        OnnxOp::GroupNormalization {
            num_groups,
            epsilon,
            per_group_scale,
        } => {
            let channels = x.size().get(1).copied().unwrap_or(0);
            if rank < 2 || channels % num_groups != 0 {
                return Err(bad(
                    op,
                    format!("{num_groups} groups for {channels} channels"),
                ));
            }
            // Per group (before opset 21): each group's value for its channels.
            let per_channel = |t: &Tensor| -> Result<Tensor> {
                let t = t.f_to_kind(x.kind())?;
                Ok(if *per_group_scale {
                    t.f_repeat_interleave_self_int(channels / num_groups, 0, None)?
                } else {
                    t
                })
            };
            let scale = per_channel(input(op, xs, 1)?)?;
            let bias = per_channel(input(op, xs, 2)?)?;
            one(x.f_group_norm(*num_groups, Some(&scale), Some(&bias), *epsilon, false)?)
        }
        OnnxOp::Lrn {
            size,
            alpha,
            beta,
            bias,
        } => one(crate::functions::lrn(
            x,
            &crate::functions::Lrn::caffe(*size, *alpha, *beta, *bias),
        )?),
        OnnxOp::LpNormalization { axis, p } => {
            let a = axis_of(op, *axis, rank)?;
            let norm = x.f_norm_scalaropt_dim(*p, [a].as_slice(), true)?;
            one(x.f_div(&norm)?)
        }
        OnnxOp::Unary { func } => one(unary(*func, x)?),
        OnnxOp::LeakyRelu { alpha } => one(x
            .f_clamp_min(0.0)?
            .f_add(&x.f_clamp_max(0.0)?.f_mul_scalar(*alpha)?)?),
        OnnxOp::Elu { alpha } => {
            let negative = x.f_clamp_max(0.0)?.f_expm1()?.f_mul_scalar(*alpha)?;
            one(x.f_clamp_min(0.0)?.f_add(&negative)?)
        }
        OnnxOp::Selu { alpha, gamma } => {
            let negative = x.f_clamp_max(0.0)?.f_expm1()?.f_mul_scalar(*alpha)?;
            one(x.f_clamp_min(0.0)?.f_add(&negative)?.f_mul_scalar(*gamma)?)
        }
        // PyTorch's hardsigmoid (what its exporter writes for
        // MobileNetV3's h-sigmoid and h-swish): one pass instead of three.
        OnnxOp::HardSigmoid { alpha, beta }
            if (alpha - 1.0 / 6.0).abs() < 1e-7 && *beta == 0.5 && x.is_floating_point() =>
        {
            one(x.f_hardsigmoid()?)
        }
        OnnxOp::HardSigmoid { alpha, beta } => one(x
            .f_mul_scalar(*alpha)?
            .f_add_scalar(*beta)?
            .f_clamp(0.0, 1.0)?),
        OnnxOp::Gelu { tanh } => one(x.f_gelu(if *tanh { "tanh" } else { "none" })?),
        OnnxOp::PRelu => {
            let slope = input(op, xs, 1)?;
            one(x
                .f_clamp_min(0.0)?
                .f_add(&x.f_clamp_max(0.0)?.f_mul(slope)?)?)
        }
        OnnxOp::Clip { min, max } => {
            let mut y = x.shallow_clone();
            if let Some(lo) = min {
                y = y.f_clamp_min(fit_scalar(*lo, x.kind()))?;
            }
            if let Some(hi) = max {
                y = y.f_clamp_max(fit_scalar(*hi, x.kind()))?;
            }
            one(y)
        }
        OnnxOp::Softmax { axis, legacy, log } => {
            let a = axis_of(op, *axis, rank)?;
            let apply = |t: &Tensor, dim: i64| -> Result<Tensor> {
                Ok(if *log {
                    t.f_log_softmax(dim, Kind::Float)?
                } else {
                    t.f_softmax(dim, Kind::Float)?
                })
            };
            if *legacy {
                let size = x.size();
                let flat = x.f_flatten(0, (a - 1).max(0))?;
                let flat = if a == 0 { flat.f_unsqueeze(0)? } else { flat };
                let flat = flat.f_flatten(1, -1)?;
                one(apply(&flat, 1)?.f_reshape(size.as_slice())?)
            } else {
                one(apply(x, a)?)
            }
        }
        OnnxOp::Pool {
            method,
            kernel,
            strides,
            pads,
            dilations,
            ceil_mode,
            count_include_pad,
            auto_pad,
        } => one(pool(
            op,
            x,
            *method,
            kernel,
            strides,
            pads,
            dilations,
            *ceil_mode,
            *count_include_pad,
            *auto_pad,
        )?),
        OnnxOp::GlobalPool { method } => {
            let dims: Vec<i64> = (2..rank).collect();
            one(match method {
                PoolKind::Max => x.f_amax(dims.as_slice(), true)?,
                PoolKind::Average => match crate::functions::global_average_pool(x)? {
                    Some(y) => y,
                    None => x.f_mean_dim(dims.as_slice(), true, Kind::Float)?,
                },
            })
        }
        OnnxOp::Gemm { .. } => one(gemm_then(op, xs, Activation::Identity)?),
        OnnxOp::MatMul => one(x.f_matmul(input(op, xs, 1)?)?),
        OnnxOp::Binary { func } => one(binary(*func, x, input(op, xs, 1)?)?),
        OnnxOp::Variadic { func } => {
            let mut y = x.shallow_clone();
            for other in &xs[1..] {
                y = match func {
                    VariadicFn::Min => y.f_minimum(other)?,
                    VariadicFn::Max => y.f_maximum(other)?,
                    VariadicFn::Sum | VariadicFn::Mean => y.f_add(other)?,
                };
            }
            if *func == VariadicFn::Mean {
                y = y.f_div_scalar(xs.len() as f64)?;
            }
            one(y)
        }
        OnnxOp::Reduce {
            func,
            axes,
            keepdims,
            noop_with_empty_axes,
        } => {
            if axes.is_empty() && *noop_with_empty_axes {
                return one(x.shallow_clone());
            }
            let dims: Vec<i64> = if axes.is_empty() {
                (0..rank).collect()
            } else {
                axes.iter()
                    .map(|&a| axis_of(op, a, rank))
                    .collect::<Result<_>>()?
            };
            let kind = x.kind();
            one(match func {
                ReduceFn::Mean => x.f_mean_dim(dims.as_slice(), *keepdims, kind)?,
                ReduceFn::Sum => x.f_sum_dim_intlist(dims.as_slice(), *keepdims, kind)?,
                ReduceFn::Max => x.f_amax(dims.as_slice(), *keepdims)?,
                ReduceFn::Min => x.f_amin(dims.as_slice(), *keepdims)?,
                ReduceFn::Prod => {
                    let mut y = x.shallow_clone();
                    let mut sorted = dims.clone();
                    sorted.sort_unstable_by(|a, b| b.cmp(a));
                    for d in sorted {
                        y = y.f_prod_dim_int(d, *keepdims, kind)?;
                    }
                    y
                }
                ReduceFn::L1 => x
                    .f_abs()?
                    .f_sum_dim_intlist(dims.as_slice(), *keepdims, kind)?,
                ReduceFn::L2 => x
                    .f_square()?
                    .f_sum_dim_intlist(dims.as_slice(), *keepdims, kind)?
                    .f_sqrt()?,
                ReduceFn::SumSquare => {
                    x.f_square()?
                        .f_sum_dim_intlist(dims.as_slice(), *keepdims, kind)?
                }
                ReduceFn::LogSumExp => x.f_logsumexp(dims.as_slice(), *keepdims)?,
            })
        }
        OnnxOp::Concat { axis } => {
            let a = axis_of(op, *axis, rank)?;
            one(Tensor::f_cat(xs, a)?)
        }
        OnnxOp::Split { axis, split } => {
            let a = axis_of(op, *axis, rank)?;
            let n = x.size()[a as usize];
            let sizes: Vec<i64> = if split.is_empty() {
                let parts = tops.max(1) as i64;
                let each = (n + parts - 1) / parts;
                (0..parts).map(|i| each.min(n - i * each).max(0)).collect()
            } else {
                split.clone()
            };
            if sizes.iter().sum::<i64>() != n || sizes.len() != tops {
                return Err(bad(
                    op,
                    format!("split {sizes:?} of axis size {n} into {tops} outputs"),
                ));
            }
            Ok(x.f_split_with_sizes(sizes.as_slice(), a)?)
        }
        OnnxOp::Slice {
            at_run_time: true, ..
        } => {
            let at = |i: usize| -> Result<Vec<i64>> {
                match xs.get(i) {
                    Some(t) => int_values(t),
                    None => Ok(Vec::new()),
                }
            };
            let (starts, ends) = (
                int_values(input(op, xs, 1)?)?,
                int_values(input(op, xs, 2)?)?,
            );
            if starts.len() != ends.len() {
                return Err(bad(
                    op,
                    format!("{} starts for {} ends", starts.len(), ends.len()),
                ));
            }
            one(slice(op, x, &starts, &ends, &at(3)?, &at(4)?)?)
        }
        OnnxOp::Slice {
            starts,
            ends,
            axes,
            steps,
            ..
        } => one(slice(op, x, starts, ends, axes, steps)?),
        OnnxOp::Gather { axis } => {
            let a = axis_of(op, *axis, rank)?;
            let indices = axis_indices(op, input(op, xs, 1)?, a, x.size()[a as usize])?;
            let picked = x.f_index_select(a, &indices.f_reshape([-1i64].as_slice())?)?;
            let size = x.size();
            let mut shape: Vec<i64> = size[..a as usize].to_vec();
            shape.extend(indices.size());
            shape.extend(&size[a as usize + 1..]);
            one(picked.f_reshape(shape.as_slice())?)
        }
        OnnxOp::Reshape { allowzero } => {
            let mut shape = int_values(input(op, xs, 1)?)?;
            let size = x.size();
            if !allowzero {
                for (i, d) in shape.iter_mut().enumerate() {
                    if *d == 0 {
                        *d = *size.get(i).ok_or_else(|| {
                            bad(op, format!("0 at {i} copies a dimension {size:?} lacks"))
                        })?;
                    }
                }
            }
            one(x.f_reshape(shape.as_slice())?)
        }
        OnnxOp::Flatten { axis } => {
            let a = if *axis < 0 { axis + rank } else { *axis };
            let size = x.size();
            let outer: i64 = size[..a.clamp(0, rank) as usize].iter().product();
            one(x.f_reshape([outer, -1].as_slice())?)
        }
        OnnxOp::Transpose { perm } => {
            let perm: Vec<i64> = if perm.is_empty() {
                (0..rank).rev().collect()
            } else {
                perm.clone()
            };
            one(x.f_permute(perm.as_slice())?)
        }
        OnnxOp::Squeeze { axes } => {
            let size = x.size();
            let dims: Vec<i64> = if axes.is_empty() {
                (0..rank).filter(|&d| size[d as usize] == 1).collect()
            } else {
                axes.iter()
                    .map(|&a| axis_of(op, a, rank))
                    .collect::<Result<_>>()?
            };
            let shape: Vec<i64> = (0..rank)
                .filter(|d| !dims.contains(d))
                .map(|d| size[d as usize])
                .collect();
            one(x.f_reshape(shape.as_slice())?)
        }
        OnnxOp::Unsqueeze { axes } => {
            let out_rank = rank + axes.len() as i64;
            let mut dims: Vec<i64> = axes
                .iter()
                .map(|&a| axis_of(op, a, out_rank))
                .collect::<Result<_>>()?;
            dims.sort_unstable();
            let mut y = x.shallow_clone();
            for d in dims {
                y = y.f_unsqueeze(d)?;
            }
            one(y)
        }
        OnnxOp::Expand => {
            let shape = int_values(input(op, xs, 1)?)?;
            let target = broadcast_shape(op, &x.size(), &shape)?;
            one(x.f_expand(target.as_slice(), false)?)
        }
        OnnxOp::Tile => {
            let repeats = int_values(input(op, xs, 1)?)?;
            one(x.f_repeat(repeats.as_slice())?)
        }
        OnnxOp::Pad {
            mode,
            pads,
            value,
            at_run_time,
        } => {
            let pads = if *at_run_time {
                int_values(input(op, xs, 1)?)?
            } else {
                pads.clone()
            };
            one(pad(op, x, *mode, &pads, *value)?)
        }
        OnnxOp::Resize {
            mode,
            coordinates,
            nearest,
            scales,
            sizes,
            at_run_time,
        } => {
            let given = at_run_time.map(|by| input(op, xs, 1).map(|t| (by, t)));
            let (scales, sizes) = match given.transpose()? {
                None => (scales.clone(), sizes.clone()),
                Some((ResizeBy::Sizes, t)) => (Vec::new(), int_values(t)?),
                Some((ResizeBy::Scales, t)) => (float_values(t)?, Vec::new()),
            };
            // Values read at run time meet the graph format's own rules.
            if at_run_time.is_some() {
                let resolved = OnnxOp::Resize {
                    mode: *mode,
                    coordinates: *coordinates,
                    nearest: *nearest,
                    scales: scales.clone(),
                    sizes: sizes.clone(),
                    at_run_time: None,
                };
                resolved.validate().map_err(|message| bad(op, message))?;
            }
            one(resize(
                op,
                x,
                *mode,
                *coordinates,
                *nearest,
                &scales,
                &sizes,
            )?)
        }
        OnnxOp::Shape { start, end } => {
            let size = x.size();
            let clampi = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
            let (s, e) = (clampi(*start), clampi(end.unwrap_or(rank)));
            let dims: Vec<i64> = if s < e {
                size[s..e].to_vec()
            } else {
                Vec::new()
            };
            one(Tensor::f_from_slice(&dims)?)
        }
        OnnxOp::ConstantOfShape { value, dtype } => {
            let shape = int_values(x)?;
            let kind = kind_of(*dtype);
            one(Tensor::f_full(
                shape.as_slice(),
                fit_scalar(*value, kind),
                (kind, x.device()),
            )?)
        }
        OnnxOp::Cast { to } => one(x.f_to_kind(kind_of(*to))?),
        OnnxOp::Where => {
            let cond = x.f_to_kind(Kind::Bool)?;
            one(input(op, xs, 1)?.f_where_self(&cond, input(op, xs, 2)?)?)
        }
        OnnxOp::Einsum { equation } => one(Tensor::f_einsum(equation, xs, None::<&[i64]>)?),
        OnnxOp::Range => one(range(op, x, input(op, xs, 1)?, input(op, xs, 2)?)?),
        OnnxOp::IsInf { positive, negative } => one(match (positive, negative) {
            (true, true) => x.f_isinf()?,
            (true, false) => x.f_isposinf()?,
            (false, true) => x.f_isneginf()?,
            (false, false) => x.f_zeros_like()?.f_to_kind(Kind::Bool)?,
        }),
        OnnxOp::CumSum {
            axis,
            exclusive,
            reverse,
        } => {
            let a = axis_of(op, *axis, rank)?;
            let flip = |t: Tensor| -> Result<Tensor> {
                Ok(if *reverse {
                    t.f_flip([a].as_slice())?
                } else {
                    t
                })
            };
            let source = flip(x.shallow_clone())?;
            let mut sums = source.f_cumsum(a, x.kind())?;
            if *exclusive {
                sums = sums.f_sub(&source)?;
            }
            one(flip(sums)?)
        }
        OnnxOp::Trilu { upper, k } => {
            if rank < 2 {
                return Err(bad(op, format!("needs 2 or more axes; given {rank}")));
            }
            one(if *upper { x.f_triu(*k)? } else { x.f_tril(*k)? })
        }
        OnnxOp::ArgExtreme {
            max,
            axis,
            keepdims,
            select_last_index,
        } => {
            let a = axis_of(op, *axis, rank)?;
            let pick = |t: &Tensor| {
                if *max {
                    t.f_argmax(a, *keepdims)
                } else {
                    t.f_argmin(a, *keepdims)
                }
            };
            one(if *select_last_index {
                // The first of the reversed axis is the last of the axis.
                let n = x.size()[a as usize];
                pick(&x.f_flip([a].as_slice())?)?
                    .f_neg()?
                    .f_add_scalar(n - 1)?
            } else {
                pick(x)?
            })
        }
        OnnxOp::GatherElements { axis } => {
            let a = axis_of(op, *axis, rank)?;
            let indices = axis_indices(op, input(op, xs, 1)?, a, x.size()[a as usize])?;
            one(x.f_gather(a, &indices, false)?)
        }
        OnnxOp::NonZero => one(x.f_nonzero()?.f_tr()?.f_contiguous()?),
        OnnxOp::GatherNd => {
            let index = index_columns(op, x, input(op, xs, 1)?)?;
            one(x.f_index(&index)?)
        }
        OnnxOp::ScatterElements { axis, reduction } => {
            let a = axis_of(op, *axis, rank)?;
            let indices = axis_indices(op, input(op, xs, 1)?, a, x.size()[a as usize])?;
            let updates = input(op, xs, 2)?.f_to_kind(x.kind())?;
            one(match reduction {
                ElementReduction::None => x.f_scatter(a, &indices, &updates)?,
                ElementReduction::Add => x.f_scatter_add(a, &indices, &updates)?,
                ElementReduction::Mul => x.f_scatter_reduce(a, &indices, &updates, "multiply")?,
            })
        }
        OnnxOp::Size => {
            one(Tensor::f_from_slice(&[x.numel() as i64])?.f_reshape([0i64; 0].as_slice())?)
        }
        OnnxOp::ScatterNd { reduction } => one(scatter_nd(
            op,
            x,
            input(op, xs, 1)?,
            input(op, xs, 2)?,
            *reduction,
        )?),
        OnnxOp::Lstm {
            has_initial_h,
            has_initial_c,
            ..
        } => {
            // Bottoms X, W, R, B, [initial_h], [initial_c].
            let c0_bottom = if *has_initial_h { 5 } else { 4 };
            let c0 = if *has_initial_c {
                Some(input(op, xs, c0_bottom)?)
            } else {
                None
            };
            lstm(&Recurrent::read(op, xs)?, c0)
        }
        OnnxOp::Gru {
            linear_before_reset,
            ..
        } => gru(&Recurrent::read(op, xs)?, *linear_before_reset),
    }
}

/// An attribute with one value per spatial axis (ONNX lets it be shorter):
/// the given values, 1 for the axes it leaves out.
fn per_axis(values: &[i64], n: usize) -> Vec<i64> {
    (0..n)
        .map(|i| values.get(i).copied().unwrap_or(1))
        .collect()
}

fn tr(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_transpose(-2, -1)?)
}

/// `[1, C, 1, 1, …]` for a rank-`rank` input.
fn channel_shape(rank: i64) -> Vec<i64> {
    let mut shape = vec![1i64; rank.max(2) as usize];
    shape[1] = -1;
    shape
}

fn unary(func: UnaryFn, x: &Tensor) -> Result<Tensor> {
    Ok(match func {
        UnaryFn::Relu => x.f_relu()?,
        UnaryFn::Sigmoid => x.f_sigmoid()?,
        UnaryFn::Tanh => x.f_tanh()?,
        UnaryFn::Erf => x.f_erf()?,
        UnaryFn::Abs => x.f_abs()?,
        UnaryFn::Neg => x.f_neg()?,
        UnaryFn::Exp => x.f_exp()?,
        UnaryFn::Log => x.f_log()?,
        UnaryFn::Sqrt => x.f_sqrt()?,
        UnaryFn::Reciprocal => x.f_reciprocal()?,
        UnaryFn::Floor => x.f_floor()?,
        UnaryFn::Ceil => x.f_ceil()?,
        // Round half to even, as ONNX and libtorch both do.
        UnaryFn::Round => x.f_round()?,
        UnaryFn::Softplus => x.f_softplus()?,
        UnaryFn::HardSwish => x.f_hardswish()?,
        UnaryFn::Not => x.f_logical_not()?,
        UnaryFn::Sin => x.f_sin()?,
        UnaryFn::Cos => x.f_cos()?,
        UnaryFn::Sign => x.f_sign()?,
        UnaryFn::Softsign => x.f_div(&x.f_abs()?.f_add_scalar(1.0)?)?,
        UnaryFn::Mish => x.f_mish()?,
        UnaryFn::IsNaN => x.f_isnan()?,
    })
}

fn is_int(t: &Tensor) -> bool {
    !t.is_floating_point() && t.kind() != Kind::Bool
}

fn binary(func: BinaryFn, a: &Tensor, b: &Tensor) -> Result<Tensor> {
    Ok(match func {
        BinaryFn::Add if a.is_floating_point() => {
            crate::functions::add_then(a, b, Activation::Identity)?
        }
        BinaryFn::Add => a.f_add(b)?,
        BinaryFn::Sub => a.f_sub(b)?,
        BinaryFn::Mul => match scale_either(a, b)? {
            Some(y) => y,
            None => a.f_mul(b)?,
        },
        // Integer division truncates in ONNX.
        BinaryFn::Div if is_int(a) && is_int(b) => a.f_div_tensor_mode(b, "trunc")?,
        BinaryFn::Div => a.f_div(b)?,
        BinaryFn::Pow => {
            let y = a.f_pow(b)?;
            if y.kind() != a.kind() {
                y.f_to_kind(a.kind())?
            } else {
                y
            }
        }
        BinaryFn::Equal => a.f_eq_tensor(b)?,
        BinaryFn::Greater => a.f_gt_tensor(b)?,
        BinaryFn::Less => a.f_lt_tensor(b)?,
        BinaryFn::GreaterOrEqual => a.f_ge_tensor(b)?,
        BinaryFn::LessOrEqual => a.f_le_tensor(b)?,
        BinaryFn::And => a.f_logical_and(b)?,
        BinaryFn::Or => a.f_logical_or(b)?,
        BinaryFn::Mod => a.f_remainder_tensor(b)?,
        BinaryFn::Fmod => a.f_fmod_tensor(b)?,
    })
}

/// A Conv layer whose first input is the product `a · b` (a folded Mul,
/// see `fusion::ScaleFusion`) then `activation`; `xs` are `a`, `b` and the
/// Conv's other inputs. One pass where one of `a`, `b` is a per-channel
/// gate and the convolution is pointwise, else the Mul and the Conv as
/// they are.
pub fn scaled_conv_then(
    op: &OnnxOp,
    xs: &[Tensor],
    packed: &crate::mkldnn::PackedConv,
    activation: Activation,
) -> Result<Tensor> {
    let (a, b) = (input(op, xs, 0)?, input(op, xs, 1)?);
    let rest = &xs[2..];
    if let OnnxOp::Conv { strides, pads, .. } = op
        && strides.iter().all(|&s| s == 1)
        && pads.iter().all(|&p| p == 0)
        && let Some(weight) = rest.first()
        && a.dim() == 4
        && b.dim() == 4
    {
        let (x, gate) = if a.numel() >= b.numel() {
            (a, b)
        } else {
            (b, a)
        };
        if let Some(y) =
            crate::functions::pointwise_scaled(x, gate, weight, rest.get(1), activation)?
        {
            return Ok(y);
        }
    }
    let mut product = vec![binary(BinaryFn::Mul, a, b)?];
    product.extend(rest.iter().map(Tensor::shallow_clone));
    conv_then(op, &product, packed, activation)
}

/// `a · b` where one is a per-channel scale of the other (`[N, C, 1, 1]`
/// against `[N, C, H, W]`): zoo-kernels' pass, else `None`.
fn scale_either(a: &Tensor, b: &Tensor) -> Result<Option<Tensor>> {
    if a.dim() != 4 || b.dim() != 4 {
        return Ok(None);
    }
    let (x, scales) = if a.numel() >= b.numel() {
        (a, b)
    } else {
        (b, a)
    };
    crate::functions::scale_channels(x, scales)
}

/// numpy broadcasting of two shapes (Expand's bidirectional rule).
fn broadcast_shape(op: &OnnxOp, a: &[i64], b: &[i64]) -> Result<Vec<i64>> {
    let n = a.len().max(b.len());
    let at = |s: &[i64], i: usize| {
        if i + s.len() >= n {
            s[i + s.len() - n]
        } else {
            1
        }
    };
    (0..n)
        .map(|i| {
            let (x, y) = (at(a, i), at(b, i));
            match (x, y) {
                _ if x == y => Ok(x),
                (1, _) => Ok(y),
                (_, 1) => Ok(x),
                _ => Err(bad(op, format!("shapes {a:?} and {b:?} do not broadcast"))),
            }
        })
        .collect()
}

/// Per-axis begin and end padding after `auto_pad` (SAME: output = ceil(in / stride)).
fn resolve_pads(
    spatial: &[i64],
    kernel: &[i64],
    strides: &[i64],
    dilations: &[i64],
    pads: &[i64],
    auto_pad: AutoPad,
) -> (Vec<i64>, Vec<i64>) {
    let n = spatial.len();
    let get = |v: &[i64], i: usize, d: i64| v.get(i).copied().unwrap_or(d);
    match auto_pad {
        AutoPad::NotSet => (
            (0..n).map(|i| get(pads, i, 0)).collect(),
            (0..n).map(|i| get(pads, n + i, 0)).collect(),
        ),
        AutoPad::Valid => (vec![0; n], vec![0; n]),
        AutoPad::SameUpper | AutoPad::SameLower => {
            let mut begin = Vec::with_capacity(n);
            let mut end = Vec::with_capacity(n);
            for i in 0..n {
                let s = get(strides, i, 1);
                let k = (kernel[i] - 1) * get(dilations, i, 1) + 1;
                let out = (spatial[i] + s - 1) / s;
                let total = ((out - 1) * s + k - spatial[i]).max(0);
                let small = total / 2;
                if auto_pad == AutoPad::SameUpper {
                    begin.push(small);
                    end.push(total - small);
                } else {
                    begin.push(total - small);
                    end.push(small);
                }
            }
            (begin, end)
        }
    }
}

/// `constant_pad_nd`'s argument (last axis first) for spatial pads.
fn torch_pads(begin: &[i64], end: &[i64]) -> Vec<i64> {
    let mut pads = Vec::with_capacity(begin.len() * 2);
    for i in (0..begin.len()).rev() {
        pads.push(begin[i]);
        pads.push(end[i]);
    }
    pads
}

#[allow(clippy::too_many_arguments)]
/// A Gemm layer then `activation`. `A·Bᵀ + C` with a vector or matrix `C`
/// (a fully connected layer, as exporters write it) is one `addmm`, whose
/// fresh output takes the activation in place.
pub fn gemm_then(op: &OnnxOp, xs: &[Tensor], activation: Activation) -> Result<Tensor> {
    let OnnxOp::Gemm {
        alpha,
        beta,
        trans_a,
        trans_b,
    } = op
    else {
        return Err(bad(op, "is not a Gemm; no activation can be fused into it"));
    };
    let x = input(op, xs, 0)?;
    let weight = input(op, xs, 1)?;
    if *trans_b
        && !*trans_a
        && *alpha == 1.0
        && *beta == 1.0
        && let Some(y) = crate::functions::linear_row(x, weight, xs.get(2))?
    {
        return crate::functions::activate_fresh(y, activation);
    }
    let a = if *trans_a { tr(x)? } else { x.shallow_clone() };
    let b = if *trans_b {
        tr(weight)?
    } else {
        weight.shallow_clone()
    };
    let plain = *alpha == 1.0 && *beta == 1.0 && a.dim() == 2 && b.dim() == 2;
    let y = match xs.get(2) {
        Some(c) if plain && c.dim() <= 2 && a.is_floating_point() && c.kind() == a.kind() => {
            c.f_addmm(&a, &b)?
        }
        c => {
            let mut y = a.f_matmul(&b)?;
            if *alpha != 1.0 {
                y = y.f_mul_scalar(*alpha)?;
            }
            if let Some(c) = c {
                y = y.f_add(&if *beta != 1.0 {
                    c.f_mul_scalar(*beta)?
                } else {
                    c.shallow_clone()
                })?;
            }
            y
        }
    };
    crate::functions::activate_fresh(y, activation)
}

/// A Conv layer then `activation` (layers the executor fused into it).
pub fn conv_then(
    op: &OnnxOp,
    xs: &[Tensor],
    packed: &crate::mkldnn::PackedConv,
    activation: Activation,
) -> Result<Tensor> {
    let OnnxOp::Conv {
        strides,
        pads,
        dilations,
        group,
        auto_pad,
    } = op
    else {
        return Err(bad(op, "is not a Conv; no activation can be fused into it"));
    };
    let (group, auto_pad) = (*group, *auto_pad);
    let x = input(op, xs, 0)?;
    let w = input(op, xs, 1)?;
    let spatial = &x.size()[2..];
    let n = spatial.len();
    if n == 0 || w.dim() != n + 2 {
        return Err(bad(
            op,
            format!("input {:?} and weight {:?} do not fit", x.size(), w.size()),
        ));
    }
    let kernel = &w.size()[2..];
    let strides = per_axis(strides, n);
    let dilations = per_axis(dilations, n);
    let (begin, end) = resolve_pads(spatial, kernel, &strides, &dilations, pads, auto_pad);
    if n == 2 {
        let pair = |v: &[i64]| [v[0], v[1]];
        let geometry = crate::functions::Conv2d {
            stride: pair(&strides),
            dilation: pair(&dilations),
            pad_begin: pair(&begin),
            pad_end: pair(&end),
            groups: group,
        };
        return crate::functions::conv2d_then(x, w, xs.get(2), geometry, Some(packed), activation);
    }
    let (x, padding) = if begin == end {
        (x.shallow_clone(), begin)
    } else {
        (
            x.f_constant_pad_nd(torch_pads(&begin, &end).as_slice())?,
            vec![0; n],
        )
    };
    let y = x.f_convolution(
        w,
        xs.get(2),
        strides.as_slice(),
        padding.as_slice(),
        dilations.as_slice(),
        false,
        vec![0; n].as_slice(),
        group,
    )?;
    crate::functions::activate(&y, activation)
}

fn conv_transpose(
    op: &OnnxOp,
    xs: &[Tensor],
    strides: &[i64],
    pads: &[i64],
    dilations: &[i64],
    output_padding: &[i64],
    group: i64,
) -> Result<Tensor> {
    let x = input(op, xs, 0)?;
    let w = input(op, xs, 1)?;
    let n = x.dim().saturating_sub(2);
    if n == 0 || w.dim() != n + 2 {
        return Err(bad(
            op,
            format!("input {:?} and weight {:?} do not fit", x.size(), w.size()),
        ));
    }
    let get = |v: &[i64], i: usize, d: i64| v.get(i).copied().unwrap_or(d);
    let strides: Vec<i64> = (0..n).map(|i| get(strides, i, 1)).collect();
    let dilations: Vec<i64> = (0..n).map(|i| get(dilations, i, 1)).collect();
    let zeros = vec![0i64; n];
    // The full result without padding, then cut: pads remove from each
    // side, output_padding adds zeros at the end (before the bias).
    let full = x.f_convolution(
        w,
        None::<&Tensor>,
        strides.as_slice(),
        zeros.as_slice(),
        dilations.as_slice(),
        true,
        zeros.as_slice(),
        group,
    )?;
    let extra: Vec<i64> = (0..n).map(|i| get(output_padding, i, 0)).collect();
    let mut y = full.f_constant_pad_nd(torch_pads(&zeros, &extra).as_slice())?;
    for i in 0..n {
        let (b, e) = (get(pads, i, 0), get(pads, n + i, 0));
        let len = y.size()[i + 2] - b - e;
        if len <= 0 {
            return Err(bad(op, "pads leave no output"));
        }
        y = y.f_narrow(i as i64 + 2, b, len)?;
    }
    if let Some(bias) = xs.get(2) {
        y = y.f_add(&bias.f_reshape(channel_shape(y.dim() as i64).as_slice())?)?;
    }
    Ok(y)
}

/// ONNX pooling: output size from floor or ceil (a last window starting
/// past the input and its begin padding is dropped); max pads with −inf;
/// average divides by the window's elements inside the input, plus the
/// declared padding with `count_include_pad`, never the ceil overhang.
#[allow(clippy::too_many_arguments)]
fn pool(
    op: &OnnxOp,
    x: &Tensor,
    method: PoolKind,
    kernel: &[i64],
    strides: &[i64],
    pads: &[i64],
    dilations: &[i64],
    ceil_mode: bool,
    count_include_pad: bool,
    auto_pad: AutoPad,
) -> Result<Tensor> {
    let spatial = x.size()[2..].to_vec();
    let n = spatial.len();
    if n == 0 || n > 3 || kernel.len() != n {
        return Err(bad(
            op,
            format!("kernel {kernel:?} for input {:?}", x.size()),
        ));
    }
    let strides = per_axis(strides, n);
    let dilations = per_axis(dilations, n);
    if method == PoolKind::Average && dilations.iter().any(|&d| d != 1) {
        return Err(bad(op, "AveragePool with dilations is not supported"));
    }
    let (begin, end) = resolve_pads(&spatial, kernel, &strides, &dilations, pads, auto_pad);
    let mut outputs = Vec::with_capacity(n);
    let mut overhang = Vec::with_capacity(n);
    for i in 0..n {
        let k = (kernel[i] - 1) * dilations[i] + 1;
        let span = spatial[i] + begin[i] + end[i] - k;
        if span < 0 {
            return Err(bad(
                op,
                format!("kernel {kernel:?} exceeds the padded input {spatial:?}"),
            ));
        }
        let mut out = if ceil_mode {
            (span + strides[i] - 1) / strides[i] + 1
        } else {
            span / strides[i] + 1
        };
        if ceil_mode && (out - 1) * strides[i] >= spatial[i] + begin[i] {
            out -= 1;
        }
        overhang.push(((out - 1) * strides[i] + k - (spatial[i] + begin[i] + end[i])).max(0));
        outputs.push(out);
    }
    if method == PoolKind::Max && n == 2 {
        let pair = |v: &[i64]| [v[0], v[1]];
        let geometry = crate::functions::MaxPool {
            kernel: pair(kernel),
            stride: pair(&strides),
            dilation: pair(&dilations),
            pad_begin: pair(&begin),
            output: pair(&outputs),
        };
        if let Some(y) = crate::functions::max_pool(x, geometry)? {
            return Ok(y);
        }
    }
    let end_all: Vec<i64> = (0..n).map(|i| end[i] + overhang[i]).collect();
    let zeros = vec![0i64; n];
    match method {
        PoolKind::Max => {
            let padded = x.f_pad(
                torch_pads(&begin, &end_all).as_slice(),
                "constant",
                f64::NEG_INFINITY,
            )?;
            let (s, p, d) = (strides.as_slice(), zeros.as_slice(), dilations.as_slice());
            Ok(match n {
                1 => padded.f_max_pool1d(kernel, s, p, d, false)?,
                2 => padded.f_max_pool2d(kernel, s, p, d, false)?,
                _ => padded.f_max_pool3d(kernel, s, p, d, false)?,
            })
        }
        PoolKind::Average => {
            let area: i64 = kernel.iter().product();
            let (s, p) = (strides.as_slice(), zeros.as_slice());
            let avg = |t: &Tensor| -> Result<Tensor> {
                Ok(match n {
                    1 => t.f_avg_pool1d(kernel, s, p, false, true)?,
                    2 => t.f_avg_pool2d(kernel, s, p, false, true, None)?,
                    _ => t.f_avg_pool3d(kernel, s, p, false, true, None)?,
                }
                .f_mul_scalar(area as f64)?)
            };
            let sums = avg(&x.f_constant_pad_nd(torch_pads(&begin, &end_all).as_slice())?)?;
            // Which padded positions count: the input, and the declared
            // padding when count_include_pad.
            let mut mask_shape = vec![1i64, 1];
            mask_shape.extend(&spatial);
            let ones = Tensor::f_ones(mask_shape.as_slice(), (Kind::Float, x.device()))?;
            let counted = if count_include_pad {
                ones.f_pad(torch_pads(&begin, &end).as_slice(), "constant", 1.0)?
                    .f_constant_pad_nd(torch_pads(&zeros, &overhang).as_slice())?
            } else {
                ones.f_constant_pad_nd(torch_pads(&begin, &end_all).as_slice())?
            };
            let counts = avg(&counted)?;
            Ok(sums.f_div(&counts)?)
        }
    }
}

fn slice(
    op: &OnnxOp,
    x: &Tensor,
    starts: &[i64],
    ends: &[i64],
    axes: &[i64],
    steps: &[i64],
) -> Result<Tensor> {
    let rank = x.dim() as i64;
    let size = x.size();
    let mut y = x.shallow_clone();
    for (i, (&start, &end)) in starts.iter().zip(ends).enumerate() {
        let axis = axis_of(op, axes.get(i).copied().unwrap_or(i as i64), rank)?;
        let step = steps.get(i).copied().unwrap_or(1);
        if step == 0 {
            return Err(bad(op, "a step of 0"));
        }
        let n = size[axis as usize];
        let fix = |v: i64| if v < 0 { v.saturating_add(n) } else { v };
        let (start, end) = (fix(start), fix(end));
        let index: Vec<i64> = if step > 0 {
            let (s, e) = (start.clamp(0, n), end.clamp(0, n));
            (s..e).step_by(step as usize).collect()
        } else {
            let (s, e) = (start.clamp(-1, n - 1), end.clamp(-1, n - 1));
            let mut v = Vec::new();
            let mut i = s;
            while i > e {
                v.push(i);
                i += step;
            }
            v
        };
        let index = Tensor::f_from_slice(&index)?.f_to_device(x.device())?;
        y = y.f_index_select(axis, &index)?;
    }
    Ok(y)
}

fn pad(op: &OnnxOp, x: &Tensor, mode: PadMode, pads: &[i64], value: f64) -> Result<Tensor> {
    let rank = x.dim();
    if pads.len() != 2 * rank {
        return Err(bad(
            op,
            format!("{} pads for a rank-{rank} input", pads.len()),
        ));
    }
    let mut list = torch_pads(&pads[..rank], &pads[rank..]);
    // libtorch pads the last axes; drop unpadded leading axes.
    while list.len() > 2 && list[list.len() - 2..].iter().all(|&p| p == 0) {
        list.truncate(list.len() - 2);
    }
    Ok(match mode {
        PadMode::Constant => x.f_pad(list.as_slice(), "constant", value)?,
        PadMode::Reflect => x.f_pad(list.as_slice(), "reflect", None)?,
        PadMode::Edge => x.f_pad(list.as_slice(), "replicate", None)?,
    })
}

/// Resize, axis by axis (ONNX's linear mode is separable): each output
/// coordinate mapped back to the input by the coordinate transformation,
/// then the nearest pixel or the two neighbours' blend.
fn resize(
    op: &OnnxOp,
    x: &Tensor,
    mode: ResizeMode,
    coordinates: Coordinates,
    nearest: NearestMode,
    scales: &[f64],
    sizes: &[i64],
) -> Result<Tensor> {
    let size = x.size();
    let rank = size.len();
    if (!scales.is_empty() && scales.len() != rank) || (!sizes.is_empty() && sizes.len() != rank) {
        return Err(bad(
            op,
            format!("scales {scales:?} / sizes {sizes:?} for rank {rank}"),
        ));
    }
    let mut y = x.shallow_clone();
    for axis in 0..rank {
        let n = size[axis];
        let (out, scale) = if sizes.is_empty() {
            (((n as f64) * scales[axis]).floor() as i64, scales[axis])
        } else {
            (sizes[axis], sizes[axis] as f64 / n as f64)
        };
        if out == n && scale == 1.0 {
            continue;
        }
        let source: Vec<f64> = (0..out)
            .map(|o| {
                let o = o as f64;
                match coordinates {
                    Coordinates::HalfPixel => (o + 0.5) / scale - 0.5,
                    Coordinates::PytorchHalfPixel if out > 1 => (o + 0.5) / scale - 0.5,
                    Coordinates::PytorchHalfPixel => 0.0,
                    Coordinates::AlignCorners if out > 1 => o * (n - 1) as f64 / (out - 1) as f64,
                    Coordinates::AlignCorners => 0.0,
                    Coordinates::Asymmetric => o / scale,
                }
            })
            .collect();
        let device = x.device();
        match mode {
            ResizeMode::Nearest => {
                let index: Vec<i64> = source
                    .iter()
                    .map(|&s| {
                        let i = match nearest {
                            NearestMode::Floor => s.floor(),
                            NearestMode::Ceil => s.ceil(),
                            NearestMode::RoundPreferFloor if s.fract() == 0.5 => s.floor(),
                            NearestMode::RoundPreferCeil if s.fract() == 0.5 => s.ceil(),
                            _ => s.round(),
                        };
                        (i as i64).clamp(0, n - 1)
                    })
                    .collect();
                let index = Tensor::f_from_slice(&index)?.f_to_device(device)?;
                y = y.f_index_select(axis as i64, &index)?;
            }
            ResizeMode::Linear => {
                let mut low = Vec::with_capacity(source.len());
                let mut high = Vec::with_capacity(source.len());
                let mut weight = Vec::with_capacity(source.len());
                for &s in &source {
                    let s = s.clamp(0.0, (n - 1) as f64);
                    let i = s.floor() as i64;
                    low.push(i);
                    high.push((i + 1).min(n - 1));
                    weight.push((s - i as f64) as f32);
                }
                let lo = y.f_index_select(
                    axis as i64,
                    &Tensor::f_from_slice(&low)?.f_to_device(device)?,
                )?;
                let hi = y.f_index_select(
                    axis as i64,
                    &Tensor::f_from_slice(&high)?.f_to_device(device)?,
                )?;
                let mut shape = vec![1i64; rank];
                shape[axis] = out;
                let w = Tensor::f_from_slice(&weight)?
                    .f_to_device(device)?
                    .f_reshape(shape.as_slice())?;
                y = lo.f_add(&hi.f_sub(&lo)?.f_mul(&w)?)?;
            }
        }
    }
    Ok(y)
}

/// `value` saturated to `kind`'s finite range (infinities kept for
/// floating kinds, NaN made 0 for the others): libtorch refuses a scalar
/// beyond the range, and tch panics dropping the refused scalar, while a
/// graph's text may round `f32::MIN` (a mask's fill value) a hair past it.
fn fit_scalar(value: f64, kind: Kind) -> f64 {
    let (low, high) = match kind {
        Kind::Float => (f64::from(f32::MIN), f64::from(f32::MAX)),
        Kind::Half => (-65504.0, 65504.0),
        Kind::BFloat16 => (-3.389_531_389_251_535_5e38, 3.389_531_389_251_535_5e38),
        // The largest doubles within the integer types.
        Kind::Int64 => (-9_223_372_036_854_775_808.0, 9_223_372_036_854_774_784.0),
        Kind::Int => (f64::from(i32::MIN), f64::from(i32::MAX)),
        Kind::Int16 => (f64::from(i16::MIN), f64::from(i16::MAX)),
        Kind::Int8 => (f64::from(i8::MIN), f64::from(i8::MAX)),
        Kind::Uint8 => (0.0, 255.0),
        Kind::Bool => (0.0, 1.0),
        _ => return value,
    };
    let floating = matches!(kind, Kind::Float | Kind::Half | Kind::BFloat16);
    if value.is_nan() {
        return if floating { value } else { 0.0 };
    }
    if value.is_infinite() && floating {
        return value;
    }
    value.clamp(low, high)
}

/// A float tensor's values (run-time Resize scales).
fn float_values(t: &Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(
        t.f_to_kind(Kind::Double)?.f_reshape([-1i64].as_slice())?,
    )?)
}

/// ONNX Range: `max(ceil((limit − start) / delta), 0)` values of start's
/// type (libtorch's arange refuses a delta whose sign points away).
fn range(op: &OnnxOp, start: &Tensor, limit: &Tensor, delta: &Tensor) -> Result<Tensor> {
    if [start, limit, delta].iter().any(|t| t.numel() != 1) {
        return Err(bad(op, "start, limit and delta must be scalars"));
    }
    let options = (start.kind(), start.device());
    let value = |t: &Tensor| t.f_to_kind(Kind::Double).map(|t| t.double_value(&[]));
    let (s, l, d) = (value(start)?, value(limit)?, value(delta)?);
    if d == 0.0 || !(s.is_finite() && l.is_finite() && d.is_finite()) {
        return Err(bad(op, format!("range {s} to {l} by {d}")));
    }
    let count = ((l - s) / d).ceil().max(0.0);
    if count > zoo_graph::MAX_EXTENT as f64 {
        return Err(bad(
            op,
            format!("range {s} to {l} by {d} has {count} values"),
        ));
    }
    let steps = Tensor::f_arange(count as i64, (Kind::Double, start.device()))?;
    Ok(steps
        .f_mul_scalar(d)?
        .f_add_scalar(s)?
        .f_to_kind(options.0)?)
}

/// ONNX ScatterND: indices `[…, k]` address slices of data's first `k`
/// axes; updates `[…, data.shape[k..]]` are written (or added) there.
fn scatter_nd(
    op: &OnnxOp,
    data: &Tensor,
    indices: &Tensor,
    updates: &Tensor,
    reduction: ScatterReduction,
) -> Result<Tensor> {
    let index = index_columns(op, data, indices)?;
    let rows = index
        .first()
        .and_then(|c| c.as_ref())
        .map_or(0, |c| c.numel() as i64);
    let mut slice_shape = vec![rows];
    slice_shape.extend_from_slice(&data.size()[index.len()..]);
    let updates = updates
        .f_to_kind(data.kind())?
        .f_reshape(slice_shape.as_slice())
        .map_err(|e| bad(op, format!("updates do not fit the indexed slices: {e}")))?;
    let flat: Vec<Option<Tensor>> = index
        .iter()
        .map(|c| {
            c.as_ref()
                .map(|c| c.f_reshape([-1i64].as_slice()))
                .transpose()
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(data.f_index_put(&flat, &updates, reduction == ScatterReduction::Add)?)
}

/// ScatterND's and GatherND's indices `[…, k]` as one index tensor per
/// addressed axis of `data` (libtorch's advanced indexing), each checked
/// against its axis' size.
fn index_columns(op: &OnnxOp, data: &Tensor, indices: &Tensor) -> Result<Vec<Option<Tensor>>> {
    let shape = data.size();
    let k = *indices
        .size()
        .last()
        .ok_or_else(|| bad(op, "indices must have at least one axis"))?;
    if k < 1 || k as usize > shape.len() {
        return Err(bad(
            op,
            format!("indices address {k} axes of a rank-{} tensor", shape.len()),
        ));
    }
    (0..k)
        .map(|axis| {
            let column = indices.f_select(-1, axis)?;
            axis_indices(op, &column, axis, shape[axis as usize]).map(Some)
        })
        .collect()
}

/// `indices` into an axis of size `n` as int64, negative ones counted from
/// the end; one outside `-n..n` is an error naming the axis.
fn axis_indices(op: &OnnxOp, indices: &Tensor, axis: i64, n: i64) -> Result<Tensor> {
    let indices = indices.f_to_kind(Kind::Int64)?;
    let out_of_range = indices.f_lt(-n)?.f_logical_or(&indices.f_ge(n)?)?;
    if out_of_range.f_any()?.int64_value(&[]) != 0 {
        return Err(bad(
            op,
            format!("an index is out of range for axis {axis} of size {n}"),
        ));
    }
    Ok(indices.f_where_self(&indices.f_ge(0)?, &indices.f_add_scalar(n)?)?)
}

/// Directions to run, each with its index in the weights and whether it
/// walks the sequence backwards.
fn directions(direction: Direction) -> Vec<(i64, bool)> {
    match direction {
        Direction::Forward => vec![(0, false)],
        Direction::Reverse => vec![(0, true)],
        Direction::Bidirectional => vec![(0, false), (1, true)],
    }
}

/// What ONNX LSTM and GRU share: input X (seq, batch, features); W, R and B
/// with one slice per direction; the optional initial h (bottom 4).
struct Recurrent<'a> {
    x: &'a Tensor,
    w: &'a Tensor,
    r: &'a Tensor,
    b: &'a Tensor,
    h0: Option<&'a Tensor>,
    seq: i64,
    batch: i64,
    hidden: i64,
    direction: Direction,
}

impl<'a> Recurrent<'a> {
    fn read(op: &OnnxOp, xs: &'a [Tensor]) -> Result<Self> {
        let (OnnxOp::Lstm {
            hidden_size,
            direction,
            has_initial_h,
            ..
        }
        | OnnxOp::Gru {
            hidden_size,
            direction,
            has_initial_h,
            ..
        }) = op
        else {
            return Err(bad(op, "not a recurrent operator"));
        };
        let x = input(op, xs, 0)?;
        let (w, r, b) = (input(op, xs, 1)?, input(op, xs, 2)?, input(op, xs, 3)?);
        let size = x.size();
        if size.len() != 3 {
            return Err(bad(
                op,
                format!("input {size:?} is not (seq, batch, features)"),
            ));
        }
        let h0 = if *has_initial_h {
            Some(input(op, xs, 4)?)
        } else {
            None
        };
        Ok(Recurrent {
            x,
            w,
            r,
            b,
            h0,
            seq: size[0],
            batch: size[1],
            hidden: *hidden_size,
            direction: *direction,
        })
    }

    /// Direction `d`'s W, R and B.
    fn weights(&self, d: i64) -> Result<(Tensor, Tensor, Tensor)> {
        Ok((self.w.f_get(d)?, self.r.f_get(d)?, self.b.f_get(d)?))
    }

    /// Direction `d`'s slice of an initial state, zeros when none is given.
    fn initial(&self, state: Option<&Tensor>, d: i64) -> Result<Tensor> {
        Ok(match state {
            Some(state) => state.f_get(d)?,
            None => Tensor::f_zeros(
                [self.batch, self.hidden].as_slice(),
                (self.x.kind(), self.x.device()),
            )?,
        })
    }

    /// One direction's outputs (seq, batch, hidden) in time order: `step(t)`
    /// advances the state over input step `t` (visited last to first when
    /// `backwards`) and returns its h.
    fn unroll(
        &self,
        backwards: bool,
        mut step: impl FnMut(i64) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let seq = self.seq;
        let mut outputs: Vec<Option<Tensor>> = (0..seq).map(|_| None).collect();
        for i in 0..seq {
            let t = if backwards { seq - 1 - i } else { i };
            outputs[t as usize] = Some(step(t)?);
        }
        let outputs: Vec<Tensor> = outputs.into_iter().flatten().collect();
        Ok(Tensor::f_stack(&outputs, 0)?)
    }
}

/// ONNX LSTM (gates i, o, f, c; sigmoid, tanh, tanh; layout 0) with the
/// optional initial c: tops Y (seq, dirs, batch, hidden), Y_h and Y_c
/// (dirs, batch, hidden).
fn lstm(rnn: &Recurrent, c0: Option<&Tensor>) -> Result<Vec<Tensor>> {
    let hidden = rnn.hidden;
    let (mut ys, mut hs, mut cs) = (Vec::new(), Vec::new(), Vec::new());
    for (d, backwards) in directions(rnn.direction) {
        let (wd, rd, bd) = rnn.weights(d)?;
        let bias =
            bd.f_narrow(0, 0, 4 * hidden)?
                .f_add(&bd.f_narrow(0, 4 * hidden, 4 * hidden)?)?;
        // All input projections at once: (seq, batch, 4·hidden).
        let projected = rnn.x.f_matmul(&tr(&wd)?)?.f_add(&bias)?;
        let mut h = rnn.initial(rnn.h0, d)?;
        let mut c = rnn.initial(c0, d)?;
        let rt = tr(&rd)?;
        let y = rnn.unroll(backwards, |t| {
            let gates = projected.f_get(t)?.f_add(&h.f_matmul(&rt)?)?;
            let parts = gates.f_split(hidden, 1)?;
            let (i, o, f, g) = (
                parts[0].f_sigmoid()?,
                parts[1].f_sigmoid()?,
                parts[2].f_sigmoid()?,
                parts[3].f_tanh()?,
            );
            c = f.f_mul(&c)?.f_add(&i.f_mul(&g)?)?;
            h = o.f_mul(&c.f_tanh()?)?;
            Ok(h.shallow_clone())
        })?;
        ys.push(y);
        hs.push(h);
        cs.push(c);
    }
    Ok(vec![
        Tensor::f_stack(&ys, 1)?,
        Tensor::f_stack(&hs, 0)?,
        Tensor::f_stack(&cs, 0)?,
    ])
}

/// ONNX GRU (gates z, r, h; sigmoid, tanh; layout 0): tops Y and Y_h.
fn gru(rnn: &Recurrent, linear_before_reset: bool) -> Result<Vec<Tensor>> {
    let hidden = rnn.hidden;
    let (mut ys, mut hs) = (Vec::new(), Vec::new());
    for (d, backwards) in directions(rnn.direction) {
        let (wd, rd, bd) = rnn.weights(d)?;
        let wb = bd.f_narrow(0, 0, 3 * hidden)?;
        let rb = bd.f_narrow(0, 3 * hidden, 3 * hidden)?;
        let projected = rnn.x.f_matmul(&tr(&wd)?)?.f_add(&wb)?;
        let rs = rd.f_split(hidden, 0)?;
        let rbs = rb.f_split(hidden, 0)?;
        let (rz, rr, rh) = (tr(&rs[0])?, tr(&rs[1])?, tr(&rs[2])?);
        let mut h = rnn.initial(rnn.h0, d)?;
        let y = rnn.unroll(backwards, |t| {
            let xp = projected.f_get(t)?.f_split(hidden, 1)?;
            let z = xp[0]
                .f_add(&h.f_matmul(&rz)?)?
                .f_add(&rbs[0])?
                .f_sigmoid()?;
            let rg = xp[1]
                .f_add(&h.f_matmul(&rr)?)?
                .f_add(&rbs[1])?
                .f_sigmoid()?;
            let candidate = if linear_before_reset {
                xp[2].f_add(&rg.f_mul(&h.f_matmul(&rh)?.f_add(&rbs[2])?)?)?
            } else {
                xp[2].f_add(&rg.f_mul(&h)?.f_matmul(&rh)?)?.f_add(&rbs[2])?
            }
            .f_tanh()?;
            // h = (1 − z) ⊙ candidate + z ⊙ h
            h = candidate.f_add(&z.f_mul(&h.f_sub(&candidate)?)?)?;
            Ok(h.shallow_clone())
        })?;
        ys.push(y);
        hs.push(h);
    }
    Ok(vec![Tensor::f_stack(&ys, 1)?, Tensor::f_stack(&hs, 0)?])
}

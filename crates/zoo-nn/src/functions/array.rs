//! Shape functions: concat, split, reshape (plain and Caffe's), flatten.

use crate::error::{NnError, Result};
use crate::functions::normalize_axis;
use tch::Tensor;

/// Concatenates along `axis` (Caffe's Concat, Chainer's `F.concat`).
pub fn concat(xs: &[Tensor], axis: i64) -> Result<Tensor> {
    let Some(first) = xs.first() else {
        return Err(NnError::input("concat", "needs at least one input"));
    };
    let axis = normalize_axis("concat", axis, first.dim())?;
    for (index, x) in xs.iter().enumerate() {
        let (a, b) = (x.size(), first.size());
        let same_rest = a.len() == b.len()
            && a.iter()
                .zip(&b)
                .enumerate()
                .all(|(i, (p, q))| i as i64 == axis || p == q);
        if !same_rest {
            return Err(NnError::input(
                "concat",
                format!("input {index} has shape {a:?}, input 0 has {b:?} (axis {axis})"),
            ));
        }
    }
    Ok(Tensor::f_cat(xs, axis)?)
}

/// Where to split: Chainer's `split_axis` takes a number of equal sections
/// or the indices at which to cut (Caffe's Slice `slice_point`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SplitAt {
    Sections(i64),
    Indices(Vec<i64>),
}

pub fn split(x: &Tensor, at: &SplitAt, axis: i64) -> Result<Vec<Tensor>> {
    let axis = normalize_axis("split", axis, x.dim())?;
    let length = x.size()[axis as usize];
    let bounds: Vec<i64> = match at {
        SplitAt::Sections(n) => {
            if *n < 1 || length % n != 0 {
                return Err(NnError::input(
                    "split",
                    format!(
                        "axis {axis} of length {length} does not split into {n} equal sections"
                    ),
                ));
            }
            (0..=*n).map(|i| i * (length / n)).collect()
        }
        SplitAt::Indices(cuts) => {
            let mut bounds = vec![0];
            bounds.extend(cuts.iter().copied());
            bounds.push(length);
            if bounds.windows(2).any(|w| w[0] > w[1]) {
                return Err(NnError::input(
                    "split",
                    format!("indices {cuts:?} must be ascending within 0..={length}"),
                ));
            }
            bounds
        }
    };
    bounds
        .windows(2)
        .map(|w| Ok(x.f_narrow(axis, w[0], w[1] - w[0])?))
        .collect()
}

/// Reshape with at most one −1 (inferred), like numpy and Chainer.
pub fn reshape(x: &Tensor, shape: &[i64]) -> Result<Tensor> {
    let resolved = infer_shape("reshape", x, shape.to_vec())?;
    Ok(x.f_reshape(resolved.as_slice())?)
}

/// Caffe's Reshape: the dimensions [axis, axis + num_axes) (num_axes −1:
/// to the end) are replaced by `dims`, where 0 copies the input's dimension
/// at that position and −1 is inferred.
pub fn reshape_caffe(x: &Tensor, dims: &[i64], axis: i64, num_axes: i64) -> Result<Tensor> {
    let input = x.size();
    let ndim = input.len() as i64;
    let start = if axis < 0 { axis + ndim + 1 } else { axis };
    let end = if num_axes < 0 { ndim } else { start + num_axes };
    if start < 0 || start > ndim || end > ndim || end < start {
        return Err(NnError::input(
            "reshape",
            format!("axis {axis} and num_axes {num_axes} do not fit a {ndim}-d input"),
        ));
    }
    let mut shape: Vec<i64> = input[..start as usize].to_vec();
    for (i, &d) in dims.iter().enumerate() {
        if d == 0 {
            let Some(&copied) = input.get(start as usize + i) else {
                return Err(NnError::input(
                    "reshape",
                    format!("dim {i} is 0 (copy) but the input {input:?} has no such axis"),
                ));
            };
            shape.push(copied);
        } else {
            shape.push(d);
        }
    }
    shape.extend_from_slice(&input[end as usize..]);
    reshape(x, &shape)
}

fn infer_shape(function: &str, x: &Tensor, mut shape: Vec<i64>) -> Result<Vec<i64>> {
    let total = x.numel() as i64;
    let unknown: Vec<usize> = (0..shape.len()).filter(|&i| shape[i] == -1).collect();
    let known: i64 = shape.iter().filter(|&&d| d != -1).product();
    let bad = unknown.len() > 1
        || shape.iter().any(|&d| d < -1)
        || (unknown.is_empty() && known != total)
        || (!unknown.is_empty() && (known == 0 || total % known != 0));
    if bad {
        return Err(NnError::input(
            function,
            format!(
                "cannot reshape {:?} ({total} elements) to {shape:?}",
                x.size()
            ),
        ));
    }
    if let Some(&i) = unknown.first() {
        shape[i] = total / known;
    }
    Ok(shape)
}

/// Flattens the axes from `axis` on into one (Caffe's Flatten, Chainer's
/// Linear input handling with `axis` = 1).
pub fn flatten(x: &Tensor, axis: i64) -> Result<Tensor> {
    let axis = normalize_axis("flatten", axis, x.dim())?;
    Ok(x.f_flatten(axis, -1)?)
}

/// The same 4-D tensor (NCHW shape and values) with NHWC strides:
/// libtorch's channels-last memory format, which tch has no call for. A
/// convolution whose kernel or input is channels-last runs on oneDNN
/// without reordering, and its output stays channels-last.
pub fn channels_last(t: &Tensor) -> Result<Tensor> {
    Ok(t.f_permute([0, 2, 3, 1])?
        .f_contiguous()?
        .f_permute([0, 3, 1, 2])?)
}

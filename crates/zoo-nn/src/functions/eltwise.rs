//! Caffe's Eltwise layer: sum (with optional coefficients), product, max.

use crate::error::{NnError, Result};
use tch::Tensor;

#[derive(Debug, Clone, PartialEq)]
pub enum Eltwise {
    Prod,
    /// Σ coeff_i x_i; an empty list means all ones.
    Sum(Vec<f64>),
    Max,
}

fn check(function: &str, xs: &[Tensor]) -> Result<()> {
    let Some(first) = xs.first() else {
        return Err(NnError::input(function, "needs at least one input"));
    };
    for (index, x) in xs.iter().enumerate().skip(1) {
        if x.size() != first.size() {
            return Err(NnError::input(
                function,
                format!(
                    "input {index} has shape {:?}, input 0 has {:?}",
                    x.size(),
                    first.size()
                ),
            ));
        }
    }
    Ok(())
}

pub fn eltwise_sum(xs: &[Tensor], coeffs: &[f64]) -> Result<Tensor> {
    check("eltwise sum", xs)?;
    if !coeffs.is_empty() && coeffs.len() != xs.len() {
        return Err(NnError::input(
            "eltwise sum",
            format!("{} coefficients for {} inputs", coeffs.len(), xs.len()),
        ));
    }
    let coeff = |i: usize| coeffs.get(i).copied().unwrap_or(1.0);
    let mut y = xs[0].f_mul_scalar(coeff(0))?;
    for (i, x) in xs.iter().enumerate().skip(1) {
        y = y.f_add(&x.f_mul_scalar(coeff(i))?)?;
    }
    Ok(y)
}

pub fn eltwise_prod(xs: &[Tensor]) -> Result<Tensor> {
    check("eltwise prod", xs)?;
    let mut y = xs[0].shallow_clone();
    for x in &xs[1..] {
        y = y.f_mul(x)?;
    }
    Ok(y)
}

pub fn eltwise_max(xs: &[Tensor]) -> Result<Tensor> {
    check("eltwise max", xs)?;
    let mut y = xs[0].shallow_clone();
    for x in &xs[1..] {
        y = y.f_maximum(x)?;
    }
    Ok(y)
}

pub fn eltwise(op: &Eltwise, xs: &[Tensor]) -> Result<Tensor> {
    match op {
        Eltwise::Prod => eltwise_prod(xs),
        Eltwise::Sum(coeffs) => eltwise_sum(xs, coeffs),
        Eltwise::Max => eltwise_max(xs),
    }
}

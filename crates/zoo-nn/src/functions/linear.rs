//! A fully connected layer at batch 1 through zoo-kernels' `Linear`, split
//! over libtorch's threads by output columns (see that module for why).

use crate::error::Result;
use tch::{Device, Kind, Tensor};
use zoo_kernels::Linear;

/// Below this many weights one thread streams them all.
const PARALLEL_MIN_WEIGHTS: usize = 1 << 16;

/// `x·weightᵀ + bias` for a `[1, K]` input and a contiguous `[N, K]`
/// weight, CPU f32, when nothing records ops; `None` for anything else,
/// which the caller runs through libtorch.
pub fn linear_row(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Result<Option<Tensor>> {
    let cpu_f32 = |t: &Tensor| t.device() == Device::Cpu && t.kind() == Kind::Float;
    let (xs, ws) = (x.size(), weight.size());
    let fits = xs.len() == 2
        && xs[0] == 1
        && ws.len() == 2
        && ws[1] == xs[1]
        && ws[0] > 0
        && xs[1] > 0
        && cpu_f32(x)
        && cpu_f32(weight)
        && x.is_contiguous()
        && weight.is_contiguous()
        && bias.is_none_or(|b| cpu_f32(b) && b.size() == [ws[0]] && b.is_contiguous());
    let mut tensors = vec![x, weight];
    tensors.extend(bias);
    if !fits || crate::link::ops_are_recorded(&tensors)? {
        return Ok(None);
    }
    let (outputs, inputs) = (ws[0] as usize, ws[1] as usize);
    let linear = Linear {
        inputs,
        outputs,
        weight: super::f32_slice(weight),
        bias: bias.map(super::f32_slice),
    };
    let input = super::f32_slice(x);
    let y = Tensor::f_empty([1, ws[0]], (Kind::Float, Device::Cpu))?;
    let parts = crate::parallel::parts_for(outputs * inputs, PARALLEL_MIN_WEIGHTS, outputs);
    crate::parallel::fill_in_parts("linear", &y, (outputs, 1), parts, &|first, share| {
        linear.forward_columns(input, first..first + share.len(), share)
    })?;
    Ok(Some(y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_libtorch_and_declines_what_it_does_not_take() {
        tch::manual_seed(5);
        let x = Tensor::randn([1, 300], (Kind::Float, Device::Cpu));
        let w = Tensor::randn([500, 300], (Kind::Float, Device::Cpu));
        let b = Tensor::randn([500], (Kind::Float, Device::Cpu));
        let want = x.linear(&w, Some(&b));
        let got = linear_row(&x, &w, Some(&b)).unwrap().unwrap();
        let diff = (&got - &want).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "{diff}");
        let unbiased = linear_row(&x, &w, None).unwrap().unwrap();
        let diff = (&unbiased - x.linear::<Tensor>(&w, None))
            .abs()
            .max()
            .double_value(&[]);
        assert!(diff < 1e-4, "{diff}");
        // Two rows, a transposed weight, a double input: libtorch's.
        let two = Tensor::randn([2, 300], (Kind::Float, Device::Cpu));
        assert!(linear_row(&two, &w, None).unwrap().is_none());
        let wt = Tensor::randn([300, 500], (Kind::Float, Device::Cpu)).tr();
        assert!(linear_row(&x, &wt, None).unwrap().is_none());
        assert!(
            linear_row(&x.to_kind(Kind::Double), &w, None)
                .unwrap()
                .is_none()
        );
    }
}

//! Device parity: the same links with the same synthetic weights, run on CPU
//! and on another device, should agree to rounding. `zoo doctor --parity
//! cuda` reports these numbers so a broken CUDA install (or a kernel that
//! differs in semantics, such as a pooling rule) shows up before a model
//! silently gives different answers on the GPU.

use crate::error::Result;
use crate::functions::{Lrn, Pool2d, PoolRule, lrn, max_pooling_2d};
use crate::link::{Link, Mode};
use crate::links::{
    BatchNormalizationConfig, Convolution2DConfig, Peephole, Recurrent, batch_normalization,
    convolution_2d, linear, peephole_lstm,
};
use crate::params::to_file_name;
use crate::synthetic::synthetic_tensor;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

/// One comparison: the link or function run, and max |CPU − device|.
#[derive(Debug, Clone, PartialEq)]
pub struct ParityCheck {
    pub name: String,
    pub max_abs_diff: f64,
}

/// Sets every variable of `vs` to its synthetic value (see
/// [`crate::synthetic`]); variances are made positive.
fn fill_synthetic(vs: &VarStore) -> Result<()> {
    for (name, mut var) in vs.variables() {
        let file_name = to_file_name(&name);
        let mut value = synthetic_tensor(&file_name, &var.size());
        if file_name.ends_with("avg_var") {
            value = value.f_abs()?.f_add_scalar(0.5)?;
        }
        tch::no_grad(|| var.f_copy_(&value))?;
    }
    Ok(())
}

/// Runs `forward` with the store on CPU, then on `device`, and compares.
fn compare(
    name: &str,
    vs: &mut VarStore,
    input: &Tensor,
    device: Device,
    forward: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<ParityCheck> {
    fill_synthetic(vs)?;
    vs.set_device(Device::Cpu);
    let reference = tch::no_grad(|| forward(input))?;
    vs.set_device(device);
    let other = tch::no_grad(|| forward(&input.f_to_device(device)?))?;
    let diff = other
        .f_to_device(Device::Cpu)?
        .f_to_kind(Kind::Double)?
        .f_sub(&reference.f_to_kind(Kind::Double)?)?
        .f_abs()?
        .f_max()?
        .f_double_value(&[])?;
    Ok(ParityCheck {
        name: name.to_string(),
        max_abs_diff: diff,
    })
}

fn input(key: &str, shape: &[i64]) -> Tensor {
    synthetic_tensor(key, shape)
}

/// Compares Convolution2D, Linear, BatchNormalization (test mode),
/// StatefulPeepholeLSTM over 5 steps, Caffe-rule max pooling and LRN.
pub fn compare_devices(device: Device) -> Result<Vec<ParityCheck>> {
    let mut checks = Vec::new();

    let mut vs = VarStore::new(Device::Cpu);
    let conv = convolution_2d(
        &(vs.root() / "conv"),
        3,
        8,
        [3, 3],
        Convolution2DConfig {
            pad: [1, 1],
            ..Default::default()
        },
    );
    let x = input("input/conv", &[2, 3, 16, 16]);
    checks.push(compare("Convolution2D", &mut vs, &x, device, |x| {
        conv.f_forward(x, Mode::Test)
    })?);

    let mut vs = VarStore::new(Device::Cpu);
    let fc = linear(&(vs.root() / "fc"), 64, 32);
    let x = input("input/fc", &[4, 64]);
    checks.push(compare("Linear", &mut vs, &x, device, |x| {
        fc.f_forward(x, Mode::Test)
    })?);

    let mut vs = VarStore::new(Device::Cpu);
    let bn = batch_normalization(&(vs.root() / "bn"), 8, BatchNormalizationConfig::default());
    let x = input("input/bn", &[2, 8, 5, 5]);
    checks.push(compare(
        "BatchNormalization (test)",
        &mut vs,
        &x,
        device,
        |x| bn.f_forward(x, Mode::Test),
    )?);

    let mut vs = VarStore::new(Device::Cpu);
    let rnn = peephole_lstm(&(vs.root() / "lstm"), 16, 32, Peephole::Full);
    let x = input("input/lstm", &[5, 4, 16]);
    checks.push(compare(
        "StatefulPeepholeLSTM (5 steps)",
        &mut vs,
        &x,
        device,
        |x| Ok(rnn.seq_init(x)?.0),
    )?);

    let mut vs = VarStore::new(Device::Cpu);
    let x = input("input/pool", &[2, 4, 15, 15]);
    let pool = Pool2d::new([3, 3], PoolRule::Caffe).stride([2, 2]);
    checks.push(compare(
        "max_pooling_2d (Caffe rule)",
        &mut vs,
        &x,
        device,
        |x| max_pooling_2d(x, &pool),
    )?);

    let x = input("input/lrn", &[2, 8, 6, 6]);
    let params = Lrn::caffe(5, 1e-4, 0.75, 1.0);
    checks.push(compare("LRN", &mut vs, &x, device, |x| lrn(x, &params))?);

    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_against_cpu_is_exact() {
        let checks = compare_devices(Device::Cpu).unwrap();
        assert_eq!(checks.len(), 6);
        for check in &checks {
            assert_eq!(check.max_abs_diff, 0.0, "{}", check.name);
        }
    }

    #[test]
    fn cuda_parity_when_available() {
        if !tch::Cuda::is_available() {
            eprintln!("skipped: no CUDA device");
            return;
        }
        for check in compare_devices(Device::Cuda(0)).unwrap() {
            // cuDNN convolutions use TF32 by default on Ampere and later:
            // about 1e-3 relative, hence the loose bound.
            assert!(check.max_abs_diff < 1e-2, "{check:?}");
            eprintln!("{}: {:e}", check.name, check.max_abs_diff);
        }
    }
}

//! `zoo-bench`: times zoo's VGG16 forward pass (1×3×224×224) and the peephole
//! LSTM (sequence 100, batch 32, 256 → 256; Chainer's full peepholes and
//! Gers' diagonal ones) on the CPU for
//! `cargo xtask bench models`, which runs the Python peers beside it.
//! Prints one JSON line: median seconds per forward pass.
//!
//! `zoo-bench package DIR DEVICE BATCH RUNS [THREADS]` instead loads a model
//! package as `zoo run` does and times its forward pass on DEVICE (`cuda`
//! for `cargo xtask gpu-check`), synchronising the device around each pass
//! so that the time is the kernels', not their launch; THREADS sets
//! libtorch's intra-op CPU threads (default: libtorch's own choice).
//! `--profile` after the arguments also prints, for a graph package, the
//! time per pass spent in each kind of layer.

use anyhow::Result;
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn::VarStore};
use zoo_models::peephole::run_batch_major;
use zoo_models::vgg::{Vgg, VggConfig};
use zoo_nn::Mode;
use zoo_nn::links::{Peephole, peephole_lstm};

fn median_seconds(runs: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    f()?; // warm-up: allocator, kernels, lazy initialisation
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        f()?;
        times.push(start.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Median seconds of the package's forward pass on a fixed random batch.
fn package(args: &[String]) -> Result<()> {
    let profile = args.iter().any(|a| a == "--profile");
    let args: Vec<String> = args.iter().filter(|a| *a != "--profile").cloned().collect();
    let (dir, device, batch, runs, threads) = match args.as_slice() {
        [dir, device, batch, runs] => (dir, device, batch, runs, None),
        [dir, device, batch, runs, threads] => (dir, device, batch, runs, Some(threads)),
        _ => anyhow::bail!("usage: zoo-bench package DIR DEVICE BATCH RUNS [THREADS] [--profile]"),
    };
    let device = zoo_nn::parse_device(device)?;
    let (batch, runs): (i64, usize) = (batch.parse()?, runs.parse()?);
    if let Some(threads) = threads {
        let threads: i32 = threads.parse()?;
        anyhow::ensure!(threads > 0, "THREADS must be positive, got {threads}");
        tch::set_num_threads(threads);
    }
    let _guard = tch::no_grad_guard();
    let package = zoo_models::package::load_package(std::path::Path::new(dir), device)?;
    let section = package
        .manifest
        .model
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("{dir}: not a model package"))?;
    let input = section
        .inputs
        .first()
        .ok_or_else(|| anyhow::anyhow!("{dir}: no [[model.inputs]]"))?;
    // Free dimensions (-1) other than the batch: 1.
    let mut shape: Vec<i64> = input.shape.iter().map(|&d| d.max(1)).collect();
    shape[0] = batch;
    let x = Tensor::randn(&shape, (Kind::Float, device));
    let inputs = [(input.name.clone(), x)];
    let outputs: Vec<String> = section.outputs.iter().map(|o| o.name.clone()).collect();
    let sync = || {
        if let Device::Cuda(index) = device {
            tch::Cuda::synchronize(index as i64);
        }
    };
    let seconds = median_seconds(runs, || {
        sync();
        let _ = package.model.run(&inputs, &outputs)?;
        sync();
        Ok(())
    })?;
    if profile {
        // Separate passes, so that timing each layer does not slow the
        // median above.
        zoo_nn::graph::profile::enable(true);
        for _ in 0..runs {
            let _ = package.model.run(&inputs, &outputs)?;
        }
        zoo_nn::graph::profile::enable(false);
        for (kind, entry) in zoo_nn::graph::profile::totals() {
            let per_pass = entry.time.as_secs_f64() / runs as f64;
            eprintln!(
                "{kind:>24} {:>5} calls {:>9.1} µs/pass {:>7.1} µs/call",
                entry.calls / runs as u64,
                per_pass * 1e6,
                per_pass * 1e6 * runs as f64 / entry.calls as f64
            );
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "forward_s": seconds,
            "batch": batch,
            "runs": runs,
            "threads": tch::get_num_threads(),
        })
    );
    Ok(())
}

fn main() -> Result<()> {
    zoo_nn::allocator::keep_freed_memory();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().is_some_and(|a| a == "package") {
        return package(&args[1..]);
    }
    let threads: i32 = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(2);
    let runs: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    tch::set_num_threads(threads);
    let _guard = tch::no_grad_guard();

    let vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&vs.root(), VggConfig::vgg16())?;
    // As loading a package does for `zoo run` and the Rust API.
    vgg.use_channels_last()?;
    let x = Tensor::randn([1, 3, 224, 224], (Kind::Float, Device::Cpu));
    let vgg16 = median_seconds(runs, || {
        let _ = vgg.logits(&x, Mode::Test)?;
        Ok(())
    })?;

    let seq = Tensor::randn([32, 100, 256], (Kind::Float, Device::Cpu));
    let peephole = |kind| {
        let vs = VarStore::new(Device::Cpu);
        let lstm = peephole_lstm(&vs.root(), 256, 256, kind);
        median_seconds(runs, || {
            let _ = run_batch_major(&lstm, &seq)?;
            Ok(())
        })
    };
    let full = peephole(Peephole::Full)?;
    let diagonal = peephole(Peephole::Diagonal)?;
    println!(
        "{}",
        serde_json::json!({
            "vgg16_forward_s": vgg16,
            "peephole_lstm_s": full,
            "diagonal_peephole_lstm_s": diagonal,
            "threads": threads,
            "runs": runs,
        })
    );
    Ok(())
}

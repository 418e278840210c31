//! `zoo-train MODEL [--seed N]`: trains a built-in model on its synthetic data
//! and writes its package folder (weights, zoo.toml, model card, log).
//! Normally run through `cargo xtask train MODEL`; `--golden-only` just
//! records a committed package's golden input and output, and
//! `--convert-tch-weights` renames a package's tch-named weights.

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::path::PathBuf;
use zoo_models::Architecture;
use zoo_models::card::{CardInfo, image_input, output, rgb_preprocess, write_package};
use zoo_models::data::{shapes, sprites};
use zoo_models::peephole::Peepholes;
use zoo_models::train::{self, MINI_MEAN, MINI_SCALE, TrainOptions};

#[derive(Debug, Parser)]
#[command(
    name = "zoo-train",
    about = "Train a zoo built-in model on synthetic data"
)]
struct Args {
    /// vgg-mini, peephole-lstm, nested-rnn or cell-counter.
    model: String,
    /// Seed of tch and of the data generator.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Extra seeds to train and report on the card (the package keeps --seed's weights).
    #[arg(long, value_delimiter = ',')]
    also_seeds: Vec<u64>,
    /// Train the comparison variant too (nested-rnn: per-frame-only; peephole-lstm: diagonal peepholes).
    #[arg(long)]
    compare: bool,
    /// Train the comparison variant as the main model (nested-rnn: per-frame; peephole-lstm: diagonal).
    #[arg(long)]
    variant: bool,
    /// Package folder to write (default models/<package>).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Override the number of training steps.
    #[arg(long)]
    steps: Option<usize>,
    /// Held-out set size (default: the model's recipe; smaller for quick checks).
    #[arg(long)]
    held_out: Option<usize>,
    /// Torch threads.
    #[arg(long, default_value_t = 2)]
    threads: i32,
    /// Do not train: only (re)write golden.npz and `[model.golden]` of the
    /// existing package folder (--out, default models/<model>) from its
    /// committed weights.
    #[arg(long)]
    golden_only: bool,
    /// Do not train: rename the package's (--out, default models/<model>)
    /// weights from tch's module names (`key/weight`, `outer/weight_ih_l0`)
    /// to the links' Chainer names, in place (see zoo_models::tch_weights).
    #[arg(long)]
    convert_tch_weights: bool,
}

fn main() {
    zoo_nn::allocator::keep_freed_memory();
    if let Err(error) = run() {
        eprintln!("zoo-train: error: {error:#}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let args = Args::parse();
    tch::set_num_threads(args.threads);
    let architecture = Architecture::from_name(&args.model)?;
    let package_dir = || {
        args.out
            .clone()
            .unwrap_or_else(|| PathBuf::from("models").join(architecture.name()))
    };
    if args.convert_tch_weights {
        let path = zoo_models::tch_weights::convert_package(&package_dir())
            .context("converting the weights to Chainer names")?;
        eprintln!("wrote {}", path.display());
        return Ok(());
    }
    if args.golden_only {
        let dir = package_dir();
        let golden = zoo_models::golden::record(&dir)
            .with_context(|| format!("writing the golden file of {}", dir.display()))?;
        eprintln!("wrote {}", dir.join(golden.file).display());
        return Ok(());
    }
    let options = TrainOptions {
        seed: args.seed,
        steps: args.steps,
        held_out: args.held_out,
        progress: true,
        device: tch::Device::Cpu,
    };
    let mut command = format!("cargo xtask train {} --seed {}", args.model, args.seed);
    if !args.also_seeds.is_empty() {
        let seeds: Vec<String> = args.also_seeds.iter().map(u64::to_string).collect();
        command += &format!(" --also-seeds {}", seeds.join(","));
    }
    if args.compare {
        command += " --compare";
    }
    if let Some(steps) = args.steps {
        command += &format!(" --steps {steps}");
    }
    if args.variant {
        command += " --variant";
    }
    if args.threads != 2 {
        command += &format!(" --threads {}", args.threads);
    }
    eprintln!("training {} (seed {})", args.model, args.seed);
    // The comparison variant trains on a second thread while the main model
    // trains here (with --threads 1 that is one core each).
    let (report, compared) = std::thread::scope(|scope| {
        let comparison = args.compare.then(|| {
            let quiet = TrainOptions {
                progress: false,
                ..options.clone()
            };
            scope.spawn(move || variant(architecture, &quiet))
        });
        let report = if args.variant {
            variant(architecture, &options)
        } else {
            train::train(architecture, &options).map_err(Into::into)
        };
        let compared = comparison.map(|handle| {
            handle
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("the comparison training panicked")))
        });
        (report, compared)
    });
    let report = report?;
    for m in &report.metrics {
        eprintln!("held-out {}: {:.4} ({})", m.name, m.value, m.dataset);
    }
    let mut extra = Vec::new();
    for &seed in &args.also_seeds {
        eprintln!("training {} (seed {seed})", args.model);
        let other = train::train(
            architecture,
            &TrainOptions {
                seed,
                ..options.clone()
            },
        )?;
        let line = metrics_line(&other);
        eprintln!("seed {seed}: {line}");
        extra.push(format!(
            "Seed {seed} (same recipe, {:.0} s): {line}.",
            other.seconds
        ));
    }
    if let Some(other) = compared {
        let other = other?;
        let label = match architecture {
            Architecture::NestedRnn => {
                "Per-frame-only baseline (same network with the outer state and slot memory reset every frame, slots matched to objects per frame; same data, seed and steps)"
            }
            _ => "Diagonal (Gers) peepholes, same training",
        };
        let line = metrics_line(&other);
        eprintln!("{label}: {line}");
        extra.push(format!("{label}, seed {}: {line}.", args.seed));
    }
    let info = card_info(architecture, &command, args.seed, extra);
    let dir = args
        .out
        .unwrap_or_else(|| PathBuf::from("models").join(&info.package));
    write_package(&dir, &info, &report).with_context(|| format!("writing {}", dir.display()))?;
    eprintln!("wrote {}", dir.display());
    Ok(())
}

/// A run's held-out metrics on one line ("name value, …"), as the card's
/// extra results quote other seeds and comparison variants.
fn metrics_line(report: &train::TrainReport) -> String {
    report
        .metrics
        .iter()
        .map(|m| format!("{} {:.4}", m.name, m.value))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The comparison variant of `architecture`: the per-frame-only detector or
/// the diagonal-peephole LSTM.
fn variant(architecture: Architecture, options: &TrainOptions) -> Result<train::TrainReport> {
    Ok(match architecture {
        Architecture::NestedRnn => train::train_nested_variant(options, false)?,
        Architecture::PeepholeLstm => train::train_peephole_variant(options, Peepholes::Diagonal)?,
        _ => bail!("--variant and --compare are for nested-rnn and peephole-lstm"),
    })
}

fn card_info(
    architecture: Architecture,
    command: &str,
    seed: u64,
    extra_results: Vec<String>,
) -> CardInfo {
    let base = |package: &str, description: &str, body: String| CardInfo {
        package: package.into(),
        builtin: architecture.name().into(),
        description: description.into(),
        keywords: vec![],
        command: command.into(),
        seed,
        body,
        inputs: vec![],
        outputs: vec![],
        extra_files: vec![],
        extra_results: extra_results.clone(),
    };
    match architecture {
        Architecture::VggMini => CardInfo {
            keywords: vec!["vision".into(), "vgg".into(), "synthetic".into()],
            inputs: vec![image_input(
                "data",
                vec![-1, 3, 32, 32],
                Some(rgb_preprocess(MINI_MEAN, MINI_SCALE)),
            )],
            outputs: vec![output("prob", Some("labels.txt"))],
            extra_files: vec![("labels.txt".into(), shapes::CLASSES.join("\n") + "\n")],
            ..base(
                "vgg-mini",
                "VGG16's topology (13 convs + 3 fc, Caffe layer names) with widths /8 and fc 256, trained on 10-class synthetic 32x32 shapes",
                "Architecture: conv1_1 … conv5_3 (3×3, pad 1, ReLU; widths 8/16/32/64/64), 2×2 max pools, fc6/fc7 256 (ReLU, dropout 0.5), fc8 10. \
Input: 32×32 RGB, (pixel − 127.5) / 64. Data: one shape (disc, square, triangle, plus, cross, ring, frame, diamond, horizontal bars, vertical bars) per image at a random position, size and colour with pixel noise. Trained with Adam 1e-3, batch 32, gradient clipping 5.".into(),
            )
        },
        Architecture::PeepholeLstm => CardInfo {
            keywords: vec!["rnn".into(), "lstm".into(), "peephole".into(), "timing".into()],
            inputs: vec![image_input("x", vec![-1, -1, 1], None)],
            outputs: vec![output("logits", None), output("spikes", None)],
            ..base(
                "peephole-lstm",
                "Chainer's StatefulPeepholeLSTM (H=16) + linear readout, trained to reproduce intervals between two input spikes",
                "Task (Gers et al.): two input spikes arrive D ∈ [5, 25] steps apart (the first in steps 0–9); the net must spike D steps after the second. \
Architecture: zoo-nn's `peephole_lstm` link with full H×H peepholes, parameters `lstm/upward`, `lstm/lateral`, `lstm/peep_{i,f,o}` (Chainer's names and gate layout), readout `out`. \
Initialisation: Chainer's defaults (LeCun normal weights, zero biases) except forget-gate biases 1. \
Loss: softmax over the steps after the second spike + 10 × per-step spike BCE. Adam 3e-3 decayed linearly to 3e-4, gradient-norm clip 1, batch 64, 4000 steps. \
Output `spikes` is 1 where the logit ≥ 0; the metric takes the argmax after the second spike.".into(),
            )
        },
        Architecture::NestedRnn => CardInfo {
            keywords: vec!["video".into(), "detection".into(), "rnn".into()],
            inputs: vec![image_input("video", vec![-1, -1, 1, 48, 48], None)],
            outputs: vec![output("class_logits", Some("labels.txt")), output("boxes", None)],
            extra_files: vec![(
                "labels.txt".into(),
                sprites::CLASSES.join("\n") + "\nstop\n",
            )],
            ..base(
                "nested-rnn",
                "Nested-RNN video object detector: an inner LSTM emits objects one at a time (class, box, stop), an outer LSTM over frames carries state and per-object slots into the next frame",
                "Per frame a CNN (3×3 convs 16/32/32, two of stride 2, with x/y coordinate channels) gives a 12×12 feature map and an objectness map. \
The outer LSTM (64) steps once per frame over the pooled features and what each slot emitted in the previous frame; its state starts the frame's inner LSTM (64), \
which runs 4 slots, each reading the frame through a soft attention over the feature map and emitting class logits (square, disc, cross, stop) and a box (cx, cy, w, h in [0,1]). \
Each slot's box, velocity and class probabilities feed the same slot in the next frame, its attention is pulled towards its constant-velocity prior \
(previous centre + velocity) and pushed away from boxes emitted earlier in the frame, and its centre is a learned blend of the attention's soft-argmax and the prior plus a small offset, \
so a slot can keep emitting an object through frames where it is hidden. Training matches slots to objects per frame (cheapest of the 3! permutations), \
loss = class cross-entropy (stop after the last object) + attention cross-entropy (against a bump at the matched object's centre, visible objects) + 20 × L1(box) \
+ 20 × L1(slot velocity) + 5 × BCE(objectness, bumps at visible centres). \
Data: 48×48 videos of 8 frames with 0–3 sprites at constant velocity, generated on the fly; each object is visible in frame 0 and hidden in each later frame with probability 0.34 \
(≈30% of object-frames; hidden objects remain targets). Metric: F1 at IoU 0.5 with the class required to match, greedy matching per frame. \
Adam 3e-3 decayed linearly to 3e-4, gradient-norm clip 5, batch 32.".into(),
            )
        },
        Architecture::CellCounter => CardInfo {
            keywords: vec!["microscopy".into(), "counting".into(), "fcn".into()],
            inputs: vec![image_input("image", vec![-1, 1, -1, -1], None)],
            outputs: vec![output("density", None), output("count", None)],
            ..base(
                "cell-counter",
                "FCRN-A-small density-map cell counter (count = density sum / 100) for fluorescence microscopy, trained on synthetic nuclei",
                "Architecture: conv1–conv4 (3×3, widths 16/32/64/128, ReLU, 2×2 max pools between), up1–up3 (nearest ×2 + 3×3 conv, 64/32/16), `out` 1×1 → density. \
Input: one channel in [0, 1], height and width multiples of 8. Data: 64×64 images with 5–60 soft elliptical nuclei, saturation, blur σ=1, background gradient, Poisson (×200) + read noise; target: dots blurred with σ=1.5 (reflect) × 100. \
Count = sum(density) / 100; `zoo run` also reports peaks (5×5 NMS, ≥ 0.3 × max) as coordinates. Adam 1e-3 decayed linearly to 1e-4, batch 8, MSE.".into(),
            )
        },
        _ => base(architecture.name(), "", String::new()),
    }
}

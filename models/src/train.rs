//! Training of the four trainable built-ins on their synthetic data: one
//! [`fit`] loop (fixed seeds for tch and the data generator, Adam, an
//! optional linear decay and gradient clipping, an indicatif progress bar
//! with the loss, a metric log line per evaluation "epoch", a report with the
//! held-out metrics for the model card) over a per-model [`Recipe`]: its
//! batches and loss, its held-out set and metrics.

use crate::cell_counter::{count_from_density, find_peaks};
use crate::data::{cells, shapes, spikes, sprites};
use crate::error::Result;
use crate::metrics::DetectionCounts;
use crate::nested_loss::nested_loss;
use crate::nested_rnn::NestedRnnConfig;
use crate::package::{Architecture, BuiltinModel, Network};
use crate::peephole::{PeepholeConfig, Peepholes};
use crate::rng::{DataRng, data_rng};
use crate::vgg::VggConfig;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Mutex;
use std::time::Instant;
use tch::{Device, Kind, Tensor, nn, nn::OptimizerConfig};
use zoo_nn::Mode;

/// Data streams of one seed: training and held-out never overlap.
const TRAIN_STREAM: u64 = 1;
const HELD_OUT_STREAM: u64 = 2;

/// VGG-mini's input normalisation: (rgb − 127.5) / 64.
pub const MINI_MEAN: f64 = 127.5;
pub const MINI_SCALE: f64 = 1.0 / 64.0;

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub seed: u64,
    /// Overrides the model's default number of steps (short test runs).
    pub steps: Option<usize>,
    /// Held-out set size override (short test runs).
    pub held_out: Option<usize>,
    pub progress: bool,
    pub device: Device,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            seed: 0,
            steps: None,
            held_out: None,
            progress: false,
            device: Device::Cpu,
        }
    }
}

/// One held-out metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricValue {
    pub name: String,
    pub dataset: String,
    pub value: f64,
}

/// The card's metrics, all measured on one held-out `dataset`.
fn metrics_on(dataset: &str, values: &[(&str, f64)]) -> Vec<MetricValue> {
    values
        .iter()
        .map(|&(name, value)| MetricValue {
            name: name.into(),
            dataset: dataset.into(),
            value,
        })
        .collect()
}

/// What a training run produced besides the weights.
#[derive(Debug)]
pub struct TrainReport {
    pub model: BuiltinModel,
    pub config: serde_json::Value,
    pub metrics: Vec<MetricValue>,
    /// Per-evaluation log lines (also printed).
    pub log: Vec<String>,
    /// Training loss of the first and last logged windows.
    pub first_loss: f64,
    pub last_loss: f64,
    pub steps: usize,
    pub seconds: f64,
    /// Extra lines for the model card (baselines, notes).
    pub notes: Vec<String>,
}

struct Progress {
    bar: ProgressBar,
    log: Vec<String>,
    losses: Vec<f64>,
    window: Vec<f64>,
    started: Instant,
}

impl Progress {
    fn new(steps: usize, show: bool) -> Self {
        let started = Instant::now();
        let bar = if show {
            let bar = ProgressBar::new(steps as u64);
            if let Ok(style) =
                ProgressStyle::with_template("{bar:30} {pos}/{len} [{elapsed_precise}<{eta}] {msg}")
            {
                bar.set_style(style);
            }
            bar
        } else {
            ProgressBar::hidden()
        };
        Progress {
            bar,
            log: Vec::new(),
            losses: Vec::new(),
            window: Vec::new(),
            started,
        }
    }
    fn step(&mut self, loss: f64) {
        self.window.push(loss);
        self.bar.inc(1);
        self.bar.set_message(format!("loss {loss:.4}"));
    }
    /// Closes a logging window ("epoch") and records a line with its metric.
    fn epoch(&mut self, step: usize, metric: &str) {
        let mean = self.window.iter().sum::<f64>() / self.window.len().max(1) as f64;
        self.window.clear();
        self.losses.push(mean);
        let seconds = self.started.elapsed().as_secs_f64();
        let line = format!("step {step:>5}  {seconds:>6.0} s  train loss {mean:.5}  {metric}");
        if self.bar.is_hidden() {
            // Not a terminal (a log file): print the line plainly.
            eprintln!("{line}");
        } else {
            self.bar.println(&line);
        }
        self.log.push(line);
    }
    fn finish(&self) {
        self.bar.finish_and_clear();
    }
    fn first_last(&self) -> (f64, f64) {
        (
            self.losses.first().copied().unwrap_or(f64::NAN),
            self.losses.last().copied().unwrap_or(f64::NAN),
        )
    }
}

/// Serialises seeding and initialisation: torch's generator is global, and a
/// model and its comparison variant may be trained on two threads at once.
static INIT: Mutex<()> = Mutex::new(());

/// The model with its initial weights drawn from `seed`.
fn build(
    architecture: Architecture,
    config: &serde_json::Value,
    options: &TrainOptions,
) -> Result<BuiltinModel> {
    let _guard = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    // Unseeded, libtorch's generator starts from a random value per process.
    tch::manual_seed(options.seed as i64);
    BuiltinModel::build(architecture, config, options.device)
}

fn to_json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// The model of `architecture` trained per its recipe.
pub fn train(architecture: Architecture, options: &TrainOptions) -> Result<TrainReport> {
    match architecture {
        Architecture::VggMini => fit(&VggMiniRecipe::new(), options),
        Architecture::PeepholeLstm => fit(&PeepholeRecipe::new(Peepholes::Full), options),
        Architecture::NestedRnn => fit(&NestedRecipe::new(true), options),
        Architecture::CellCounter => fit(&CellsRecipe::new(), options),
        other => Err(crate::error::ModelError::Package {
            package: other.name().into(),
            message: "has no synthetic training recipe (use converted weights)".into(),
        }),
    }
}

/// Variants for comparisons: the diagonal-peephole LSTM and the per-frame-only detector.
pub fn train_peephole_variant(options: &TrainOptions, peepholes: Peepholes) -> Result<TrainReport> {
    fit(&PeepholeRecipe::new(peepholes), options)
}

pub fn train_nested_variant(options: &TrainOptions, temporal: bool) -> Result<TrainReport> {
    fit(&NestedRecipe::new(temporal), options)
}

/// How gradients are bounded before each Adam step.
#[derive(Debug, Clone, Copy)]
enum Clip {
    None,
    /// Each gradient value into [−v, v].
    Value(f64),
    /// The global gradient norm to at most n.
    Norm(f64),
}

/// A recipe's optimisation settings and default sizes.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    steps: usize,
    /// Training examples per step.
    batch: usize,
    held_out: usize,
    /// Held-out examples used for each log line's metric.
    log_subset: usize,
    rate: Rate,
    clip: Clip,
}

/// Adam's learning rate over the run.
#[derive(Debug, Clone, Copy)]
enum Rate {
    Constant(f64),
    /// From this rate at the first step down to a tenth of it at the last.
    LinearDecay(f64),
}

impl Rate {
    fn initial(self) -> f64 {
        match self {
            Rate::Constant(lr) | Rate::LinearDecay(lr) => lr,
        }
    }
}

/// Examples of a data generator (a training batch, the held-out set) whose
/// first ones give each log line's metric.
trait HeldOut {
    /// The first `m` examples.
    fn first(&self, m: usize) -> Self;
    fn len(&self) -> usize;
}

/// Images and their labels (or counts).
impl HeldOut for (Tensor, Tensor) {
    fn first(&self, m: usize) -> Self {
        let m = m as i64;
        (self.0.narrow(0, 0, m), self.1.narrow(0, 0, m))
    }
    fn len(&self) -> usize {
        self.0.size()[0] as usize
    }
}

impl HeldOut for spikes::SpikeBatch {
    fn first(&self, m: usize) -> Self {
        let m = m as i64;
        spikes::SpikeBatch {
            inputs: self.inputs.narrow(0, 0, m),
            second: self.second.narrow(0, 0, m),
            target: self.target.narrow(0, 0, m),
        }
    }
    fn len(&self) -> usize {
        self.target.size()[0] as usize
    }
}

/// Images, density maps and counts.
impl HeldOut for (Tensor, Tensor, Tensor) {
    fn first(&self, m: usize) -> Self {
        let m = m as i64;
        (
            self.0.narrow(0, 0, m),
            self.1.narrow(0, 0, m),
            self.2.narrow(0, 0, m),
        )
    }
    fn len(&self) -> usize {
        self.0.size()[0] as usize
    }
}

impl HeldOut for sprites::SpriteBatch {
    fn first(&self, m: usize) -> Self {
        sprites::SpriteBatch {
            videos: self.videos.narrow(0, 0, m as i64),
            truth: self.truth[..m].to_vec(),
        }
    }
    fn len(&self) -> usize {
        self.truth.len()
    }
}

/// A recipe's metrics and notes for the model card.
type CardResults = (Vec<MetricValue>, Vec<String>);

/// What one built-in's training needs besides the shared loop; a recipe
/// serialises as the config of the model it trains.
trait Recipe: serde::Serialize {
    /// What the recipe's data generator draws.
    type Examples: HeldOut;
    /// What [`fit`] builds; each recipe's loss expects its network.
    const ARCHITECTURE: Architecture;
    const SCHEDULE: Schedule;
    /// `n` examples from the data generator: a training batch, or the
    /// held-out set (from its own stream).
    fn draw(rng: &mut DataRng, n: usize) -> Self::Examples;
    /// The loss of one step on a fresh training `batch`.
    fn loss(&self, model: &BuiltinModel, batch: Self::Examples, device: Device) -> Result<Tensor>;
    /// The log line's metric on `subset`, the first `m` held-out examples.
    fn log_metric(&self, model: &BuiltinModel, subset: &Self::Examples) -> Result<String>;
    /// The card's metrics on the whole held-out set, and notes.
    fn report(&self, model: &BuiltinModel, held_out: &Self::Examples) -> Result<CardResults>;
}

/// The one training loop.
fn fit<R: Recipe>(recipe: &R, options: &TrainOptions) -> Result<TrainReport> {
    let start = Instant::now();
    let config = to_json(recipe);
    let model = build(R::ARCHITECTURE, &config, options)?;
    let schedule = R::SCHEDULE;
    let steps = options.steps.unwrap_or(schedule.steps);
    let held_out_size = options.held_out.unwrap_or(schedule.held_out);
    let mut rng = data_rng(options.seed, TRAIN_STREAM);
    let held_out = R::draw(&mut data_rng(options.seed, HELD_OUT_STREAM), held_out_size);
    let mut opt = nn::Adam::default().build(&model.vs, schedule.rate.initial())?;
    let mut progress = Progress::new(steps, options.progress);
    let every = (steps / 10).max(1);
    for step in 1..=steps {
        if let Rate::LinearDecay(lr) = schedule.rate {
            opt.set_lr(lr * (1.0 - 0.9 * (step - 1) as f64 / steps as f64));
        }
        let batch = R::draw(&mut rng, schedule.batch);
        let loss = recipe.loss(&model, batch, options.device)?;
        match schedule.clip {
            Clip::None => opt.backward_step(&loss),
            Clip::Value(v) => opt.backward_step_clip(&loss, v),
            Clip::Norm(n) => opt.backward_step_clip_norm(&loss, n),
        }
        progress.step(loss.double_value(&[]));
        if step % every == 0 || step == steps {
            let m = held_out_size.min(schedule.log_subset);
            let metric = recipe.log_metric(&model, &held_out.first(m))?;
            progress.epoch(step, &metric);
        }
    }
    progress.finish();
    let (metrics, notes) = recipe.report(&model, &held_out)?;
    let (first_loss, last_loss) = progress.first_last();
    Ok(TrainReport {
        model,
        config,
        metrics,
        log: progress.log,
        first_loss,
        last_loss,
        steps,
        seconds: start.elapsed().as_secs_f64(),
        notes,
    })
}

/// A recipe's loss was given a model of another architecture than the one
/// [`fit`] builds for it.
fn network_error(architecture: Architecture) -> crate::error::ModelError {
    crate::error::ModelError::Package {
        package: architecture.name().into(),
        message: "the recipe was given another architecture's model".into(),
    }
}

// ---------------------------------------------------------------- VGG-mini

fn mini_input(images: &Tensor, device: Device) -> Tensor {
    ((images - MINI_MEAN) * MINI_SCALE).to_device(device)
}

/// Accuracy of a VGG on a held-out shapes set.
pub fn vgg_accuracy(model: &BuiltinModel, images: &Tensor, labels: &Tensor) -> Result<f64> {
    let Network::Vgg(vgg) = &model.network else {
        return Ok(0.0);
    };
    let device = model.vs.device();
    let mut correct = 0i64;
    let n = images.size()[0];
    tch::no_grad(|| -> Result<()> {
        for start in (0..n).step_by(250) {
            let len = (n - start).min(250);
            let x = mini_input(&images.narrow(0, start, len), device);
            let predicted = vgg
                .logits(&x, Mode::Test)?
                .argmax(1, false)
                .to_device(Device::Cpu);
            correct += predicted
                .eq_tensor(&labels.narrow(0, start, len))
                .sum(Kind::Int64)
                .int64_value(&[]);
        }
        Ok(())
    })?;
    Ok(correct as f64 / n as f64)
}

/// Shapes classification: cross-entropy, constant rate, gradients clipped.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct VggMiniRecipe {
    config: VggConfig,
}

impl VggMiniRecipe {
    fn new() -> Self {
        VggMiniRecipe {
            config: VggConfig::mini(),
        }
    }
}

impl Recipe for VggMiniRecipe {
    type Examples = (Tensor, Tensor);
    const ARCHITECTURE: Architecture = Architecture::VggMini;
    const SCHEDULE: Schedule = Schedule {
        steps: 1000,
        batch: 32,
        held_out: 1000,
        log_subset: 200,
        rate: Rate::Constant(1e-3),
        clip: Clip::Value(5.0),
    };
    fn draw(rng: &mut DataRng, n: usize) -> Self::Examples {
        shapes::batch(rng, n)
    }
    fn loss(&self, model: &BuiltinModel, (x, y): Self::Examples, device: Device) -> Result<Tensor> {
        let Network::Vgg(vgg) = &model.network else {
            return Err(network_error(Self::ARCHITECTURE));
        };
        let logits = vgg.logits(&mini_input(&x, device), Mode::Train)?;
        Ok(logits.cross_entropy_for_logits(&y.to_device(device)))
    }
    fn log_metric(&self, model: &BuiltinModel, subset: &Self::Examples) -> Result<String> {
        let (m, (x, y)) = (subset.len(), subset);
        let accuracy = vgg_accuracy(model, x, y)?;
        Ok(format!("held-out accuracy ({m}) {accuracy:.4}"))
    }
    fn report(&self, model: &BuiltinModel, held_out: &Self::Examples) -> Result<CardResults> {
        let (n, (x, y)) = (held_out.len(), held_out);
        let accuracy = vgg_accuracy(model, x, y)?;
        let dataset = format!("synthetic-shapes, 10 classes, 32x32 (held-out, {n} images)");
        Ok((
            metrics_on(&dataset, &[("accuracy", accuracy)]),
            vec!["Chance level is 0.10.".into()],
        ))
    }
}

// ---------------------------------------------------------------- peephole

/// Exact-step and ±1 accuracy of the first spike after the second input
/// spike (argmax of the logits after it).
pub fn interval_accuracy(model: &BuiltinModel, batch: &spikes::SpikeBatch) -> Result<(f64, f64)> {
    let Network::Timing(timing) = &model.network else {
        return Ok((0.0, 0.0));
    };
    let device = model.vs.device();
    let logits =
        tch::no_grad(|| timing.logits(&batch.inputs.to_device(device)))?.to_device(Device::Cpu);
    let predicted = masked_after(&logits, &batch.second).argmax(1, false);
    let diff = (predicted - &batch.target).abs();
    let n = batch.target.size()[0] as f64;
    let exact = diff.eq(0).sum(Kind::Int64).int64_value(&[]) as f64 / n;
    let near = diff.le(1).sum(Kind::Int64).int64_value(&[]) as f64 / n;
    Ok((exact, near))
}

/// Logits with every step up to and including the second spike set to −1e9.
fn masked_after(logits: &Tensor, second: &Tensor) -> Tensor {
    let steps = logits.size()[1];
    let t = Tensor::arange(steps, (Kind::Int64, logits.device())).unsqueeze(0);
    let before = t.le_tensor(&second.to_device(logits.device()).unsqueeze(1));
    logits.masked_fill(&before, -1e9)
}

/// Interval reproduction: where the spike is, plus spike/no-spike per step;
/// linear decay so that late steps settle on the exact step.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct PeepholeRecipe {
    config: PeepholeConfig,
}

impl PeepholeRecipe {
    fn new(peepholes: Peepholes) -> Self {
        PeepholeRecipe {
            config: PeepholeConfig {
                input_size: 1,
                hidden: 16,
                peepholes,
            },
        }
    }
}

impl Recipe for PeepholeRecipe {
    type Examples = spikes::SpikeBatch;
    const ARCHITECTURE: Architecture = Architecture::PeepholeLstm;
    const SCHEDULE: Schedule = Schedule {
        steps: 4000,
        batch: 64,
        held_out: 1000,
        log_subset: 200,
        rate: Rate::LinearDecay(3e-3),
        clip: Clip::Norm(1.0),
    };
    fn draw(rng: &mut DataRng, n: usize) -> Self::Examples {
        spikes::batch(rng, n)
    }
    fn loss(&self, model: &BuiltinModel, batch: Self::Examples, device: Device) -> Result<Tensor> {
        let Network::Timing(timing) = &model.network else {
            return Err(network_error(Self::ARCHITECTURE));
        };
        let logits = timing.logits(&batch.inputs.to_device(device))?;
        let target = batch.target.to_device(device);
        // Where the spike is (softmax over the steps after the second input
        // spike), plus a per-step spike/no-spike loss so that logit ≥ 0 marks it.
        let where_loss = masked_after(&logits, &batch.second).cross_entropy_for_logits(&target);
        let spike_target = Tensor::zeros_like(&logits).scatter_value(1, &target.unsqueeze(1), 1.0);
        let spike_loss = logits.binary_cross_entropy_with_logits::<Tensor>(
            &spike_target,
            None,
            None,
            tch::Reduction::Mean,
        );
        Ok(where_loss + spike_loss * 10.0)
    }
    fn log_metric(&self, model: &BuiltinModel, subset: &Self::Examples) -> Result<String> {
        let m = subset.len();
        let (exact, near) = interval_accuracy(model, subset)?;
        Ok(format!(
            "held-out ({m}) exact {exact:.4}  within ±1 {near:.4}"
        ))
    }
    fn report(&self, model: &BuiltinModel, test: &Self::Examples) -> Result<CardResults> {
        let n = test.len();
        let (exact, near) = interval_accuracy(model, test)?;
        let dataset = format!(
            "interval reproduction, D in [{}, {}], {} steps (held-out, {n} sequences)",
            spikes::MIN_INTERVAL,
            spikes::MAX_INTERVAL,
            spikes::STEPS
        );
        let metrics = [
            ("exact-step accuracy", exact),
            ("within-1-step accuracy", near),
        ];
        Ok((metrics_on(&dataset, &metrics), vec![]))
    }
}

// ---------------------------------------------------------------- nested RNN

/// The nested detector's recipe: Adam, linear decay to a tenth, videos per step.
const NESTED_STEPS: usize = 5000;
const NESTED_LR: f64 = 3e-3;
const NESTED_BATCH: usize = 32;

/// Detection F1 at IoU 0.5 (hidden objects are targets) on a batch of videos.
pub fn detection_counts(
    model: &BuiltinModel,
    batch: &sprites::SpriteBatch,
) -> Result<DetectionCounts> {
    let Network::NestedRnn(net) = &model.network else {
        return Ok(DetectionCounts::default());
    };
    let device = model.vs.device();
    let mut counts = DetectionCounts::default();
    let n = batch.videos.size()[0];
    for start in (0..n).step_by(100) {
        let len = (n - start).min(100);
        let detections =
            tch::no_grad(|| net.forward(&batch.videos.narrow(0, start, len).to_device(device)))?;
        let decoded = net.decode(&detections);
        for (v, video) in decoded.iter().enumerate() {
            for (f, frame) in video.iter().enumerate() {
                counts.add_frame(frame, &batch.truth[start as usize + v][f], 0.5);
            }
        }
    }
    Ok(counts)
}

/// Detection in moving-sprite videos: the nested loss over the trace; late
/// steps (decayed rate) refine the boxes.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct NestedRecipe {
    config: NestedRnnConfig,
}

impl NestedRecipe {
    fn new(temporal: bool) -> Self {
        NestedRecipe {
            config: NestedRnnConfig {
                temporal,
                ..NestedRnnConfig::default()
            },
        }
    }
}

impl Recipe for NestedRecipe {
    type Examples = sprites::SpriteBatch;
    const ARCHITECTURE: Architecture = Architecture::NestedRnn;
    const SCHEDULE: Schedule = Schedule {
        steps: NESTED_STEPS,
        batch: NESTED_BATCH,
        held_out: 300,
        log_subset: 100,
        rate: Rate::LinearDecay(NESTED_LR),
        clip: Clip::Norm(5.0),
    };
    fn draw(rng: &mut DataRng, n: usize) -> Self::Examples {
        sprites::batch(rng, n)
    }
    fn loss(&self, model: &BuiltinModel, batch: Self::Examples, device: Device) -> Result<Tensor> {
        let Network::NestedRnn(net) = &model.network else {
            return Err(network_error(Self::ARCHITECTURE));
        };
        let trace = net.trace(&batch.videos.to_device(device))?;
        nested_loss(&trace, &batch.truth, &self.config)
    }
    fn log_metric(&self, model: &BuiltinModel, subset: &Self::Examples) -> Result<String> {
        let m = subset.len();
        let counts = detection_counts(model, subset)?;
        Ok(format!("held-out F1 ({m} videos) {:.4}", counts.f1()))
    }
    fn report(&self, model: &BuiltinModel, test: &Self::Examples) -> Result<CardResults> {
        let n = test.len();
        let counts = detection_counts(model, test)?;
        let dataset = format!(
            "moving sprites 48x48, 8 frames, 0-3 objects, hidden objects counted (held-out, {n} videos)"
        );
        let metrics = [
            ("F1@IoU0.5", counts.f1()),
            ("precision@IoU0.5", counts.precision()),
            ("recall@IoU0.5", counts.recall()),
        ];
        Ok((metrics_on(&dataset, &metrics), vec![]))
    }
}

// ---------------------------------------------------------------- cells

/// Count MAE (density sum / 100) and peak-count MAE on held-out images.
pub fn count_errors(model: &BuiltinModel, images: &Tensor, counts: &Tensor) -> Result<(f64, f64)> {
    let Network::CellCounter(net) = &model.network else {
        return Ok((f64::NAN, f64::NAN));
    };
    let device = model.vs.device();
    let density = tch::no_grad(|| net.density(&images.to_device(device)))?.to_device(Device::Cpu);
    let predicted = count_from_density(&density);
    let mae = (predicted - counts)
        .abs()
        .mean(Kind::Float)
        .double_value(&[]);
    let n = images.size()[0];
    let mut peak_error = 0.0;
    for i in 0..n {
        let peaks = find_peaks(&density.get(i).get(0), 0.3);
        peak_error += (peaks.len() as f64 - counts.double_value(&[i])).abs();
    }
    Ok((mae, peak_error / n as f64))
}

/// Density regression (mean squared error to the dot maps); linear decay,
/// since the count MAE is noisy at a constant rate.
#[derive(serde::Serialize)]
#[serde(transparent)]
struct CellsRecipe {
    config: crate::cell_counter::CellCounterConfig,
}

impl CellsRecipe {
    fn new() -> Self {
        CellsRecipe {
            config: crate::cell_counter::CellCounterConfig::default(),
        }
    }
}

impl Recipe for CellsRecipe {
    /// Images, density maps and true counts.
    type Examples = (Tensor, Tensor, Tensor);
    const ARCHITECTURE: Architecture = Architecture::CellCounter;
    const SCHEDULE: Schedule = Schedule {
        steps: 1200,
        batch: 8,
        held_out: 300,
        log_subset: 100,
        rate: Rate::LinearDecay(1e-3),
        clip: Clip::None,
    };
    fn draw(rng: &mut DataRng, n: usize) -> Self::Examples {
        cells::batch(rng, n)
    }
    fn loss(
        &self,
        model: &BuiltinModel,
        (x, y, _): Self::Examples,
        device: Device,
    ) -> Result<Tensor> {
        let Network::CellCounter(net) = &model.network else {
            return Err(network_error(Self::ARCHITECTURE));
        };
        let density = net.density(&x.to_device(device))?;
        Ok(density.mse_loss(&y.to_device(device), tch::Reduction::Mean))
    }
    fn log_metric(&self, model: &BuiltinModel, subset: &Self::Examples) -> Result<String> {
        let (m, (images, _, counts)) = (subset.len(), subset);
        let (mae, _) = count_errors(model, images, counts)?;
        Ok(format!("held-out count MAE ({m}) {mae:.3}"))
    }
    fn report(&self, model: &BuiltinModel, held_out: &Self::Examples) -> Result<CardResults> {
        let (n, (images, _, counts)) = (held_out.len(), held_out);
        let (mae, peak_mae) = count_errors(model, images, counts)?;
        let mean_count = counts.mean(Kind::Float);
        let baseline = (counts - mean_count)
            .abs()
            .mean(Kind::Float)
            .double_value(&[]);
        let dataset = format!("synthetic fluorescence 64x64, 5-60 nuclei (held-out, {n} images)");
        Ok((
            metrics_on(
                &dataset,
                &[("count MAE", mae), ("peak-count MAE", peak_mae)],
            ),
            vec![format!(
                "Predict-the-mean baseline on the same images: MAE {baseline:.2}. Peak counting (5x5 NMS, threshold 0.3 x peak) under-counts touching nuclei."
            )],
        ))
    }
}

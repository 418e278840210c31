//! The nested-RNN video detector.
//!
//! Per frame a small CNN (stride-2 convs, x/y coordinate channels) turns the
//! frame into a feature map and an objectness ("saliency") map. The **outer**
//! LSTM steps once per frame over the pooled frame features and what the
//! previous frame emitted; its state starts that frame's **inner** LSTM, which
//! emits objects one at a time — per step a class (with a "stop" class) and a
//! box — reading the frame through a soft attention over the feature map.
//!
//! What makes it learnable quickly on a CPU:
//! * inner step `k` of every frame is the same **slot** (object track): the
//!   slot's previous box, velocity and class probabilities are inputs of its
//!   next step, so a hidden object is emitted at its constant-velocity
//!   extrapolation (`prior = previous centre + velocity`);
//! * the attention is biased towards the slot's prior and away from the boxes
//!   earlier slots of the same frame emitted (inhibition of return), and its
//!   soft-argmax gives the observed centre; the box is a learned blend of the
//!   observation and the prior plus a small offset;
//! * training matches slots to tracks once per video (see `nested_loss`).
//!
//! With `temporal = false` nothing crosses frames (outer state and slot memory
//! reset every frame): the per-frame-only baseline.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn};
use zoo_nn::init::Initializer;
use zoo_nn::links::{
    Convolution2D, Convolution2DConfig, Linear, LinearConfig, Lstm, LstmConfig, LstmState,
    Recurrent, convolution_2d, linear_with, lstm_with,
};
use zoo_nn::{Link, Mode};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NestedRnnConfig {
    /// Object classes (the stop token is class index `classes`).
    pub classes: i64,
    /// Inner steps per frame: the most objects a frame can hold, plus one stop.
    pub slots: i64,
    /// Frame side in pixels (square, one channel), a multiple of 4.
    pub frame_size: i64,
    /// Channels of the CNN feature map (and of the glimpse the inner RNN reads).
    pub feature: i64,
    /// Hidden size of the outer and inner LSTMs.
    pub hidden: i64,
    /// Carry the outer state and slot memory across frames (false: per-frame baseline).
    pub temporal: bool,
}

impl Default for NestedRnnConfig {
    fn default() -> Self {
        NestedRnnConfig {
            classes: 3,
            slots: 4,
            frame_size: 48,
            feature: 32,
            hidden: 64,
            temporal: true,
        }
    }
}

/// Width of the attention keys and queries.
const ATTENTION: i64 = 16;
/// Largest centre offset the box head adds to the blended centre (fraction of the side).
const MAX_OFFSET: f64 = 0.05;

/// Raw outputs for a (B, T) video: class logits (B, T, K, C+1), boxes (B, T, K, 4)
/// as (cx, cy, w, h) in [0, 1] of the frame side.
#[derive(Debug)]
pub struct Detections {
    pub class_logits: Tensor,
    pub boxes: Tensor,
}

/// [`Detections`] plus what the training loss also supervises.
#[derive(Debug)]
pub struct Trace {
    pub detections: Detections,
    /// Per-slot velocity estimates (B, T, K, 2), frame sides per frame.
    pub velocities: Tensor,
    /// Objectness logits (B, T, G, G) on the feature-map grid (G = side / 4).
    pub saliency: Tensor,
    /// Each slot's attention over the grid cells (B, T, K, G·G), rows sum to 1.
    pub attention: Tensor,
}

/// One decoded object: class index and box (cx, cy, w, h) in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Object {
    pub class: i64,
    pub bbox: [f32; 4],
}

/// The detector, built from zoo-nn links with Chainer's parameter names:
/// `conv1..conv3` (`Convolution2D`), `saliency`, `key`, `query`,
/// `class_head`, `box_head` (`Linear`: `W`, `b`), `outer` and `inner`
/// (`LSTM`: `upward/W`, `upward/b`, `lateral/W`) and the chain's own
/// parameter `attention` (Chainer names a `Parameter` registered on a chain
/// by its attribute).
#[derive(Debug)]
pub struct NestedRnn {
    pub config: NestedRnnConfig,
    convs: Vec<Convolution2D>,
    saliency: Linear,
    key: Linear,
    query: Linear,
    /// log of: prior gain, inhibition gain, prior width, inhibition width.
    attention: Tensor,
    outer: Lstm,
    inner: Lstm,
    class_head: Linear,
    box_head: Linear,
}

/// Per-slot memory carried to the next frame: centre (2), size (2),
/// velocity (2), class probabilities (C+1), observation gate (1).
fn memory_width(classes: i64) -> i64 {
    8 + classes
}

/// A 3×3 convolution (padding 1) with `stride`, He-initialised (a ReLU follows).
fn conv3x3(path: &nn::Path, inp: i64, out: i64, stride: i64) -> Convolution2D {
    let config = Convolution2DConfig {
        stride: [stride, stride],
        pad: [1, 1],
        initial_w: Initializer::HeNormal,
        ..Default::default()
    };
    convolution_2d(path, inp, out, [3, 3], config)
}

/// A Linear link initialised like libtorch's `nn.Linear` (He-uniform W,
/// b uniform in ±1/√in): the start the training recipe was tuned from.
fn torch_initialised_linear(path: &nn::Path, inp: i64, out: i64) -> Linear {
    let config = LinearConfig {
        initial_w: Initializer::HeUniform,
        initial_bias: Initializer::Uniform(1.0 / (inp as f64).sqrt()),
        ..Default::default()
    };
    linear_with(path, inp, out, config)
}

/// An LSTM link initialised like libtorch's `nn.LSTM` (He-uniform weights,
/// all biases zero, no forget-gate bias of 1): the training recipe's start.
fn torch_initialised_lstm(path: &nn::Path, inp: i64, hidden: i64) -> Lstm {
    let config = LstmConfig {
        upward_init: Initializer::HeUniform,
        lateral_init: Initializer::HeUniform,
        bias_init: Initializer::Constant(0.0),
        forget_bias_init: Initializer::Constant(0.0),
    };
    lstm_with(path, inp, hidden, config)
}

/// `linear` applied to the last axis of `x` (Chainer's `n_batch_axes` =
/// all but the last): (…, in) → (…, out).
fn per_row(linear: &Linear, x: &Tensor) -> Result<Tensor> {
    let size = x.size();
    let rows = x.f_reshape([-1, linear.in_size()])?;
    let mut out_size = size[..size.len() - 1].to_vec();
    out_size.push(linear.out_size());
    Ok(linear.f_forward(&rows, Mode::Test)?.f_view(&out_size[..])?)
}

impl NestedRnn {
    pub fn new(path: &nn::Path, config: NestedRnnConfig) -> Result<Self> {
        if config.frame_size % 4 != 0 || config.frame_size < 8 {
            return Err(ModelError::Package {
                package: "nested-rnn".into(),
                message: format!("frame_size {} must be a multiple of 4", config.frame_size),
            });
        }
        let (f, h, k, c) = (config.feature, config.hidden, config.slots, config.classes);
        let widths = [(3, 16, 2), (16, f, 2), (f, f, 1)];
        let convs = widths
            .iter()
            .enumerate()
            .map(|(i, &(inp, out, stride))| {
                conv3x3(&path.sub(format!("conv{}", i + 1)), inp, out, stride)
            })
            .collect();
        let memory = memory_width(c);
        let saliency = torch_initialised_linear(&path.sub("saliency"), f, 1);
        let key = torch_initialised_linear(&path.sub("key"), f + 2, ATTENTION);
        let query = torch_initialised_linear(&path.sub("query"), h + 5 + k, ATTENTION);
        let attention = path.var_copy(
            "attention",
            &Tensor::from_slice(&[4f32.ln(), 8f32.ln(), 0.08f32.ln(), 0.06f32.ln()]),
        );
        let outer = torch_initialised_lstm(&path.sub("outer"), 2 * f + k * memory, h);
        let inner_input = f + 3 + memory + 1 + 4 + k;
        let inner = torch_initialised_lstm(&path.sub("inner"), inner_input, h);
        let class_head = torch_initialised_linear(&path.sub("class_head"), h, c + 1);
        let box_head = torch_initialised_linear(&path.sub("box_head"), h, 6);
        Ok(NestedRnn {
            config,
            convs,
            saliency,
            key,
            query,
            attention,
            outer,
            inner,
            class_head,
            box_head,
        })
    }

    pub fn check_input(&self, video: &Tensor) -> Result<()> {
        let size = video.size();
        let s = self.config.frame_size;
        if size.len() != 5 || size[2] != 1 || size[3] != s || size[4] != s {
            return Err(ModelError::input(
                "video",
                format!("expected shape [N, T, 1, {s}, {s}], got {size:?}"),
            ));
        }
        if size[0] == 0 || size[1] == 0 {
            return Err(ModelError::input("video", "empty video (no frames)"));
        }
        Ok(())
    }

    /// (N, 1, S, S) frames → feature map (N, F, G, G).
    fn feature_map(&self, frames: &Tensor) -> Result<Tensor> {
        let (n, s) = (frames.size()[0], self.config.frame_size);
        let opts = (Kind::Float, frames.device());
        let ramp = Tensor::f_linspace(-1.0, 1.0, s, opts)?;
        let ys = ramp.f_view([1, 1, s, 1])?.f_expand([n, 1, s, s], false)?;
        let xs = ramp.f_view([1, 1, 1, s])?.f_expand([n, 1, s, s], false)?;
        let mut h = Tensor::f_cat(&[frames.shallow_clone(), xs, ys], 1)?;
        for conv in &self.convs {
            h = conv.f_forward(&h, Mode::Test)?.f_relu()?;
        }
        Ok(h)
    }

    /// Runs the detector over a (B, T, 1, S, S) video with pixel values in [0, 1].
    pub fn forward(&self, video: &Tensor) -> Result<Detections> {
        Ok(self.trace(video)?.detections)
    }

    /// The forward pass with the velocity estimates and objectness map the
    /// training loss supervises.
    pub fn trace(&self, video: &Tensor) -> Result<Trace> {
        self.check_input(video)?;
        let size = video.size();
        let (b, t) = (size[0], size[1]);
        let s = self.config.frame_size;
        let (f, k, c) = (self.config.feature, self.config.slots, self.config.classes);
        let g = s / 4;
        let cells = g * g;
        let device = video.device();
        let opts = (Kind::Float, device);
        let maps = self.feature_map(&video.to_kind(Kind::Float).reshape([b * t, 1, s, s]))?;
        // Channels last: (B·T, G·G, F).
        let flat = maps.flatten(2, 3).transpose(1, 2).contiguous();
        // Cell centres in [0, 1], (G·G, 2) as (x, y).
        let ramp = (Tensor::arange(g, opts) + 0.5) / g as f64;
        let grid = Tensor::stack(
            &[
                ramp.view([1, g]).expand([g, g], false),
                ramp.view([g, 1]).expand([g, g], false),
            ],
            -1,
        )
        .view([cells, 2]);
        let saliency = per_row(&self.saliency, &flat)?.view([b, t, cells]);
        let keyed = Tensor::cat(
            &[
                flat.shallow_clone(),
                grid.unsqueeze(0).expand([b * t, cells, 2], false) * 2.0 - 1.0,
            ],
            -1,
        );
        let keys = per_row(&self.key, &keyed)?.view([b, t, cells, ATTENTION]);
        let flat = flat.view([b, t, cells, f]);
        let pooled = Tensor::cat(
            &[
                maps.mean_dim(&[2i64, 3][..], false, Kind::Float),
                maps.amax(&[2i64, 3][..], false),
            ],
            1,
        )
        .view([b, t, 2 * f]);
        let gains = self.attention.exp();
        let (prior_gain, inhibition_gain) = (gains.get(0), gains.get(1));
        let prior_var = gains.get(2).square() * 2.0;
        let inhibition_var = gains.get(3).square() * 2.0;
        // Squared distance of every cell to a (B, 2) point: (B, G·G).
        let near = |point: &Tensor, var: &Tensor| {
            let d = (grid.unsqueeze(0) - point.unsqueeze(1))
                .square()
                .sum_dim_intlist(-1, false, Kind::Float);
            (-d / var).exp()
        };
        let slot_codes = Tensor::eye(k, opts);
        let memory = memory_width(c);
        let mut slot_memory = Tensor::zeros([b, k, memory], opts);
        let mut has_prior = Tensor::zeros([b, 1], opts);
        let mut outer_state = self.outer.zero_state(b)?;
        let (mut logits, mut boxes, mut velocities) = (Vec::new(), Vec::new(), Vec::new());
        let mut attention = Vec::new();
        for frame in 0..t {
            if !self.config.temporal {
                slot_memory = slot_memory.zeros_like();
                outer_state = self.outer.zero_state(b)?;
            }
            let outer_input = Tensor::cat(&[pooled.select(1, frame), slot_memory.view([b, -1])], 1);
            outer_state = self.outer.step(&outer_input, &outer_state)?;
            let mut state = LstmState {
                h: outer_state.h.shallow_clone(),
                c: outer_state.c.shallow_clone(),
            };
            let frame_saliency = saliency.select(1, frame);
            let frame_keys = keys.select(1, frame);
            let frame_flat = flat.select(1, frame);
            let mut previous_box = Tensor::zeros([b, 4], opts);
            let mut inhibition = Tensor::zeros([b, cells], opts);
            let (mut frame_logits, mut frame_boxes, mut frame_vel, mut frame_memory) =
                (Vec::new(), Vec::new(), Vec::new(), Vec::new());
            let mut frame_attention = Vec::new();
            for slot in 0..k {
                let mem = slot_memory.select(1, slot);
                let prev_centre = mem.narrow(1, 0, 2);
                let prev_size = mem.narrow(1, 2, 2);
                let prev_vel = mem.narrow(1, 4, 2);
                let prior = &prev_centre + &prev_vel;
                let code = slot_codes.get(slot).unsqueeze(0).expand([b, k], false);
                let query_input =
                    Tensor::cat(&[&state.h, &prior, &prev_size, &has_prior, &code], 1);
                let query = self.query.f_forward(&query_input, Mode::Test)?;
                let scores = &frame_saliency
                    + frame_keys.matmul(&query.unsqueeze(-1)).squeeze_dim(-1)
                    - &inhibition;
                let scores = scores + &has_prior * &prior_gain * near(&prior, &prior_var);
                let weights = scores.softmax(-1, Kind::Float);
                let observed = weights.matmul(&grid);
                let glimpse = weights.unsqueeze(1).matmul(&frame_flat).squeeze_dim(1);
                let evidence = (&weights * &frame_saliency).sum_dim_intlist(-1, true, Kind::Float);
                let input = Tensor::cat(
                    &[
                        &glimpse,
                        &observed,
                        &evidence,
                        &mem,
                        &has_prior,
                        &previous_box,
                        &code,
                    ],
                    1,
                );
                state = self.inner.step(&input, &state)?;
                let class_logits = self.class_head.f_forward(&state.h, Mode::Test)?;
                let raw = self.box_head.f_forward(&state.h, Mode::Test)?;
                let gate = raw.narrow(1, 0, 1).sigmoid();
                let update = raw.narrow(1, 1, 1).sigmoid();
                let offset = raw.narrow(1, 2, 2).tanh() * MAX_OFFSET;
                let size = raw.narrow(1, 4, 2).sigmoid();
                // Observation where there is no prior; else a learned blend.
                let blended: Tensor = &observed + &has_prior * (1.0 - &gate) * (&prior - &observed);
                let centre = (blended + offset).clamp(0.0, 1.0);
                let velocity =
                    &has_prior * (&update * (&centre - &prev_centre) + (1.0 - &update) * &prev_vel);
                let probs = class_logits.softmax(-1, Kind::Float);
                let exists = 1.0 - probs.narrow(1, c, 1);
                inhibition = inhibition
                    .g_add(&(&inhibition_gain * &exists * near(&centre, &inhibition_var)));
                let bbox = Tensor::cat(&[&centre, &size], 1);
                frame_memory.push(Tensor::cat(&[&centre, &size, &velocity, &probs, &gate], 1));
                frame_logits.push(class_logits);
                frame_vel.push(velocity);
                previous_box = bbox.shallow_clone();
                frame_attention.push(weights);
                frame_boxes.push(bbox);
            }
            slot_memory = Tensor::stack(&frame_memory, 1);
            if self.config.temporal {
                has_prior = has_prior.ones_like();
            }
            logits.push(Tensor::stack(&frame_logits, 1));
            boxes.push(Tensor::stack(&frame_boxes, 1));
            velocities.push(Tensor::stack(&frame_vel, 1));
            attention.push(Tensor::stack(&frame_attention, 1));
        }
        Ok(Trace {
            detections: Detections {
                class_logits: Tensor::stack(&logits, 1),
                boxes: Tensor::stack(&boxes, 1),
            },
            velocities: Tensor::stack(&velocities, 1),
            saliency: saliency.view([b, t, g, g]),
            attention: Tensor::stack(&attention, 1),
        })
    }

    /// Decodes detections: per video, per frame, the objects emitted before the
    /// first stop token, boxes in pixels.
    pub fn decode(&self, detections: &Detections) -> Vec<Vec<Vec<Object>>> {
        let classes = detections
            .class_logits
            .argmax(-1, false)
            .to_device(tch::Device::Cpu);
        let boxes = detections
            .boxes
            .to_device(tch::Device::Cpu)
            .to_kind(Kind::Float)
            * self.config.frame_size as f64;
        let size = classes.size();
        let (b, t, k) = (size[0], size[1], size[2]);
        (0..b)
            .map(|video| {
                (0..t)
                    .map(|frame| {
                        let mut objects = Vec::new();
                        for slot in 0..k {
                            let class = classes.int64_value(&[video, frame, slot]);
                            if class >= self.config.classes {
                                break;
                            }
                            let v = |i: i64| boxes.double_value(&[video, frame, slot, i]) as f32;
                            objects.push(Object {
                                class,
                                bbox: [v(0), v(1), v(2), v(3)],
                            });
                        }
                        objects
                    })
                    .collect()
            })
            .collect()
    }
}

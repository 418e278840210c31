//! The nested-RNN video detector. Per frame: a small CNN (with coordinate
//! channels, so positions are easy to read out) gives a feature vector; the
//! **outer** LSTM steps once per frame over [feature, last inner state of the
//! previous frame]; the **inner** LSTM starts from the outer state and emits
//! objects one at a time (class logits with a "stop" class, and a box), in
//! canonical order: left to right by box centre. With `temporal = false` the
//! outer state is reset every frame: the per-frame-only baseline.

use crate::error::{ModelError, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor, nn, nn::RNN};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NestedRnnConfig {
    /// Object classes (the stop token is class index `classes`).
    pub classes: i64,
    /// Inner steps per frame: the most objects a frame can hold, plus one stop.
    pub slots: i64,
    /// Frame side in pixels (square, one channel).
    pub frame_size: i64,
    pub feature: i64,
    pub hidden: i64,
    /// Carry the outer state across frames (false: per-frame baseline).
    pub temporal: bool,
}

impl Default for NestedRnnConfig {
    fn default() -> Self {
        NestedRnnConfig {
            classes: 3,
            slots: 4,
            frame_size: 48,
            feature: 128,
            hidden: 128,
            temporal: true,
        }
    }
}

/// Raw outputs for a (B, T) video: class logits (B, T, K, C+1), boxes (B, T, K, 4)
/// as (cx, cy, w, h) in [0, 1] of the frame side.
#[derive(Debug)]
pub struct Detections {
    pub class_logits: Tensor,
    pub boxes: Tensor,
}

/// One decoded object: class index and box (cx, cy, w, h) in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Object {
    pub class: i64,
    pub bbox: [f32; 4],
}

#[derive(Debug)]
pub struct NestedRnn {
    pub config: NestedRnnConfig,
    convs: Vec<(Tensor, Tensor)>,
    fc: nn::Linear,
    outer: nn::LSTM,
    inner: nn::LSTM,
    class_head: nn::Linear,
    box_head: nn::Linear,
}

impl NestedRnn {
    pub fn new(path: &nn::Path, config: NestedRnnConfig) -> Result<Self> {
        if config.frame_size % 8 != 0 || config.frame_size < 8 {
            return Err(ModelError::Package {
                package: "nested-rnn".into(),
                message: format!("frame_size {} must be a multiple of 8", config.frame_size),
            });
        }
        let widths = [(3, 16), (16, 32), (32, 64)];
        let convs = widths
            .iter()
            .enumerate()
            .map(|(i, &(inp, out))| {
                let sub = path.sub(format!("conv{}", i + 1));
                let w = sub.var(
                    "W",
                    &[out, inp, 3, 3],
                    nn::Init::Randn {
                        mean: 0.0,
                        stdev: (2.0 / (inp * 9) as f64).sqrt(),
                    },
                );
                let b = sub.var("b", &[out], nn::Init::Const(0.0));
                (w, b)
            })
            .collect();
        let side = config.frame_size / 8;
        let fc = nn::linear(
            path / "fc",
            64 * side * side,
            config.feature,
            Default::default(),
        );
        let outer = nn::lstm(
            path / "outer",
            config.feature + config.hidden,
            config.hidden,
            Default::default(),
        );
        let inner = nn::lstm(
            path / "inner",
            config.feature + config.slots,
            config.hidden,
            Default::default(),
        );
        let class_head = nn::linear(
            path / "class_head",
            config.hidden,
            config.classes + 1,
            Default::default(),
        );
        let box_head = nn::linear(path / "box_head", config.hidden, 4, Default::default());
        Ok(NestedRnn {
            config,
            convs,
            fc,
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

    fn frame_features(&self, frames: &Tensor) -> Tensor {
        let (n, s) = (frames.size()[0], self.config.frame_size);
        let opts = (Kind::Float, frames.device());
        let ramp = Tensor::linspace(-1.0, 1.0, s, opts);
        let ys = ramp.view([1, 1, s, 1]).expand([n, 1, s, s], false);
        let xs = ramp.view([1, 1, 1, s]).expand([n, 1, s, s], false);
        let mut h = Tensor::cat(&[frames.shallow_clone(), xs, ys], 1);
        for (w, b) in &self.convs {
            h = h.conv2d(w, Some(b), [2, 2], [1, 1], [1, 1], 1).relu();
        }
        h.flatten(1, -1).apply(&self.fc).relu()
    }

    /// Runs the detector over a (B, T, 1, S, S) video with pixel values in [0, 1].
    pub fn forward(&self, video: &Tensor) -> Result<Detections> {
        self.check_input(video)?;
        let size = video.size();
        let (b, t) = (size[0], size[1]);
        let s = self.config.frame_size;
        let device = video.device();
        let feats = self
            .frame_features(&video.to_kind(Kind::Float).reshape([b * t, 1, s, s]))
            .view([b, t, -1]);
        let k = self.config.slots;
        let slot_codes = Tensor::eye(k, (Kind::Float, device));
        let zero_state = || self.outer.zero_state(b);
        let mut outer_state = zero_state();
        let mut inner_last = Tensor::zeros([b, self.config.hidden], (Kind::Float, device));
        let mut logits = Vec::new();
        let mut boxes = Vec::new();
        for frame in 0..t {
            if !self.config.temporal {
                outer_state = zero_state();
                inner_last = inner_last.zeros_like();
            }
            let f = feats.select(1, frame);
            outer_state = self
                .outer
                .step(&Tensor::cat(&[&f, &inner_last], 1), &outer_state);
            let mut state = nn::LSTMState((
                outer_state.0.0.shallow_clone(),
                outer_state.0.1.shallow_clone(),
            ));
            let mut frame_logits = Vec::new();
            let mut frame_boxes = Vec::new();
            for slot in 0..k {
                let code = slot_codes.get(slot).unsqueeze(0).expand([b, k], false);
                state = self.inner.step(&Tensor::cat(&[&f, &code], 1), &state);
                let h = state.h().squeeze_dim(0);
                frame_logits.push(h.apply(&self.class_head));
                frame_boxes.push(h.apply(&self.box_head).sigmoid());
            }
            inner_last = state.h().squeeze_dim(0);
            logits.push(Tensor::stack(&frame_logits, 1));
            boxes.push(Tensor::stack(&frame_boxes, 1));
        }
        Ok(Detections {
            class_logits: Tensor::stack(&logits, 1),
            boxes: Tensor::stack(&boxes, 1),
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

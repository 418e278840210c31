//! Held-out metrics: accuracy, box IoU and detection F1.

use crate::data::sprites::Truth;
use crate::nested_rnn::Object;

/// Intersection over union of two (cx, cy, w, h) boxes.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    let corners = |r: [f32; 4]| {
        (
            r[0] - r[2] / 2.0,
            r[1] - r[3] / 2.0,
            r[0] + r[2] / 2.0,
            r[1] + r[3] / 2.0,
        )
    };
    let (ax0, ay0, ax1, ay1) = corners(a);
    let (bx0, by0, bx1, by1) = corners(b);
    let w = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    let h = (ay1.min(by1) - ay0.max(by0)).max(0.0);
    let inter = w * h;
    let union = a[2] * a[3] + b[2] * b[3] - inter;
    if union <= 0.0 { 0.0 } else { inter / union }
}

/// True positives, false positives and false negatives, summed over frames.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DetectionCounts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
}

impl DetectionCounts {
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }
    /// F1; 1.0 when there was nothing to find and nothing was found.
    pub fn f1(&self) -> f64 {
        if self.tp + self.fp + self.fn_ == 0 {
            return 1.0;
        }
        2.0 * self.tp as f64 / (2 * self.tp + self.fp + self.fn_) as f64
    }
    /// Adds one frame: greedy matching by IoU (highest first), same class,
    /// IoU ≥ `threshold`; hidden objects count as targets.
    pub fn add_frame(&mut self, predicted: &[Object], truth: &[Truth], threshold: f32) {
        let mut pairs: Vec<(f32, usize, usize)> = Vec::new();
        for (p, object) in predicted.iter().enumerate() {
            for (t, target) in truth.iter().enumerate() {
                if object.class == target.class {
                    let overlap = iou(object.bbox, target.bbox);
                    if overlap >= threshold {
                        pairs.push((overlap, p, t));
                    }
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut used_p = vec![false; predicted.len()];
        let mut used_t = vec![false; truth.len()];
        let mut tp = 0;
        for (_, p, t) in pairs {
            if !used_p[p] && !used_t[t] {
                used_p[p] = true;
                used_t[t] = true;
                tp += 1;
            }
        }
        self.tp += tp;
        self.fp += predicted.len() - tp;
        self.fn_ += truth.len() - tp;
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_known_boxes() {
        assert_eq!(iou([5.0, 5.0, 10.0, 10.0], [5.0, 5.0, 10.0, 10.0]), 1.0);
        // Half-overlapping squares: 50 / 150.
        let v = iou([5.0, 5.0, 10.0, 10.0], [10.0, 5.0, 10.0, 10.0]);
        assert!((v - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou([0.0, 0.0, 2.0, 2.0], [10.0, 10.0, 2.0, 2.0]), 0.0);
    }

    #[test]
    fn f1_counts_hidden_targets_and_wrong_classes() {
        let truth = [
            Truth {
                class: 0,
                bbox: [10.0, 10.0, 8.0, 8.0],
                visible: true,
            },
            Truth {
                class: 1,
                bbox: [30.0, 30.0, 8.0, 8.0],
                visible: false,
            },
        ];
        let predicted = [
            Object {
                class: 0,
                bbox: [10.5, 10.0, 8.0, 8.0],
            },
            Object {
                class: 2,
                bbox: [30.0, 30.0, 8.0, 8.0],
            },
        ];
        let mut counts = DetectionCounts::default();
        counts.add_frame(&predicted, &truth, 0.5);
        assert_eq!(
            counts,
            DetectionCounts {
                tp: 1,
                fp: 1,
                fn_: 1
            }
        );
        assert!((counts.f1() - 0.5).abs() < 1e-9);
    }
}

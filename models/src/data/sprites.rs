//! "Moving sprites": 48×48 one-channel videos of 8 frames holding 0–3 objects
//! of 3 classes (square, disc, cross) moving at constant velocity. Each object
//! is visible in the first frame and hidden independently in each later frame
//! with probability 0.34 (≈30% of all frames); hidden objects stay targets.

use crate::rng::{DataRng, Rng};
use tch::Tensor;

pub const CLASSES: [&str; 3] = ["square", "disc", "cross"];
pub const FRAME: i64 = 48;
pub const FRAMES: i64 = 8;
pub const MAX_OBJECTS: usize = 3;
pub const HIDE_PROBABILITY: f64 = 0.34;

/// One ground-truth object in one frame: class, box (cx, cy, w, h) in pixels, visibility.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    pub class: i64,
    pub bbox: [f32; 4],
    pub visible: bool,
}

/// Videos (N, T, 1, 48, 48) in [0, 1] and, per video and frame, the objects
/// in track order: index `i` is the same object in every frame of a video.
pub struct SpriteBatch {
    pub videos: Tensor,
    pub truth: Vec<Vec<Vec<Truth>>>,
}

/// Class, half-size, start and end centre, visibility per frame.
type Sprite = (i64, f32, [f32; 2], [f32; 2], Vec<bool>);

fn inside(class: i64, u: f32, v: f32) -> bool {
    match class {
        0 => u.abs() <= 1.0 && v.abs() <= 1.0,
        1 => u * u + v * v <= 1.0,
        _ => (u.abs() <= 0.35 && v.abs() <= 1.0) || (v.abs() <= 0.35 && u.abs() <= 1.0),
    }
}

pub fn batch(rng: &mut DataRng, n: usize) -> SpriteBatch {
    let (s, frames) = (FRAME as usize, FRAMES as usize);
    let mut pixels = vec![0f32; n * frames * s * s];
    let mut truth = Vec::with_capacity(n);
    for video in 0..n {
        let count = rng.gen_range(0..=MAX_OBJECTS);
        let objects: Vec<Sprite> = (0..count)
            .map(|_| {
                let class = rng.gen_range(0..CLASSES.len() as i64);
                let half: f32 = rng.gen_range(4.0..6.0);
                let lo = half;
                let hi = FRAME as f32 - half;
                let start = [rng.gen_range(lo..hi), rng.gen_range(lo..hi)];
                let end = [rng.gen_range(lo..hi), rng.gen_range(lo..hi)];
                let visible = (0..frames)
                    .map(|f| f == 0 || !rng.gen_bool(HIDE_PROBABILITY))
                    .collect();
                (class, half, start, end, visible)
            })
            .collect();
        let mut video_truth = Vec::with_capacity(frames);
        for f in 0..frames {
            let alpha = f as f32 / (frames - 1) as f32;
            let base = (video * frames + f) * s * s;
            for p in &mut pixels[base..base + s * s] {
                *p = rng.gen_range(0.0..0.15);
            }
            let mut frame_truth = Vec::new();
            for (class, half, start, end, visible) in &objects {
                let cx = start[0] + (end[0] - start[0]) * alpha;
                let cy = start[1] + (end[1] - start[1]) * alpha;
                if visible[f] {
                    for y in 0..s {
                        for x in 0..s {
                            let u = (x as f32 + 0.5 - cx) / half;
                            let v = (y as f32 + 0.5 - cy) / half;
                            if inside(*class, u, v) {
                                pixels[base + y * s + x] = rng.gen_range(0.8..1.0);
                            }
                        }
                    }
                }
                frame_truth.push(Truth {
                    class: *class,
                    bbox: [cx, cy, 2.0 * half, 2.0 * half],
                    visible: visible[f],
                });
            }
            video_truth.push(frame_truth);
        }
        truth.push(video_truth);
    }
    SpriteBatch {
        videos: Tensor::from_slice(&pixels).view([n as i64, FRAMES, 1, FRAME, FRAME]),
        truth,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::data_rng;

    #[test]
    fn about_thirty_percent_of_objects_are_hidden_and_tracks_keep_their_index() {
        let batch = batch(&mut data_rng(7, 1), 300);
        assert_eq!(batch.videos.size(), vec![300, FRAMES, 1, FRAME, FRAME]);
        let (mut hidden, mut total) = (0usize, 0usize);
        for video in &batch.truth {
            for frame in video {
                assert_eq!(
                    frame.len(),
                    video[0].len(),
                    "every object is a target in every frame"
                );
                for (i, object) in frame.iter().enumerate() {
                    assert_eq!(object.class, video[0][i].class, "track {i} changed class");
                    total += 1;
                    hidden += usize::from(!object.visible);
                }
            }
            assert!(
                video[0].iter().all(|o| o.visible),
                "frame 0 shows every object"
            );
        }
        let fraction = hidden as f64 / total as f64;
        assert!(
            (0.26..=0.34).contains(&fraction),
            "hidden fraction {fraction}"
        );
    }
}

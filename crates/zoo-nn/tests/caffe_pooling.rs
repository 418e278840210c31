//! Caffe's pooling rule against an independent, loop-by-loop transcription of
//! Caffe's `PoolingLayer` (pooling_layer.cpp, Forward_cpu and Reshape):
//! Chainer cannot produce these outputs, since its rules differ from Caffe's
//! on exactly the shapes tested here.
//!
//! Reshape: pooled = ceil((in + 2p − k) / s) + 1, decremented when padding
//! is used and the last window starts at or beyond in + p.
//! MAX: max over the window clipped to the input.
//! AVE: hstart = ph·s − p, hend = min(hstart + k, in + p), pool_size =
//! (hend − hstart)·(wend − wstart) taken before clipping; the sum over the
//! clipped window is divided by pool_size.

use tch::{Device, Kind, Tensor};
use zoo_nn::functions::{Pool2d, PoolRule, average_pooling_2d, max_pooling_2d, pool_outsize};

fn caffe_pooled(size: i64, k: i64, s: i64, p: i64) -> i64 {
    let mut pooled = ((size + 2 * p - k) as f64 / s as f64).ceil() as i64 + 1;
    if p > 0 && (pooled - 1) * s >= size + p {
        pooled -= 1;
    }
    pooled
}

/// Caffe's Forward_cpu for one (h, w) plane; `max` picks MAX over AVE.
fn caffe_pool(
    plane: &[f32],
    h: i64,
    w: i64,
    k: [i64; 2],
    s: [i64; 2],
    p: [i64; 2],
    max: bool,
) -> Vec<f32> {
    let (oh, ow) = (
        caffe_pooled(h, k[0], s[0], p[0]),
        caffe_pooled(w, k[1], s[1], p[1]),
    );
    let mut out = Vec::new();
    for ph in 0..oh {
        for pw in 0..ow {
            let mut hstart = ph * s[0] - p[0];
            let mut wstart = pw * s[1] - p[1];
            let mut hend = (hstart + k[0]).min(h + p[0]);
            let mut wend = (wstart + k[1]).min(w + p[1]);
            let pool_size = ((hend - hstart) * (wend - wstart)) as f32;
            hstart = hstart.max(0);
            wstart = wstart.max(0);
            hend = hend.min(h);
            wend = wend.min(w);
            let mut acc = if max { f32::MIN } else { 0.0 };
            for y in hstart..hend {
                for x in wstart..wend {
                    let v = plane[(y * w + x) as usize];
                    acc = if max { acc.max(v) } else { acc + v };
                }
            }
            out.push(if max { acc } else { acc / pool_size });
        }
    }
    out
}

fn check(h: i64, w: i64, k: [i64; 2], s: [i64; 2], p: [i64; 2]) {
    let x = Tensor::rand([2, 3, h, w], (Kind::Float, Device::Cpu)) - 0.5;
    let pool = Pool2d::new(k, PoolRule::Caffe).stride(s).pad(p);
    for max in [true, false] {
        let y = if max {
            max_pooling_2d(&x, &pool).unwrap()
        } else {
            average_pooling_2d(&x, &pool).unwrap()
        };
        let (oh, ow) = (
            caffe_pooled(h, k[0], s[0], p[0]),
            caffe_pooled(w, k[1], s[1], p[1]),
        );
        assert_eq!(
            y.size(),
            vec![2, 3, oh, ow],
            "{h}x{w} k{k:?} s{s:?} p{p:?} max={max}"
        );
        for n in 0..2 {
            for c in 0..3 {
                let plane = Vec::<f32>::try_from(x.get(n).get(c).flatten(0, -1)).unwrap();
                let expected = caffe_pool(&plane, h, w, k, s, p, max);
                let actual = Vec::<f32>::try_from(y.get(n).get(c).flatten(0, -1)).unwrap();
                for (a, e) in actual.iter().zip(&expected) {
                    assert!(
                        (a - e).abs() <= 1e-6,
                        "{h}x{w} k{k:?} s{s:?} p{p:?} max={max}: {a} vs {e}"
                    );
                }
            }
        }
    }
}

#[test]
fn output_sizes_differ_where_chainer_md_says() {
    // 5x5, k2 s2 p1 max: Caffe 3, Chainer 4.
    assert_eq!(pool_outsize(5, 2, 2, 1, PoolRule::Caffe, true), 3);
    assert_eq!(pool_outsize(5, 2, 2, 1, PoolRule::Chainer, true), 4);
    // 6x6, k3 s2 average: Caffe 3, Chainer 2.
    assert_eq!(pool_outsize(6, 3, 2, 0, PoolRule::Caffe, false), 3);
    assert_eq!(pool_outsize(6, 3, 2, 0, PoolRule::Chainer, false), 2);
    // VGG's pools agree: 224 → 112.
    assert_eq!(pool_outsize(224, 2, 2, 0, PoolRule::Caffe, true), 112);
    assert_eq!(pool_outsize(224, 2, 2, 0, PoolRule::Chainer, true), 112);
}

#[test]
fn caffe_rule_matches_caffe_forward_cpu() {
    check(5, 5, [2, 2], [2, 2], [1, 1]);
    check(6, 6, [3, 3], [2, 2], [0, 0]);
    check(7, 5, [3, 3], [2, 2], [1, 1]);
    // Non-square kernel and stride, and a pad beyond k/2 (Caffe allows pad <
    // kernel; libtorch's own pooling refuses it).
    check(9, 7, [3, 2], [2, 1], [2, 1]);
    check(8, 8, [3, 3], [3, 3], [2, 2]);
    // A kernel larger than the input: Caffe pools the clipped window.
    check(3, 4, [7, 5], [7, 5], [0, 0]);
}

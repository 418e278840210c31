//! zoo's links and functions against Chainer 7.8.1's outputs.
//!
//! tests/fixtures/generate.py builds each link in Chainer, saves its
//! parameters with `chainer.serializers.save_npz` (`NAME.params.npz`, which
//! these tests load through zoo's strict Chainer-npz import) and the input and
//! output (`NAME.npz`). Outputs must match to 1e-5 (f32).

use std::collections::HashMap;
use std::path::PathBuf;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use zoo_nn::functions::{self as f, Lrn, Pool2d, PoolRule};
use zoo_nn::links::{self as l, Recurrent};
use zoo_nn::params::{Strictness, load_chainer_npz, read_npz};
use zoo_nn::{Link, Mode};

const TOLERANCE: f64 = 1e-5;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/golden/{name}"))
}

fn arrays(name: &str) -> HashMap<String, Tensor> {
    read_npz(golden(&format!("{name}.npz")))
        .unwrap()
        .into_iter()
        .collect()
}

/// Max |a − b|, counting equal infinities (Chainer's −∞ max-pool windows) as 0.
fn max_abs_diff(actual: &Tensor, expected: &Tensor) -> f64 {
    assert_eq!(actual.size(), expected.size(), "shape");
    let a = actual.to_kind(Kind::Double);
    let e = expected.to_kind(Kind::Double);
    let same = a.eq_tensor(&e);
    let diff = (a - e).abs().masked_fill(&same, 0.0);
    diff.max().double_value(&[])
}

fn assert_close(name: &str, actual: &Tensor, expected: &Tensor) {
    let diff = max_abs_diff(actual, expected);
    assert!(
        diff <= TOLERANCE,
        "{name}: max abs diff {diff} > {TOLERANCE}"
    );
}

/// Builds a link under `link` in a fresh store and loads NAME.params.npz.
fn with_link<L>(name: &str, build: impl FnOnce(&tch::nn::Path) -> L) -> (VarStore, L) {
    let vs = VarStore::new(Device::Cpu);
    let link = build(&(vs.root() / "link"));
    load_chainer_npz(
        &vs,
        golden(&format!("{name}.params.npz")),
        Strictness::Strict,
    )
    .unwrap();
    (vs, link)
}

fn check_link<L: Link>(name: &str, build: impl FnOnce(&tch::nn::Path) -> L) {
    let (_vs, link) = with_link(name, build);
    let data = arrays(name);
    let y = link.forward(&data["x"], Mode::Test);
    assert_close(name, &y, &data["y"]);
}

#[test]
fn linear_flattens_and_matches() {
    check_link("linear", |p| l::linear(p, 12, 5));
    check_link("linear_nobias", |p| l::linear_nobias(p, 7, 5));
}

#[test]
fn convolution_2d_matches() {
    let config = l::Convolution2DConfig {
        stride: [2, 1],
        pad: [1, 0],
        ..Default::default()
    };
    check_link("convolution_2d", |p| {
        l::convolution_2d(p, 3, 4, [3, 2], config)
    });
    let config = l::Convolution2DConfig {
        pad: [2, 2],
        dilate: [2, 2],
        groups: 2,
        ..Default::default()
    };
    check_link("convolution_2d_groups", |p| {
        l::convolution_2d(p, 4, 6, [3, 3], config)
    });
}

#[test]
fn deconvolution_2d_matches() {
    let config = l::Convolution2DConfig {
        stride: [2, 2],
        pad: [1, 1],
        ..Default::default()
    };
    check_link("deconvolution_2d", |p| {
        l::deconvolution_2d(p, 3, 4, [3, 2], config)
    });
    let config = l::Deconvolution2DConfig {
        conv: l::Convolution2DConfig {
            stride: [2, 2],
            pad: [1, 1],
            groups: 2,
            ..Default::default()
        },
        outsize: Some([8, 10]),
    };
    check_link("deconvolution_2d_outsize", |p| {
        l::deconvolution_2d(p, 4, 6, [3, 3], config)
    });
}

#[test]
fn batch_normalization_test_mode_matches() {
    check_link("batch_normalization", |p| {
        l::batch_normalization(p, 4, Default::default())
    });
}

#[test]
fn batch_normalization_train_mode_updates_running_stats_like_chainer() {
    let config = l::BatchNormalizationConfig {
        eps: 1e-3,
        decay: 0.8,
        ..Default::default()
    };
    let (_vs, bn) = with_link("batch_normalization_train", |p| {
        l::batch_normalization(p, 4, config)
    });
    let data = arrays("batch_normalization_train");
    let y = bn.forward(&data["x"], Mode::Train);
    assert_close("train output", &y, &data["y"]);
    assert_close("avg_mean", &bn.avg_mean, &data["avg_mean"]);
    assert_close("avg_var (unbiased update)", &bn.avg_var, &data["avg_var"]);
}

#[test]
fn scale_bias_and_embed_id_match() {
    check_link("scale", |p| l::scale(p, 1, &[4, 3], true));
    check_link("bias", |p| l::bias(p, 1, &[4]));
    check_link("embed_id", |p| l::embed_id(p, 10, 6, Some(-1)));
}

/// A 10-step sequence through the explicit-state API and, step by step,
/// through the stateful wrapper.
fn check_recurrent<R>(name: &str, build: impl FnOnce(&tch::nn::Path) -> R)
where
    R: Recurrent,
    R::State: std::fmt::Debug,
{
    let (_vs, rnn) = with_link(name, build);
    let data = arrays(name);
    let (ys, _) = rnn.seq_init(&data["x"]).unwrap();
    assert_eq!(ys.size()[0], 10);
    assert_close(name, &ys, &data["y"]);
    // Without autograd, links may take a fused inference path.
    let (ys, _) = tch::no_grad(|| rnn.seq_init(&data["x"])).unwrap();
    assert_close(&format!("{name} without autograd"), &ys, &data["y"]);
    let stateful = l::Stateful::new(rnn);
    for t in 0..10 {
        let y = stateful.forward(&data["x"].get(t), Mode::Test);
        assert_close(&format!("{name} stateful step {t}"), &y, &data["y"].get(t));
    }
    stateful.reset_state();
    let y = stateful.forward(&data["x"].get(0), Mode::Test);
    assert_close(&format!("{name} after reset"), &y, &data["y"].get(0));
}

#[test]
fn lstm_matches_over_ten_steps() {
    check_recurrent("lstm", |p| l::lstm(p, 3, 4));
}

#[test]
fn stateful_peephole_lstm_matches_over_ten_steps() {
    check_recurrent("peephole_lstm", |p| {
        l::peephole_lstm(p, 3, 4, l::Peephole::Full)
    });
}

#[test]
fn stateful_gru_matches_over_ten_steps() {
    check_recurrent("gru", |p| l::gru(p, 3, 4));
}

#[test]
fn pooling_follows_chainer_rules() {
    let d = arrays("functions");
    let rule = PoolRule::Chainer;
    let max = |name: &str, pool: Pool2d| {
        let y = f::max_pooling_2d(&d[&format!("{name}_x")], &pool).unwrap();
        assert_close(name, &y, &d[&format!("{name}_y")]);
    };
    // Chainer: 4x4 here, its last row/column a window wholly in padding (−∞).
    max("max_5x5_k2s2p1", Pool2d::new([2, 2], rule).pad([1, 1]));
    max(
        "max_7x6_k3s2p1",
        Pool2d::new([3, 3], rule).stride([2, 2]).pad([1, 1]),
    );
    let avg = |name: &str, pool: Pool2d| {
        let y = f::average_pooling_2d(&d[&format!("{name}_x")], &pool).unwrap();
        assert_close(name, &y, &d[&format!("{name}_y")]);
    };
    avg("avg_6x6_k3s2", Pool2d::new([3, 3], rule).stride([2, 2]));
    avg(
        "avg_7x5_k3s2p1",
        Pool2d::new([3, 3], rule).stride([2, 2]).pad([1, 1]),
    );
}

#[test]
fn lrn_and_activations_match() {
    let d = arrays("functions");
    let y = f::lrn(&d["lrn_x"], &Lrn::chainer(5, 2.0, 0.05, 0.75)).unwrap();
    assert_close("lrn", &y, &d["lrn_y"]);
    // The same normalisation stated with Caffe's alpha (alpha · n).
    let y = f::lrn(&d["lrn_x"], &Lrn::caffe(5, 0.05 * 5.0, 0.75, 2.0)).unwrap();
    assert_close("lrn (caffe parameters)", &y, &d["lrn_y"]);
    let y = f::lrn(&d["lrn_x"], &Lrn::chainer(4, 1.0, 0.05, 0.75)).unwrap();
    assert_close("lrn (even n)", &y, &d["lrn_even_y"]);
    let x = &d["act_x"];
    assert_close("relu", &f::relu(x).unwrap(), &d["relu_y"]);
    assert_close(
        "leaky_relu",
        &f::leaky_relu(x, 0.1).unwrap(),
        &d["leaky_relu_y"],
    );
    assert_close("sigmoid", &f::sigmoid(x).unwrap(), &d["sigmoid_y"]);
    assert_close("tanh", &f::tanh(x).unwrap(), &d["tanh_y"]);
    assert_close("softmax", &f::softmax(x, 1).unwrap(), &d["softmax_y"]);
    assert_close(
        "log_softmax",
        &f::log_softmax(x, 2).unwrap(),
        &d["log_softmax_axis2_y"],
    );
}

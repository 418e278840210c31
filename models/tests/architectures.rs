//! Forward passes against known values: Chainer goldens (forward passes
//! transcribed with Chainer 7.8.1 in `tests/fixtures/generate.py`, the same
//! synthetic weights on both sides) for VGG16 and VGG19, the peephole LSTM, the cell
//! counter and the nested-RNN detector (temporal and per-frame);
//! hand-checkable or self-consistent expectations for the rest (layer names,
//! weight files, `prepare()`, peak finding, decoding, state across frames).

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor, nn::VarStore};
use zoo_models::cell_counter::{CellCounter, CellCounterConfig, count_from_density, find_peaks};
use zoo_models::nested_rnn::{NestedRnn, NestedRnnConfig};
use zoo_models::params;
use zoo_models::peephole::run_batch_major;
use zoo_models::vgg::{Vgg, VggConfig};
use zoo_nn::Mode;
use zoo_nn::links::{Peephole, peephole_lstm};
use zoo_nn::synthetic::synthetic_tensor;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// max |a − b| / max |b|.
fn relative_error(a: &Tensor, b: &Tensor) -> f64 {
    let diff = (a - b).abs().max().double_value(&[]);
    diff / b.abs().max().double_value(&[])
}

#[test]
fn vgg16_fc8_matches_chainer_with_synthetic_weights() {
    tch::set_num_threads(2);
    let mut vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&vs.root(), VggConfig::vgg16()).unwrap();
    params::fill_synthetic(&mut vs);
    let x = synthetic_tensor("input", &[1, 3, 224, 224]) * 50.0;
    let fc8 = tch::no_grad(|| vgg.logits(&x, Mode::Test)).unwrap();
    let golden = Tensor::read_npy(fixture("vgg16_fc8.npy")).unwrap();
    assert_eq!(fc8.size(), vec![1, 1000]);
    let error = relative_error(&fc8, &golden);
    assert!(error < 1e-4, "relative error {error}");

    // The inference layout package loading picks gives the same answer, and
    // the weights it saves are the same bytes. Compared by digest, so that
    // only one 553 MB file is on disk at a time (CI's disk is small).
    let dir = tempfile::tempdir().unwrap();
    let saved = dir.path().join("weights.safetensors");
    let saved_digest = || -> Vec<u8> {
        params::save_safetensors(&vs, &saved).unwrap();
        let mut file = std::fs::File::open(&saved).unwrap();
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).unwrap();
        std::fs::remove_file(&saved).unwrap();
        hasher.finalize().to_vec()
    };
    let before = saved_digest();
    vgg.use_channels_last().unwrap();
    let conv = vs.variables()["conv2_1.W"].shallow_clone();
    assert_eq!(conv.size(), vec![128, 64, 3, 3]);
    assert_eq!(
        conv.stride()[1],
        1,
        "channels-last strides: {:?}",
        conv.stride()
    );
    let fc8 = tch::no_grad(|| vgg.logits(&x, Mode::Test)).unwrap();
    let error = relative_error(&fc8, &golden);
    assert!(error < 1e-4, "channels-last: relative error {error}");
    assert_eq!(
        before,
        saved_digest(),
        "channels-last changed the saved bytes"
    );
}

#[test]
fn vgg19_fc8_matches_chainer_with_synthetic_weights() {
    tch::set_num_threads(2);
    let mut vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&vs.root(), VggConfig::vgg19()).unwrap();
    params::fill_synthetic(&mut vs);
    let x = synthetic_tensor("input", &[1, 3, 224, 224]) * 50.0;
    let fc8 = tch::no_grad(|| vgg.logits(&x, Mode::Test)).unwrap();
    let golden = Tensor::read_npy(fixture("vgg19_fc8.npy")).unwrap();
    assert_eq!(fc8.size(), vec![1, 1000]);
    let error = relative_error(&fc8, &golden);
    assert!(error < 1e-4, "relative error {error}");
}

#[test]
fn vgg19_has_the_extra_convs_and_caffe_names() {
    let vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(
        &vs.root(),
        VggConfig {
            width_divisor: 8,
            fc_width: 16,
            classes: 5,
            ..VggConfig::vgg19()
        },
    )
    .unwrap();
    let names = vgg.layer_names();
    for name in [
        "conv3_4", "conv4_4", "conv5_4", "pool5", "fc6", "fc7", "fc8", "prob",
    ] {
        assert!(names.contains(&name.to_string()), "{name} missing");
    }
    let vars: Vec<String> = params::named_tensors(&vs)
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(vars.len(), 2 * (16 + 3));
    assert!(vars.contains(&"conv5_4/W".to_string()));
    let vs16 = VarStore::new(Device::Cpu);
    let vgg16 = Vgg::new(&vs16.root(), VggConfig::mini()).unwrap();
    assert!(!vgg16.layer_names().contains(&"conv3_4".to_string()));
}

#[test]
fn vgg_extract_returns_named_layers_like_chainer() {
    let mut vs = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&vs.root(), VggConfig::mini()).unwrap();
    params::fill_synthetic(&mut vs);
    let x = synthetic_tensor("input", &[2, 3, 32, 32]) * 50.0;
    let out = tch::no_grad(|| {
        vgg.extract(
            &x,
            &["conv1_1", "pool1", "conv3_3", "fc7", "fc8", "prob"],
            Mode::Test,
        )
    })
    .unwrap();
    // conv1_1 includes its ReLU: conv + relu by hand.
    let w = synthetic_tensor("conv1_1/W", &[8, 3, 3, 3]);
    let b = synthetic_tensor("conv1_1/b", &[8]);
    let expected = x.conv2d(&w, Some(&b), [1, 1], [1, 1], [1, 1], 1).relu();
    assert!(relative_error(&out["conv1_1"], &expected) < 1e-6);
    assert_eq!(out["pool1"].size(), vec![2, 8, 16, 16]);
    assert_eq!(out["conv3_3"].size(), vec![2, 32, 8, 8]);
    assert!(
        out["fc7"].min().double_value(&[]) >= 0.0,
        "fc7 includes ReLU"
    );
    // fc8 = fc7 · Wᵀ + b, prob = softmax(fc8).
    let w8 = synthetic_tensor("fc8/W", &[10, 256]);
    let b8 = synthetic_tensor("fc8/b", &[10]);
    assert!(relative_error(&out["fc8"], &out["fc7"].linear(&w8, Some(&b8))) < 1e-5);
    assert!(relative_error(&out["prob"], &out["fc8"].softmax(1, Kind::Float)) < 1e-6);
    assert!(vgg.extract(&x, &["conv9_9"], Mode::Test).is_err());
}

#[test]
fn vgg_mini_weights_load_through_a_chainer_style_npz() {
    let dir = tempfile::tempdir().unwrap();
    let mut reference = VarStore::new(Device::Cpu);
    let vgg = Vgg::new(&reference.root(), VggConfig::mini()).unwrap();
    params::fill_synthetic(&mut reference);
    // Chainer's save_npz keys: conv1_1/W, …
    let named = params::named_tensors(&reference);
    let npz = dir.path().join("vgg_mini.npz");
    Tensor::write_npz(&named, &npz).unwrap();
    let mut loaded = VarStore::new(Device::Cpu);
    let vgg2 = Vgg::new(&loaded.root(), VggConfig::mini()).unwrap();
    params::load_into(&mut loaded, &npz).unwrap();
    let x = synthetic_tensor("input", &[1, 3, 32, 32]) * 50.0;
    let a = tch::no_grad(|| vgg.logits(&x, Mode::Test)).unwrap();
    let b = tch::no_grad(|| vgg2.logits(&x, Mode::Test)).unwrap();
    assert_eq!(relative_error(&b, &a), 0.0);
    // And a safetensors round trip.
    let st = dir.path().join("w.safetensors");
    params::save_safetensors(&loaded, &st).unwrap();
    let mut again = VarStore::new(Device::Cpu);
    let _vgg3 = Vgg::new(&again.root(), VggConfig::mini()).unwrap();
    params::load_into(&mut again, &st).unwrap();
    let files: BTreeMap<String, Tensor> = params::read_tensors(&st).unwrap();
    assert!(files.contains_key("fc8/b"));
}

#[test]
fn chainer_prepare_is_reproduced() {
    let path = fixture("prepare_image.png");
    let image = zoo_models::image_io::open(&path).unwrap();
    let x = zoo_models::image_io::rgb_tensor(
        &image,
        &zoo_models::image_io::Preprocess::chainer_vgg(),
        &path,
    )
    .unwrap();
    assert_eq!(x.size(), vec![1, 3, 224, 224]);
    let stats = Tensor::read_npz(fixture("prepare_stats.npz")).unwrap();
    let get = |name: &str| {
        stats
            .iter()
            .find(|(n, _)| n == name)
            .unwrap()
            .1
            .shallow_clone()
    };
    let mean = x.get(0).mean_dim(&[1i64, 2][..], false, Kind::Float);
    // Bicubic resamplers differ by rounding; channel order and mean must match closely.
    let mean_diff = (&mean - get("mean")).abs().max().double_value(&[]);
    assert!(mean_diff < 1.0, "channel means differ by {mean_diff}");
    let sub = x.get(0).slice(1, 0, 224, 14).slice(2, 0, 224, 14);
    let sub_diff = (&sub - get("subsample"))
        .abs()
        .mean(Kind::Float)
        .double_value(&[]);
    assert!(sub_diff < 2.0, "subsample differs by {sub_diff} on average");
}

#[test]
fn peephole_lstm_matches_chainer() {
    let mut vs = VarStore::new(Device::Cpu);
    let lstm = peephole_lstm(&(vs.root() / "lstm"), 3, 4, Peephole::Full);
    params::fill_synthetic(&mut vs);
    let x = synthetic_tensor("x", &[2, 5, 3]);
    let h = tch::no_grad(|| run_batch_major(&lstm, &x)).unwrap();
    let golden = Tensor::read_npy(fixture("peephole_h.npy")).unwrap();
    assert_eq!(h.size(), golden.size());
    let error = relative_error(&h, &golden);
    assert!(error < 1e-5, "relative error {error}");
}

#[test]
fn peephole_output_gate_sees_the_new_cell_state() {
    // H = 1, I = 1, only the output gate's peephole is non-zero and every
    // pre-activation is zero except a = 1 (so c₁ = tanh(1)·σ(0)).
    let mut vs = VarStore::new(Device::Cpu);
    let lstm = peephole_lstm(&(vs.root() / "lstm"), 1, 1, Peephole::Diagonal);
    let mut values = BTreeMap::new();
    // rows: a, i, f, o (interleaved per unit).
    values.insert(
        "lstm/upward/W".to_string(),
        Tensor::from_slice(&[0f32, 0.0, 0.0, 0.0]).view([4, 1]),
    );
    values.insert(
        "lstm/upward/b".to_string(),
        Tensor::from_slice(&[1f32, 0.0, 0.0, 0.0]),
    );
    values.insert(
        "lstm/lateral/W".to_string(),
        Tensor::zeros([4, 1], (Kind::Float, Device::Cpu)),
    );
    values.insert(
        "lstm/peep_i".to_string(),
        Tensor::zeros([1], (Kind::Float, Device::Cpu)),
    );
    values.insert(
        "lstm/peep_f".to_string(),
        Tensor::zeros([1], (Kind::Float, Device::Cpu)),
    );
    values.insert("lstm/peep_o".to_string(), Tensor::from_slice(&[2f32]));
    params::copy_into(&mut vs, &values).unwrap();
    let h = tch::no_grad(|| {
        run_batch_major(&lstm, &Tensor::zeros([1, 2, 1], (Kind::Float, Device::Cpu)))
    })
    .unwrap();
    let sig = |v: f64| 1.0 / (1.0 + (-v).exp());
    let c1 = 1f64.tanh() * 0.5;
    let h1 = sig(2.0 * c1) * c1.tanh();
    let c2 = 1f64.tanh() * 0.5 + 0.5 * c1;
    let h2 = sig(2.0 * c2) * c2.tanh();
    assert!((h.double_value(&[0, 0, 0]) - h1).abs() < 1e-6);
    assert!((h.double_value(&[0, 1, 0]) - h2).abs() < 1e-6);
}

#[test]
fn cell_counter_density_count_and_peaks() {
    let mut vs = VarStore::new(Device::Cpu);
    let net = CellCounter::new(&vs.root(), CellCounterConfig::default()).unwrap();
    params::fill_synthetic(&mut vs);
    let x = synthetic_tensor("image", &[2, 1, 64, 48]).abs();
    let density = tch::no_grad(|| net.density(&x)).unwrap();
    assert_eq!(density.size(), vec![2, 1, 64, 48]);
    let count = count_from_density(&density);
    let by_hand = density.get(1).sum(Kind::Float).double_value(&[]) / 100.0;
    assert!((count.double_value(&[1]) - by_hand).abs() < 1e-3 * by_hand.abs().max(1.0));
    // Peaks on a hand-made map: two bumps, one below 0.3 × max.
    let mut map = vec![0f32; 20 * 20];
    map[5 * 20 + 5] = 1.0;
    map[14 * 20 + 12] = 0.5;
    map[2 * 20 + 17] = 0.1;
    let peaks = find_peaks(&Tensor::from_slice(&map).view([20, 20]), 0.3);
    assert_eq!(peaks, vec![(5, 5), (14, 12)]);
}

#[test]
fn cell_counter_density_matches_chainer_reference() {
    let mut vs = VarStore::new(Device::Cpu);
    let net = CellCounter::new(&vs.root(), CellCounterConfig::default()).unwrap();
    params::fill_synthetic(&mut vs);
    let x = synthetic_tensor("image", &[2, 1, 64, 48]).abs() * 20.0;
    let density = tch::no_grad(|| net.density(&x)).unwrap();
    let golden = Tensor::read_npy(fixture("cell_counter_density.npy")).unwrap();
    assert_eq!(density.size(), vec![2, 1, 64, 48]);
    assert_eq!(golden.size(), density.size());
    let error = relative_error(&density, &golden);
    assert!(error < 1e-5, "density: relative error {error}");
    let count = count_from_density(&density);
    let golden_count = Tensor::read_npy(fixture("cell_counter_count.npy")).unwrap();
    assert_eq!(count.size(), vec![2]);
    let error = relative_error(&count, &golden_count);
    assert!(error < 1e-5, "count: relative error {error}");
}

/// The tch module names (`key/weight`, `outer/weight_ih_l0`, …) the
/// nested RNN's parameters had before it was built from zoo-nn links, which
/// `generate.py` fills with synthetic values.
fn tch_names(chainer_name: &str) -> Vec<String> {
    let (prefix, last) = chainer_name.rsplit_once('/').unwrap_or(("", chainer_name));
    let linear = ["saliency", "key", "query", "class_head", "box_head"].contains(&prefix);
    let names: &[&str] = match (last, prefix.rsplit_once('/')) {
        ("W", Some((lstm, "upward"))) => return vec![format!("{lstm}/weight_ih_l0")],
        ("W", Some((lstm, "lateral"))) => return vec![format!("{lstm}/weight_hh_l0")],
        ("b", Some((lstm, "upward"))) => {
            return vec![format!("{lstm}/bias_ih_l0"), format!("{lstm}/bias_hh_l0")];
        }
        ("W", _) if linear => &["weight"],
        ("b", _) if linear => &["bias"],
        _ => return vec![chainer_name.to_string()],
    };
    names.iter().map(|n| format!("{prefix}/{n}")).collect()
}

/// The default nested RNN (temporal or per-frame) with the synthetic
/// weights of `generate.py`, which are tch-named and tch-laid-out: they reach
/// the links through `tch_weights`, the conversion the committed package went
/// through. The store must outlive the net's use.
fn synthetic_nested_rnn(temporal: bool) -> (VarStore, NestedRnn) {
    let mut vs = VarStore::new(Device::Cpu);
    let net = NestedRnn::new(
        &vs.root(),
        NestedRnnConfig {
            temporal,
            ..Default::default()
        },
    )
    .unwrap();
    let tch_named: BTreeMap<String, Tensor> = params::named_tensors(&vs)
        .into_iter()
        .flat_map(|(name, tensor)| {
            tch_names(&name).into_iter().map(move |old| {
                let values = synthetic_tensor(&old, &tensor.size());
                (old, values)
            })
        })
        .collect();
    let converted = zoo_models::tch_weights::from_tch_names(tch_named).unwrap();
    params::copy_into(&mut vs, &converted).unwrap();
    (vs, net)
}

#[test]
fn nested_rnn_matches_chainer_reference() {
    let video = synthetic_tensor("video", &[2, 4, 1, 48, 48]).abs() * 20.0;
    for (temporal, prefix) in [(true, "nested_rnn"), (false, "nested_rnn_per_frame")] {
        let (_vs, net) = synthetic_nested_rnn(temporal);
        let detections = tch::no_grad(|| net.forward(&video)).unwrap();
        for (name, output) in [
            ("logits", &detections.class_logits),
            ("boxes", &detections.boxes),
        ] {
            let golden = Tensor::read_npy(fixture(&format!("{prefix}_{name}.npy"))).unwrap();
            assert_eq!(output.size(), vec![2, 4, 4, 4], "{prefix} {name}");
            assert_eq!(golden.size(), output.size(), "{prefix} {name}");
            let error = relative_error(output, &golden);
            assert!(error < 1e-5, "{prefix} {name}: relative error {error}");
        }
    }
}

#[test]
fn nested_rnn_carries_state_across_frames_only_when_temporal() {
    let video = Tensor::rand([1, 3, 1, 48, 48], (Kind::Float, Device::Cpu));
    let swapped = Tensor::cat(
        &[
            video.narrow(1, 1, 1),
            video.narrow(1, 0, 1),
            video.narrow(1, 2, 1),
        ],
        1,
    );
    for temporal in [false, true] {
        let (_vs, net) = synthetic_nested_rnn(temporal);
        let a = tch::no_grad(|| net.forward(&video)).unwrap();
        let b = tch::no_grad(|| net.forward(&swapped)).unwrap();
        assert_eq!(a.class_logits.size(), vec![1, 3, 4, 4]);
        assert_eq!(a.boxes.size(), vec![1, 3, 4, 4]);
        // Frame 1 of `video` is frame 0 of `swapped`: identical per frame, different with memory.
        let same =
            relative_error(&a.class_logits.select(1, 1), &b.class_logits.select(1, 0)) < 1e-6;
        assert_eq!(same, !temporal, "temporal = {temporal}");
        // Boxes are inside the frame.
        assert!(a.boxes.min().double_value(&[]) >= 0.0 && a.boxes.max().double_value(&[]) <= 1.0);
    }
}

#[test]
fn nested_rnn_decoding_stops_at_the_stop_token() {
    let vs = VarStore::new(Device::Cpu);
    let net = NestedRnn::new(&vs.root(), NestedRnnConfig::default()).unwrap();
    // One video, one frame, 4 slots: class 2, class 0, stop, class 1.
    let mut logits = vec![0f32; 16];
    for (slot, class) in [2usize, 0, 3, 1].iter().enumerate() {
        logits[slot * 4 + class] = 5.0;
    }
    let detections = zoo_models::nested_rnn::Detections {
        class_logits: Tensor::from_slice(&logits).view([1, 1, 4, 4]),
        boxes: Tensor::full([1, 1, 4, 4], 0.25, (Kind::Float, Device::Cpu)),
    };
    let decoded = net.decode(&detections);
    let classes: Vec<i64> = decoded[0][0].iter().map(|o| o.class).collect();
    assert_eq!(classes, vec![2, 0]);
    assert_eq!(decoded[0][0][0].bbox, [12.0; 4]);
}

//! Behaviour beyond the Chainer goldens: modes, dtypes, devices, shape
//! functions, variants zoo adds, and errors instead of panics.

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use zoo_nn::functions::{self as f, Eltwise, Pool2d, PoolRule, SplitAt};
use zoo_nn::links::{self as l, GruState, Recurrent};
use zoo_nn::{Link, Mode};

fn close(a: &Tensor, b: &Tensor, tolerance: f64) -> bool {
    let diff = (a.to_kind(Kind::Double) - b.to_kind(Kind::Double))
        .abs()
        .max()
        .double_value(&[]);
    diff <= tolerance
}

#[test]
fn dropout_is_active_only_in_train_mode() {
    let x = Tensor::ones([1000], (Kind::Float, Device::Cpu));
    let test = f::dropout(&x, 0.5, Mode::Test).unwrap();
    assert!(test.equal(&x));
    let train = f::dropout(&x, 0.5, Mode::Train).unwrap();
    let zeros = train.eq(0.0).sum(Kind::Int64).int64_value(&[]);
    assert!((300..700).contains(&zeros), "{zeros} zeros");
    // Kept units are scaled by 1/(1 − ratio), as in Chainer.
    assert!(close(&train.max(), &Tensor::from(2.0f32), 1e-6));
    assert!(f::dropout(&x, 1.0, Mode::Train).is_err());
}

#[test]
fn batch_normalization_modes_differ() {
    let vs = VarStore::new(Device::Cpu);
    let bn = l::batch_normalization(&(vs.root() / "bn"), 3, Default::default());
    let x = Tensor::randn([4, 3, 2, 2], (Kind::Float, Device::Cpu)) * 3.0 + 1.0;
    // Fresh statistics (mean 0, var 1): test mode is nearly the identity.
    assert!(close(&bn.forward(&x, Mode::Test), &x, 1e-3));
    let y = bn.forward(&x, Mode::Train);
    let mean = y.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
    assert!(close(
        &mean,
        &Tensor::zeros([3], (Kind::Float, Device::Cpu)),
        1e-5
    ));
    // Running mean moved by (1 − decay) towards the batch mean.
    let batch_mean = x.mean_dim([0i64, 2, 3].as_slice(), false, Kind::Float);
    assert!(close(&bn.avg_mean, &(batch_mean * 0.1), 1e-5));
}

/// Devices to test on: CPU, plus CUDA when present.
fn devices() -> Vec<Device> {
    if tch::Cuda::is_available() {
        vec![Device::Cpu, Device::Cuda(0)]
    } else {
        eprintln!("CUDA part skipped: no CUDA device");
        vec![Device::Cpu]
    }
}

/// Every link family runs in f16 and bf16 (on CPU, and on CUDA when
/// present) and stays near its f32 result.
#[test]
fn links_run_in_half_and_bfloat16() {
    for device in devices() {
        for kind in [Kind::Half, Kind::BFloat16] {
            tch::manual_seed(0);
            let mut vs = VarStore::new(Device::Cpu);
            let root = vs.root();
            let conv = l::convolution_2d(&(&root / "conv"), 3, 4, [3, 3], Default::default());
            let fc = l::linear(&(&root / "fc"), 4 * 4 * 4, 6);
            let bn = l::batch_normalization(&(&root / "bn"), 4, Default::default());
            let rnn = l::peephole_lstm(&(&root / "rnn"), 6, 5, l::Peephole::Full);
            let x = Tensor::randn([2, 3, 6, 6], (Kind::Float, Device::Cpu));
            let run = |x: &Tensor| {
                let h = conv.forward(x, Mode::Test);
                let h = bn.forward(&h, Mode::Test);
                let h = f::max_pooling_2d(&h, &Pool2d::new([1, 1], PoolRule::Caffe)).unwrap();
                let h = f::lrn(&h, &f::Lrn::caffe(3, 1e-2, 0.75, 1.0)).unwrap();
                let h = fc.forward(&h, Mode::Test);
                let y = rnn.seq_init(&h.unsqueeze(0).repeat([3, 1, 1])).unwrap().0;
                y.to_device(Device::Cpu)
            };
            let reference = run(&x);
            vs.set_device(device);
            vs.set_kind(kind);
            let y = run(&x.to_device(device).to_kind(kind));
            assert_eq!(y.kind(), kind);
            assert!(close(&y, &reference, 0.1), "{kind:?} on {device:?}");
            vs.set_kind(Kind::Float);
            let back = run(&x.to_device(device));
            assert!(
                close(&back, &reference, 0.02),
                "{kind:?} back to f32 on {device:?}"
            );
        }
    }
}

#[test]
fn links_follow_their_store_to_another_device() {
    let mut vs = VarStore::new(Device::Cpu);
    let fc = l::linear(&(vs.root() / "fc"), 3, 2);
    let x = Tensor::ones([1, 3], (Kind::Float, Device::Cpu));
    let reference = fc.forward(&x, Mode::Test);
    for device in devices() {
        vs.set_device(device);
        let y = fc.forward(&x.to_device(device), Mode::Test);
        assert_eq!(y.device(), device);
        assert!(close(&y.to_device(Device::Cpu), &reference, 1e-5));
    }
}

/// `seq` without autograd takes a fused path: zoo-kernels on the CPU in
/// f32, libtorch calls arranged for speed otherwise (here f64). Both must
/// agree with `step`, from a non-zero state, for both kinds of peephole.
#[test]
fn peephole_seq_without_autograd_matches_steps() {
    for dtype in [Kind::Float, Kind::Double] {
        for kind in [l::Peephole::Full, l::Peephole::Diagonal] {
            let mut vs = VarStore::new(Device::Cpu);
            let rnn = l::peephole_lstm(&(vs.root() / "rnn"), 5, 6, kind);
            for (_, mut var) in vs.variables() {
                let noise = Tensor::randn(var.size(), (Kind::Float, Device::Cpu)) * 0.5;
                tch::no_grad(|| var.copy_(&noise));
            }
            if dtype == Kind::Double {
                vs.double();
            }
            let random = |size: &[i64]| Tensor::randn(size, (dtype, Device::Cpu));
            let xs = random(&[7, 3, 5]);
            let start = l::LstmState {
                h: random(&[3, 6]),
                c: random(&[3, 6]),
            };
            let copy = |s: &l::LstmState| l::LstmState {
                h: s.h.copy(),
                c: s.c.copy(),
            };
            let (fused, last) = tch::no_grad(|| rnn.seq(&xs, copy(&start))).unwrap();
            assert_eq!(fused.kind(), dtype);
            let mut state = copy(&start);
            for t in 0..7 {
                state = rnn.step(&xs.get(t), &state).unwrap();
                assert!(
                    close(&fused.get(t), &state.h, 1e-5),
                    "{dtype:?} {kind:?} step {t}"
                );
            }
            assert!(close(&last.h, &state.h, 1e-5), "{dtype:?} {kind:?} last h");
            assert!(close(&last.c, &state.c, 1e-5), "{dtype:?} {kind:?} last c");
            // With autograd the same call keeps the graph.
            let (ys, _) = rnn.seq(&xs, copy(&start)).unwrap();
            assert!(ys.requires_grad());
            assert!(close(&ys, &fused, 1e-5), "{dtype:?} {kind:?} with autograd");
        }
    }
}

#[test]
fn diagonal_peepholes_are_per_unit_weights() {
    let vs = VarStore::new(Device::Cpu);
    let rnn = l::peephole_lstm(&(vs.root() / "rnn"), 2, 3, l::Peephole::Diagonal);
    let names: Vec<String> = {
        let mut n: Vec<String> = vs.variables().into_keys().collect();
        n.sort();
        n
    };
    assert_eq!(
        names,
        [
            "rnn.lateral.W",
            "rnn.peep_f",
            "rnn.peep_i",
            "rnn.peep_o",
            "rnn.upward.W",
            "rnn.upward.b"
        ]
    );
    for (name, mut var) in vs.variables() {
        tch::no_grad(|| var.copy_(&(Tensor::randn(var.size(), (Kind::Float, Device::Cpu)))));
        let _ = name;
    }
    let vars = vs.variables();
    let x = Tensor::randn([2, 2], (Kind::Float, Device::Cpu));
    let mut state = rnn.zero_state(2).unwrap();
    for _ in 0..3 {
        // Hand-written Gers step: peepholes multiply the cell element-wise.
        let z = x.linear(&vars["rnn.upward.W"], Some(&vars["rnn.upward.b"]))
            + state.h.linear::<Tensor>(&vars["rnn.lateral.W"], None);
        let z = z.reshape([2, 3, 4]);
        let (a, i, fg, o) = (
            z.select(2, 0),
            z.select(2, 1),
            z.select(2, 2),
            z.select(2, 3),
        );
        let i = (i + &state.c * &vars["rnn.peep_i"]).sigmoid();
        let fg = (fg + &state.c * &vars["rnn.peep_f"]).sigmoid();
        let c = a.tanh() * i + fg * &state.c;
        let o = (o + &c * &vars["rnn.peep_o"]).sigmoid();
        let h = o * c.tanh();
        state = rnn.step(&x, &state).unwrap();
        assert!(close(&state.h, &h, 1e-6));
        assert!(close(&state.c, &c, 1e-6));
    }
}

#[test]
fn lstm_starts_with_chainers_forget_bias() {
    let vs = VarStore::new(Device::Cpu);
    let rnn = l::lstm(&(vs.root() / "lstm"), 2, 3);
    let b = rnn.upward.bias.as_ref().unwrap();
    // Interleaved gates a, i, f, o per unit: only f (4k + 2) starts at 1.
    let expected = Tensor::from_slice(&[0.0f32, 0.0, 1.0, 0.0]).repeat([3]);
    assert!(b.equal(&expected));
    assert_eq!(vs.variables()["lstm.upward.b"].double_value(&[2]), 1.0);
}

#[test]
fn lstm_initialisers_follow_chainers_keywords() {
    let vs = VarStore::new(Device::Cpu);
    let config = l::LstmConfig {
        upward_init: zoo_nn::init::Initializer::HeUniform,
        lateral_init: zoo_nn::init::Initializer::Constant(0.5),
        bias_init: zoo_nn::init::Initializer::Constant(0.25),
        forget_bias_init: zoo_nn::init::Initializer::Constant(-1.0),
    };
    let lstm = l::lstm_with(&(vs.root() / "lstm"), 6, 3, config);
    let bias = lstm.upward.bias.as_ref().unwrap().view([3, 4]);
    assert!(close(
        &bias.select(1, 2),
        &Tensor::from_slice(&[-1.0f32; 3]),
        0.0
    ));
    assert!(close(
        &bias.select(1, 0),
        &Tensor::from_slice(&[0.25f32; 3]),
        0.0
    ));
    assert!(close(
        &lstm.lateral.weight,
        &lstm.lateral.weight.ones_like().g_mul_scalar(0.5),
        0.0
    ));
    let bound = (6.0f64 / 6.0).sqrt();
    assert!(lstm.upward.weight.abs().max().double_value(&[]) <= bound);
}

/// PyTorch's LSTM parameters, converted, give the same outputs in the link
/// as libtorch's own fused LSTM.
#[test]
fn lstm_params_from_torch_match_libtorchs_lstm() {
    use tch::nn::RNN;
    let torch_vs = VarStore::new(Device::Cpu);
    let torch = tch::nn::lstm(torch_vs.root() / "rnn", 5, 3, Default::default());
    let variables = torch_vs.variables();
    tch::no_grad(|| {
        for name in ["rnn.bias_ih_l0", "rnn.bias_hh_l0"] {
            let _ = variables[name].shallow_clone().uniform_(-0.5, 0.5);
        }
    });
    let converted = l::lstm_params_from_torch(&l::TorchLstmParams {
        weight_ih: &variables["rnn.weight_ih_l0"],
        weight_hh: &variables["rnn.weight_hh_l0"],
        bias_ih: &variables["rnn.bias_ih_l0"],
        bias_hh: &variables["rnn.bias_hh_l0"],
    })
    .unwrap();
    let vs = VarStore::new(Device::Cpu);
    let lstm = l::lstm(&vs.root(), 5, 3);
    tch::no_grad(|| {
        for (name, tensor) in &converted {
            let target = match *name {
                "upward/W" => &lstm.upward.weight,
                "upward/b" => lstm.upward.bias.as_ref().unwrap(),
                _ => &lstm.lateral.weight,
            };
            target.shallow_clone().copy_(tensor);
        }
    });
    let xs = Tensor::randn([4, 2, 5], (Kind::Float, Device::Cpu));
    let (expected, _) = tch::no_grad(|| torch.seq(&xs.transpose(0, 1)));
    let (got, _) = tch::no_grad(|| lstm.seq_init(&xs)).unwrap();
    assert!(close(&got, &expected.transpose(0, 1), 1e-6));
}

#[test]
fn stateless_gru_keeps_u_biases_stateful_first_step_drops_them() {
    let vs = VarStore::new(Device::Cpu);
    let gru = l::gru(&(vs.root() / "gru"), 2, 3);
    for (_, mut var) in vs.variables() {
        tch::no_grad(|| var.copy_(&(Tensor::randn(var.size(), (Kind::Float, Device::Cpu)))));
    }
    let x = Tensor::randn([1, 2], (Kind::Float, Device::Cpu));
    let fresh = gru.step(&x, &gru.zero_state(1).unwrap()).unwrap();
    let zero = gru
        .step(
            &x,
            &GruState::from_h(Tensor::zeros([1, 3], (Kind::Float, Device::Cpu))),
        )
        .unwrap();
    assert!(!close(&fresh.h, &zero.h, 1e-4));
}

#[test]
fn shape_functions() {
    let x = Tensor::arange(24, (Kind::Float, Device::Cpu)).reshape([2, 3, 4]);
    let parts = f::split(&x, &SplitAt::Indices(vec![1, 3]), 2).unwrap();
    assert_eq!(
        parts.iter().map(|p| p.size()[2]).collect::<Vec<_>>(),
        [1, 2, 1]
    );
    assert!(f::concat(&parts, -1).unwrap().equal(&x));
    assert_eq!(f::split(&x, &SplitAt::Sections(3), 1).unwrap().len(), 3);
    assert!(f::split(&x, &SplitAt::Sections(3), 2).is_err());
    assert!(f::concat(&[x.shallow_clone(), x.narrow(1, 0, 1).narrow(2, 0, 1)], 1).is_err());
    assert_eq!(f::reshape(&x, &[-1, 6]).unwrap().size(), [4, 6]);
    assert!(f::reshape(&x, &[-1, 5]).is_err());
    // Caffe: 0 copies a dimension, −1 is inferred, axis/num_axes pick a range.
    assert_eq!(
        f::reshape_caffe(&x, &[0, -1], 0, -1).unwrap().size(),
        [2, 12]
    );
    assert_eq!(
        f::reshape_caffe(&x, &[2, 2], 2, 1).unwrap().size(),
        [2, 3, 2, 2]
    );
    assert_eq!(
        f::reshape_caffe(&x, &[1, -1], 1, 1).unwrap().size(),
        [2, 1, 3, 4]
    );
    assert_eq!(f::flatten(&x, 1).unwrap().size(), [2, 12]);
    let a = Tensor::from_slice(&[1.0f32, -2.0]);
    let b = Tensor::from_slice(&[3.0f32, 4.0]);
    let xs = [a.shallow_clone(), b.shallow_clone()];
    assert!(
        f::eltwise(&Eltwise::Sum(vec![2.0, -1.0]), &xs)
            .unwrap()
            .equal(&Tensor::from_slice(&[-1.0f32, -8.0]))
    );
    assert!(
        f::eltwise(&Eltwise::Sum(vec![]), &xs)
            .unwrap()
            .equal(&Tensor::from_slice(&[4.0f32, 2.0]))
    );
    assert!(
        f::eltwise(&Eltwise::Prod, &xs)
            .unwrap()
            .equal(&Tensor::from_slice(&[3.0f32, -8.0]))
    );
    assert!(f::eltwise(&Eltwise::Max, &xs).unwrap().equal(&b));
    assert!(f::eltwise(&Eltwise::Sum(vec![1.0]), &xs).is_err());
    let pooled = f::global_average_pooling_2d(&x.reshape([1, 2, 3, 4])).unwrap();
    assert_eq!(pooled.size(), [1, 2, 1, 1]);
    assert!(close(
        &pooled.flatten(0, -1),
        &Tensor::from_slice(&[5.5f32, 17.5]),
        1e-6
    ));
    let pooled = f::global_max_pooling_2d(&x.reshape([1, 2, 3, 4])).unwrap();
    assert!(
        pooled
            .flatten(0, -1)
            .equal(&Tensor::from_slice(&[11.0f32, 23.0]))
    );
}

#[test]
fn bad_inputs_are_errors_not_panics() {
    let vs = VarStore::new(Device::Cpu);
    let fc = l::linear(&(vs.root() / "fc"), 3, 2);
    assert!(
        fc.f_forward(
            &Tensor::ones([1, 4], (Kind::Float, Device::Cpu)),
            Mode::Test
        )
        .is_err()
    );
    let conv = l::convolution_2d(&(vs.root() / "conv"), 3, 2, [3, 3], Default::default());
    assert!(
        conv.f_forward(
            &Tensor::ones([1, 2, 5, 5], (Kind::Float, Device::Cpu)),
            Mode::Test
        )
        .is_err()
    );
    let deconv = l::deconvolution_2d(
        &(vs.root() / "deconv"),
        3,
        2,
        [3, 3],
        l::Deconvolution2DConfig {
            conv: l::Convolution2DConfig {
                stride: [2, 2],
                ..Default::default()
            },
            outsize: Some([20, 20]),
        },
    );
    let err = deconv.f_forward(
        &Tensor::ones([1, 3, 4, 4], (Kind::Float, Device::Cpu)),
        Mode::Test,
    );
    assert!(err.unwrap_err().to_string().contains("outsize"));
    let embed = l::embed_id(&(vs.root() / "embed"), 5, 2, None);
    assert!(
        embed
            .f_forward(&Tensor::from_slice(&[7i64]), Mode::Test)
            .is_err()
    );
    assert!(
        embed
            .f_forward(&Tensor::from_slice(&[1.0f32]), Mode::Test)
            .is_err()
    );
    // Chainer's average rule has no window for a kernel larger than the input
    // (Caffe's gives one, clipped).
    let pool = Pool2d::new([7, 7], PoolRule::Chainer);
    assert!(
        f::average_pooling_2d(
            &Tensor::ones([1, 1, 3, 3], (Kind::Float, Device::Cpu)),
            &pool
        )
        .is_err()
    );
    assert!(f::max_pooling_2d(&Tensor::ones([3, 3], (Kind::Float, Device::Cpu)), &pool).is_err());
    assert!(f::softmax(&Tensor::ones([3, 3], (Kind::Float, Device::Cpu)), 2).is_err());
    let rnn = l::lstm(&(vs.root() / "lstm"), 3, 4);
    assert!(
        rnn.seq_init(&Tensor::ones([2, 3], (Kind::Float, Device::Cpu)))
            .is_err()
    );
    let stateful = l::Stateful::new(l::lstm(&(vs.root() / "lstm2"), 3, 4));
    assert!(
        stateful
            .f_forward(
                &Tensor::ones([2, 5], (Kind::Float, Device::Cpu)),
                Mode::Test
            )
            .is_err()
    );
}

/// Caffe's LRN (lrn_layer.cpp, CrossChannelForward_cpu): pre_pad = (n−1)/2,
/// channel c sums x² over [c − pre_pad, c − pre_pad + n − 1] and scales by
/// k + alpha/n · sum. An even n makes the window lopsided, unlike Chainer's.
#[test]
fn lrn_caffe_window_for_even_size() {
    let x = Tensor::randn([1, 6, 2, 2], (Kind::Float, Device::Cpu));
    let (n, alpha, beta, k) = (4i64, 0.3, 0.75, 1.5);
    let y = f::lrn(&x, &f::Lrn::caffe(n, alpha, beta, k)).unwrap();
    let pre_pad = (n - 1) / 2;
    for c in 0..6 {
        let lo = (c - pre_pad).max(0);
        let hi = (c - pre_pad + n - 1).min(5);
        let sum = x
            .narrow(1, lo, hi - lo + 1)
            .square()
            .sum_dim_intlist(1, false, Kind::Float);
        let scale = sum * (alpha / n as f64) + k;
        let expected = x.select(1, c) * scale.pow_tensor_scalar(-beta);
        assert!(close(&y.select(1, c), &expected, 1e-6), "channel {c}");
    }
}

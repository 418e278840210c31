//! TorchScript export and loading: Rust → file → Rust (and → PyTorch when the
//! project's venv is there), plus the errors bad files and inputs give.

use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use zoo_nn::links::{self as l, Peephole, Recurrent, Stateful};
use zoo_nn::torchscript::{self as ts, InputSpec, TorchScriptModel};
use zoo_nn::{Link, Mode, Model, NnError};

/// Convolution2D → ReLU → Linear, Chainer-style.
#[derive(Debug)]
struct ConvNet {
    conv: l::Convolution2D,
    fc: l::Linear,
}

impl ConvNet {
    fn new(vs: &VarStore) -> Self {
        let root = vs.root();
        ConvNet {
            conv: l::convolution_2d(
                &(&root / "conv"),
                3,
                4,
                [3, 3],
                l::Convolution2DConfig {
                    pad: [1, 1],
                    ..Default::default()
                },
            ),
            fc: l::linear(&(&root / "fc"), 4 * 6 * 6, 5),
        }
    }
}

impl Link for ConvNet {
    fn f_forward(&self, x: &Tensor, mode: Mode) -> zoo_nn::Result<Tensor> {
        let h = zoo_nn::functions::relu(&self.conv.f_forward(x, mode)?)?;
        self.fc.f_forward(&h, mode)
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a.to_device(Device::Cpu) - b.to_device(Device::Cpu))
        .abs()
        .max()
        .double_value(&[])
}

fn frozen_store() -> VarStore {
    tch::manual_seed(7);
    VarStore::new(Device::Cpu)
}

fn conv_net_file(dir: &Path) -> (PathBuf, Tensor, Tensor) {
    let mut vs = frozen_store();
    let net = ConvNet::new(&vs);
    vs.freeze();
    let x = Tensor::randn([2, 3, 6, 6], (Kind::Float, Device::Cpu));
    let expected = net.forward(&x, Mode::Test);
    let path = dir.join("convnet.pt");
    ts::export_link(&path, &net, "data", &x).unwrap();
    (path, x, expected)
}

/// Python with torch (the project's venv), when present.
fn venv_python() -> Option<PathBuf> {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/python");
    python.is_file().then_some(python)
}

/// Loads `module` in PyTorch, feeds it the `.npy` inputs and compares its
/// first output with `expected` to `tolerance`. The venv has no numpy, so
/// the snippet reads the (v1, little-endian f32, C order) files by hand.
fn check_in_pytorch(module: &Path, inputs: &[&Path], expected: &Path, tolerance: f64) {
    let Some(python) = venv_python() else {
        eprintln!("skipped: no PyTorch venv at ../../.venv");
        return;
    };
    let script = r#"
import ast, struct, sys, torch
def read_npy(path):
    data = open(path, "rb").read()
    assert data[:6] == b"\x93NUMPY", path
    (length,) = struct.unpack("<H", data[8:10])
    header = ast.literal_eval(data[10:10 + length].decode("latin1"))
    assert header["descr"] == "<f4" and not header["fortran_order"], header
    body = bytearray(data[10 + length:])
    return torch.frombuffer(body, dtype=torch.float32).reshape(header["shape"])
module = torch.jit.load(sys.argv[1])
tolerance = float(sys.argv[2])
expected = read_npy(sys.argv[3])
inputs = [read_npy(p) for p in sys.argv[4:]]
with torch.no_grad():
    out = module(*inputs)
if isinstance(out, (tuple, list)):
    out = out[0]
diff = (out - expected).abs().max().item()
print("max abs diff", diff)
sys.exit(0 if out.shape == expected.shape and diff <= tolerance else 1)
"#;
    let output = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(module)
        .arg(tolerance.to_string())
        .arg(expected)
        .args(inputs)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "PyTorch disagrees:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn conv_linear_chain_round_trips_through_torchscript() {
    let dir = tempfile::tempdir().unwrap();
    let (path, x, expected) = conv_net_file(dir.path());
    let model = TorchScriptModel::load(&path, Device::Cpu)
        .unwrap()
        .with_signature(
            vec![InputSpec::new("data", Some(vec![-1, 3, 6, 6]))],
            vec!["y".into()],
        );
    assert_eq!(model.input_names(), ["data"]);
    let out = model
        .run(&[("data".into(), x.shallow_clone())], &[])
        .unwrap();
    assert_eq!(out[0].0, "y");
    assert!(max_abs_diff(&out[0].1, &expected) <= 1e-6);

    let x_file = dir.path().join("x.npy");
    let y_file = dir.path().join("y.npy");
    zoo_nn::params::write_npy(&x_file, &x).unwrap();
    zoo_nn::params::write_npy(&y_file, &expected).unwrap();
    check_in_pytorch(&path, &[&x_file], &y_file, 1e-6);
}

#[test]
fn stateful_peephole_lstm_unrolled_round_trips() {
    let mut vs = frozen_store();
    let lstm = Stateful::new(l::peephole_lstm(
        &(vs.root() / "lstm"),
        3,
        4,
        Peephole::Full,
    ));
    vs.freeze();
    let xs = Tensor::randn([5, 2, 3], (Kind::Float, Device::Cpu));
    // Chainer's calling convention: one call per step from a reset state.
    let unrolled = |xs: &Tensor| -> zoo_nn::Result<Tensor> {
        lstm.reset_state();
        let mut ys = Vec::new();
        for t in 0..xs.size()[0] {
            ys.push(lstm.f_forward(&xs.get(t), Mode::Test)?);
        }
        Ok(Tensor::stack(&ys, 0))
    };
    let expected = unrolled(&xs).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lstm.pt");
    ts::export(&path, &[("xs".into(), xs.shallow_clone())], |inputs| {
        Ok(vec![unrolled(&inputs[0])?])
    })
    .unwrap();
    let model = TorchScriptModel::load(&path, Device::Cpu).unwrap();
    let out = model
        .run(&[("xs".into(), xs.shallow_clone())], &[])
        .unwrap();
    assert!(max_abs_diff(&out[0].1, &expected) <= 1e-6);
    // Fresh inputs of the traced shape follow the recorded ops, not the examples.
    let other = Tensor::randn([5, 2, 3], (Kind::Float, Device::Cpu));
    let out = model.forward(&[other.shallow_clone()]).unwrap();
    assert!(max_abs_diff(&out[0], &unrolled(&other).unwrap()) <= 1e-6);

    let x_file = dir.path().join("xs.npy");
    let y_file = dir.path().join("ys.npy");
    zoo_nn::params::write_npy(&x_file, &xs).unwrap();
    zoo_nn::params::write_npy(&y_file, &expected).unwrap();
    check_in_pytorch(&path, &[&x_file], &y_file, 1e-6);
}

/// A traced `seq` must record the whole recurrence: outside a trace the
/// peephole LSTM runs CPU f32 sequences in zoo-kernels, which libtorch's
/// tracer cannot see.
#[test]
fn traced_peephole_sequence_follows_fresh_inputs() {
    for kind in [Peephole::Full, Peephole::Diagonal] {
        let mut vs = frozen_store();
        let lstm = l::peephole_lstm(&(vs.root() / "lstm"), 3, 4, kind);
        for (_, mut var) in vs.variables() {
            let noise = Tensor::randn(var.size(), (Kind::Float, Device::Cpu)) * 0.5;
            tch::no_grad(|| var.copy_(&noise));
        }
        vs.freeze();
        let example = Tensor::randn([5, 2, 3], (Kind::Float, Device::Cpu));
        let module = ts::trace(&[("xs".into(), example)], |xs| {
            Ok(vec![lstm.seq_init(&xs[0])?.0])
        })
        .unwrap();
        assert!(!ts::is_tracing());
        let fresh = Tensor::randn([5, 2, 3], (Kind::Float, Device::Cpu));
        let traced = module.forward_ts(&[&fresh]).unwrap();
        let (direct, _) = tch::no_grad(|| lstm.seq_init(&fresh)).unwrap();
        assert!(max_abs_diff(&traced, &direct) <= 1e-5, "{kind:?}");
    }
}

#[test]
fn lstm_step_export_runs_any_sequence_length() {
    let mut vs = frozen_store();
    let lstm = l::peephole_lstm(&(vs.root() / "lstm"), 3, 4, Peephole::Diagonal);
    vs.freeze();
    let x = Tensor::randn([2, 3], (Kind::Float, Device::Cpu));
    let state = lstm.zero_state(2).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("step.pt");
    ts::export_lstm_step(&path, &lstm, &x, &state).unwrap();
    let model = TorchScriptModel::load(&path, Device::Cpu)
        .unwrap()
        .with_signature(
            vec![
                InputSpec::new("x", Some(vec![2, 3])),
                InputSpec::new("state", Some(vec![2, 2, 4])),
            ],
            vec!["state".into()],
        );
    let xs = Tensor::randn([7, 2, 3], (Kind::Float, Device::Cpu));
    let (expected, _) = lstm.seq_init(&xs).unwrap();
    let mut state = Tensor::stack(&[&state.h, &state.c], 0);
    for t in 0..7 {
        // Inputs by name, in any order.
        let out = model
            .run(&[("state".into(), state), ("x".into(), xs.get(t))], &[])
            .unwrap();
        state = out[0].1.shallow_clone();
        assert!(max_abs_diff(&state.get(0), &expected.get(t)) <= 1e-6);
    }
}

#[test]
fn tensors_follow_the_model_to_cuda() {
    if !tch::Cuda::is_available() {
        eprintln!("skipped: CUDA is not available");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, x, expected) = conv_net_file(dir.path());
    let model = TorchScriptModel::load(&path, Device::Cuda(0)).unwrap();
    let out = model.run(&[("data".into(), x)], &[]).unwrap();
    assert_eq!(out[0].1.device(), Device::Cuda(0));
    // cuDNN and the CPU kernels sum in different orders.
    assert!(max_abs_diff(&out[0].1, &expected) <= 1e-4);
}

#[test]
fn bad_files_and_inputs_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pt");
    let error = TorchScriptModel::load(&missing, Device::Cpu).unwrap_err();
    assert!(error.to_string().contains("missing.pt"), "{error}");

    let corrupt = dir.path().join("corrupt.pt");
    std::fs::write(&corrupt, b"PK\x03\x04 not a zip archive").unwrap();
    let error = TorchScriptModel::load(&corrupt, Device::Cpu).unwrap_err();
    assert!(error.to_string().contains("corrupt.pt"), "{error}");

    let (path, x, _) = conv_net_file(dir.path());
    let truncated = dir.path().join("truncated.pt");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    assert!(TorchScriptModel::load(&truncated, Device::Cpu).is_err());

    // Without a signature: torch's own checks, as errors.
    let bare = TorchScriptModel::load(&path, Device::Cpu).unwrap();
    let two = [
        ("a".into(), x.shallow_clone()),
        ("b".into(), x.shallow_clone()),
    ];
    let error = bare.run(&two, &[]).unwrap_err();
    assert!(error.to_string().contains("convnet.pt"), "{error}");
    let wrong = Tensor::zeros([2, 5, 6, 6], (Kind::Float, Device::Cpu));
    assert!(
        bare.run(&[("a".into(), wrong.shallow_clone())], &[])
            .is_err()
    );

    // With one: named before anything runs.
    let model = bare.with_signature(
        vec![InputSpec::new("data", Some(vec![-1, 3, 6, 6]))],
        vec!["y".into()],
    );
    let error = model.run(&[("data".into(), wrong)], &[]).unwrap_err();
    assert!(
        matches!(&error, NnError::Input { name, .. } if name == "data"),
        "{error}"
    );
    let error = model.run(&two, &[]).unwrap_err();
    assert!(matches!(&error, NnError::Input { .. }), "{error}");
    let error = model.run(&[("data".into(), x)], &["z".into()]).unwrap_err();
    assert!(error.to_string().contains("no output named"), "{error}");
    assert!(!dir.path().join(".convnet.pt.tmp").exists());
}

#[test]
fn tracing_refuses_parameters_that_require_gradients() {
    let vs = frozen_store();
    let net = ConvNet::new(&vs);
    let x = Tensor::randn([1, 3, 6, 6], (Kind::Float, Device::Cpu));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unfrozen.pt");
    let error = ts::export_link(&path, &net, "data", &x).unwrap_err();
    assert!(error.to_string().contains("freeze"), "{error}");
    assert!(!path.exists());
    // A failing forward is reported as itself, and nothing is written.
    let error = ts::export(&path, &[("x".into(), x.shallow_clone())], |_| {
        Err(NnError::input("x", "refused"))
    })
    .unwrap_err();
    assert!(error.to_string().contains("refused"), "{error}");
    assert!(!path.exists());
    let x = Tensor::zeros([1, 2], (Kind::Float, Device::Cpu));
    let two = ts::export(&path, &[("x".into(), x.shallow_clone())], |xs| {
        Ok(vec![xs[0].shallow_clone(), xs[0].shallow_clone()])
    });
    assert!(two.unwrap_err().to_string().contains("one output"));
    // Tracing still works after a failed trace.
    ts::export(&path, &[("x".into(), x)], |xs| Ok(vec![xs[0].relu()])).unwrap();
    assert!(path.exists());
}

#[test]
fn files_that_name_a_device_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let (free, _, _) = conv_net_file(dir.path());
    assert!(ts::pinned_devices(&free).unwrap().is_empty());

    let pinned = dir.path().join("pinned.pt");
    let x = Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
    ts::export(&pinned, &[("x".into(), x.shallow_clone())], |xs| {
        Ok(vec![xs[0].to_device(Device::Cpu) * 2.0])
    })
    .unwrap();
    assert_eq!(ts::pinned_devices(&pinned).unwrap(), ["cpu"]);
    let model = TorchScriptModel::load(&pinned, Device::Cpu).unwrap();
    let out = model.forward(&[x]).unwrap();
    assert_eq!(out[0].sum(Kind::Float).double_value(&[]), 12.0);
    if tch::Cuda::is_available() {
        let error = TorchScriptModel::load(&pinned, Device::Cuda(0)).unwrap_err();
        assert!(
            error.to_string().contains("moves tensors to cpu"),
            "{error}"
        );
    } else {
        eprintln!("skipped the CUDA half: CUDA is not available");
    }
}

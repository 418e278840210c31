//! `cargo xtask gpu-check`: builds `zoo` and `zoo-torch` here and lays out
//! `.gpu-check/` with the binaries and one script. A GPU machine (torch 2.11.0, no cargo) runs that
//! script against its own torch libraries; the rpath from here does not exist
//! there, so the script sets LD_LIBRARY_PATH to that machine's torch/lib.

use crate::cmd;
use anyhow::{Context, Result};

const SCRIPT: &str = r#"#!/usr/bin/env bash
# Runs on the GPU machine from the repository root: `bash .gpu-check/run.sh`.
set -u
here=$(cd "$(dirname "$0")" && pwd)
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))' 2>/dev/null)
if [ -z "$torch_lib" ]; then
  torch_lib=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/torch/lib 2>/dev/null | head -1)
fi
echo "torch lib: $torch_lib"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | head -3
echo "== ldd zoo-torch (torch libraries; zoo itself links none)"
ldd "$here/zoo-torch" | grep -E 'libtorch|libc10'
status=0
echo "== zoo doctor"
"$here/zoo" doctor || status=1
echo "== zoo doctor --parity cuda"
"$here/zoo" doctor --parity cuda || status=1
echo "== zoo run models/vgg-mini on cuda and on cpu"
"$here/zoo" run models/vgg-mini models/vgg-mini/examples/*.png --device cuda || status=1
"$here/zoo" run models/vgg-mini models/vgg-mini/examples/*.png --device cpu || status=1
echo "== zoo run --output: vgg-mini fc8 of the examples on cuda against cpu (relative 1e-3: cuDNN convolutions run in TF32 by default on this GPU, as in PyTorch eager)"
"$here/zoo" run models/vgg-mini models/vgg-mini/examples/*.png --device cuda --output fc8=/tmp/zoo-fc8-cuda.npy || status=1
"$here/zoo" run models/vgg-mini models/vgg-mini/examples/*.png --device cpu --output fc8=/tmp/zoo-fc8-cpu.npy || status=1
python3 - <<'PY' || status=1
import ast, struct, sys, torch
def load(path):
    data = open(path, "rb").read()
    size = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + size].decode())
    assert header["descr"] == "<f4", header
    return torch.frombuffer(bytearray(data[10 + size:]), dtype=torch.float32).reshape(header["shape"])
cuda, cpu = load("/tmp/zoo-fc8-cuda.npy"), load("/tmp/zoo-fc8-cpu.npy")
rel = float((cuda - cpu).abs().max() / cpu.abs().max())
print("fc8 shape", tuple(cpu.shape), "max relative difference cuda vs cpu", rel)
sys.exit(0 if rel < 1e-3 else 1)
PY
echo "== zoo verify: each committed package's golden input and outputs on cuda"
for package in models/vgg-mini models/peephole-lstm models/nested-rnn models/cell-counter; do
  "$here/zoo" verify "$package" --device cuda || status=1
done
echo "== zoo run models/cell-counter on cuda"
"$here/zoo" run models/cell-counter models/cell-counter/examples/*.png --device cuda || status=1
echo "== vgg16 at full size: a VGG16-shaped V1 caffemodel with SYNTHETIC weights (official layer names and shapes), imported with --like models/vgg16"
"$here/vgg_caffemodel" full /tmp/vgg16.caffemodel || status=1
rm -rf /tmp/vgg16
"$here/zoo" import caffe /tmp/vgg16.caffemodel --like models/vgg16 -o /tmp/vgg16 || status=1
image=$(ls models/vgg-mini/examples/*.png | head -1)
echo "== zoo run vgg16 --device cuda against cpu on $image: fc8 within 1e-4 relative with TF32 off (NVIDIA_TF32_OVERRIDE=0: cuDNN and cuBLAS in full FP32)"
"$here/zoo" run /tmp/vgg16 "$image" --device cpu --output fc8=/tmp/vgg16-fc8-cpu.npy || status=1
NVIDIA_TF32_OVERRIDE=0 "$here/zoo" run /tmp/vgg16 "$image" --device cuda --output fc8=/tmp/vgg16-fc8-cuda.npy || status=1
"$here/zoo" run /tmp/vgg16 "$image" --device cuda --output fc8=/tmp/vgg16-fc8-cuda-tf32.npy || status=1
"$here/zoo" run /tmp/vgg16 "$image" --device cuda || status=1
python3 - <<'PY' || status=1
import ast, struct, sys, torch
def load(path):
    data = open(path, "rb").read()
    size = struct.unpack("<H", data[8:10])[0]
    header = ast.literal_eval(data[10:10 + size].decode())
    return torch.frombuffer(bytearray(data[10 + size:]), dtype=torch.float32).reshape(header["shape"])
cpu = load("/tmp/vgg16-fc8-cpu.npy")
fp32 = float((load("/tmp/vgg16-fc8-cuda.npy") - cpu).abs().max() / cpu.abs().max())
tf32 = float((load("/tmp/vgg16-fc8-cuda-tf32.npy") - cpu).abs().max() / cpu.abs().max())
print(f"vgg16 fc8 {tuple(cpu.shape)}: max relative difference cuda vs cpu {fp32:.2e} with TF32 off (goal 1e-4), {tf32:.2e} with the default TF32 convolutions (report only)")
sys.exit(0 if fp32 <= 1e-4 else 1)
PY
echo "== VGG16 forward on cuda: zoo (package loaded as zoo run does, device synchronised around each pass) against PyTorch eager (the same weights, CUDA events; the faster of NCHW and channels-last), default settings for both, median of 50"
for batch in 1 16; do
  zoo_json=$("$here/zoo-bench" package /tmp/vgg16 cuda $batch 50) || status=1
  python3 models/bench/gpu_vgg16.py /tmp/vgg16 $batch 50 cuda "$zoo_json" || status=1
done
echo "== ONNX: a ResNet-18-shaped model with SYNTHETIC weights (crates/zoo-onnx/examples/resnet18_onnx.rs; this machine has no torchvision or onnx to export one), imported here by zoo import onnx, whose golden.npz holds the CPU's outputs"
"$here/resnet18_onnx" /tmp/resnet18.onnx || status=1
rm -rf /tmp/resnet18
"$here/zoo" import onnx /tmp/resnet18.onnx -o /tmp/resnet18 || status=1
echo "== zoo verify /tmp/resnet18 --device cuda: the CPU's logits within 1e-4 relative with TF32 off, then with the default TF32 convolutions (report only)"
NVIDIA_TF32_OVERRIDE=0 "$here/zoo" verify /tmp/resnet18 --device cuda || status=1
"$here/zoo" verify /tmp/resnet18 --device cuda
echo "== ResNet-18 forward on cuda: zoo against PyTorch eager (the same weights, checked against the package's golden output; CUDA events; the faster of NCHW and channels-last), median of 50"
for batch in 1 8; do
  zoo_json=$("$here/zoo-bench" package /tmp/resnet18 cuda $batch 50) || status=1
  python3 models/bench/gpu_resnet18.py /tmp/resnet18 $batch 50 cuda "$zoo_json" || status=1
done
echo "gpu-check exit status: $status"
exit $status
"#;

pub fn run(_args: &[String]) -> Result<()> {
    crate::setup::run()?;
    // The dev profile: tensor work runs in libtorch either way, and it is the
    // build that `cargo xtask test` already made. Stripped, it travels light.
    cmd::run(cmd::cargo().args(["build", "-p", "zoo-cli", "-p", "zoo-torch-cli"]))?;
    // The full-size vgg16 check: the synthetic caffemodel writer and the
    // forward-pass timer.
    cmd::run(cmd::cargo().args(["build", "-p", "zoo-models", "--bin", "zoo-bench"]))?;
    cmd::run(cmd::cargo().args(["build", "-p", "zoo-caffe", "--example", "vgg_caffemodel"]))?;
    // The ONNX check: a ResNet-18-shaped model written on the GPU machine.
    cmd::run(cmd::cargo().args(["build", "-p", "zoo-onnx", "--example", "resnet18_onnx"]))?;
    let root = cmd::root();
    let dir = root.join(".gpu-check");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // `zoo` starts `zoo-torch` from its own directory for the torch commands.
    let binaries = [
        "zoo",
        "zoo-torch",
        "zoo-bench",
        "examples/vgg_caffemodel",
        "examples/resnet18_onnx",
    ];
    for binary in binaries {
        let name = binary.rsplit('/').next().unwrap_or(binary);
        cmd::run(
            std::process::Command::new("strip")
                .arg("-o")
                .arg(dir.join(name))
                .arg(root.join("target/debug").join(binary)),
        )?;
    }
    std::fs::write(dir.join("run.sh"), SCRIPT).context("writing .gpu-check/run.sh")?;
    println!("prepared {}", dir.display());
    println!("on the GPU machine, from the repository root (carry .gpu-check):");
    println!("  bash .gpu-check/run.sh");
    Ok(())
}

"""PyTorch eager peer of `zoo-bench package` for the ONNX part of
`cargo xtask gpu-check`.

    python gpu_resnet18.py PACKAGE_DIR BATCH RUNS [DEVICE [ZOO_JSON]]

PACKAGE_DIR is `zoo import onnx` of the file that
`crates/zoo-onnx/examples/resnet18_onnx.rs` writes: ResNet-18 with batch
normalisation folded into biased convolutions, torchvision's parameter
names. This builds the same network in plain torch.nn, loads the package's
weights.safetensors (`<name>/value`), checks that its output matches the
package's golden.npz (zoo's CPU answer at import), and prints one JSON line
with the median forward time (CUDA events), NCHW and channels-last, as
gpu_vgg16.py does. Needs only torch.
"""
import io
import json
import sys
import zipfile

import torch
import torch.nn as nn

import gpu_vgg16
from gpu_vgg16 import read_safetensors


def conv(weights, name, stride):
    w = weights[f"{name}.weight/value"]
    layer = nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], stride, w.shape[2] // 2)
    layer.weight.data.copy_(w)
    layer.bias.data.copy_(weights[f"{name}.bias/value"])
    return layer


class Block(nn.Module):
    def __init__(self, weights, name, stride):
        super().__init__()
        self.conv1 = conv(weights, f"{name}.conv1", stride)
        self.conv2 = conv(weights, f"{name}.conv2", 1)
        has_downsample = f"{name}.downsample.0.weight/value" in weights
        self.downsample = conv(weights, f"{name}.downsample.0", stride) if has_downsample else None

    def forward(self, x):
        y = self.conv2(torch.relu(self.conv1(x)))
        return torch.relu(y + (self.downsample(x) if self.downsample is not None else x))


def resnet18(weights):
    blocks = [Block(weights, f"layer{layer}.{block}", 2 if layer > 1 and block == 0 else 1)
              for layer in range(1, 5) for block in range(2)]
    fc = nn.Linear(512, 1000)
    fc.weight.data.copy_(weights["fc.weight/value"])
    fc.bias.data.copy_(weights["fc.bias/value"])
    return nn.Sequential(conv(weights, "conv1", 2), nn.ReLU(), nn.MaxPool2d(3, 2, 1), *blocks,
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), fc).eval()


def read_npy(data):
    """An .npy (float32, C order) from bytes: the machine has no numpy."""
    import ast
    import struct
    assert data[:6] == b"\x93NUMPY", "not an npy file"
    major = data[6]
    size_format, start = ("<H", 8) if major == 1 else ("<I", 8)
    (size,) = struct.unpack(size_format, data[start:start + struct.calcsize(size_format)])
    offset = start + struct.calcsize(size_format)
    header = ast.literal_eval(data[offset:offset + size].decode())
    assert header["descr"] == "<f4" and not header["fortran_order"], header
    body = bytearray(data[offset + size:])
    return torch.frombuffer(body, dtype=torch.float32).reshape(header["shape"])


if __name__ == "__main__":
    package, batch, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    device = sys.argv[4] if len(sys.argv) > 4 else "cuda"
    gpu_vgg16.DEVICE = device
    model = resnet18(read_safetensors(f"{package}/weights.safetensors")).to(device)
    with zipfile.ZipFile(f"{package}/golden.npz") as golden:
        x0 = read_npy(golden.read("inputs/input.npy")).to(device)
        want = read_npy(golden.read("outputs/logits.npy"))
    with torch.inference_mode():
        got = model(x0).float().cpu()
    # TF32 is off by default for matmuls but on for cuDNN convolutions: the
    # check is of the same network, not of the last bits.
    rel = float((got - want).abs().max() / want.abs().max())
    if rel > 1e-2:
        sys.exit(f"the PyTorch network does not match the package (relative difference {rel:.2e})")
    peer = gpu_vgg16.time_both_layouts(model, batch, runs)
    peer["golden_relative_difference"] = rel
    gpu_vgg16.report("resnet18 ", peer, sys.argv[5] if len(sys.argv) > 5 else None)

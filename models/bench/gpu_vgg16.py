"""PyTorch eager peer of `zoo-bench package` for `cargo xtask gpu-check`.

    python gpu_vgg16.py PACKAGE_DIR BATCH RUNS [DEVICE [ZOO_JSON]]
    # DEVICE: cuda (default) or cpu; ZOO_JSON: `zoo-bench package`'s line,
    # to print the two side by side with zoo's speed relative to PyTorch's.

Loads the package's weights.safetensors (zoo/Chainer names: conv1_1/W …
fc8/b) into VGG16 in plain torch.nn on CUDA and prints one JSON line: the
median forward time measured with CUDA events, in NCHW and in channels-last
(zoo's layout), and which one is faster. Needs only torch (the GPU machine
has no safetensors package: the file is parsed here, it is simple).
"""
import json
import struct
import sys

import torch
import torch.nn as nn

CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
CONVS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
         "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]


def read_safetensors(path):
    data = open(path, "rb").read()
    (size,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + size])
    body = memoryview(data)[8 + size:]
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", (name, info["dtype"])
        start, end = info["data_offsets"]
        tensors[name.lstrip("/")] = torch.frombuffer(bytearray(body[start:end]), dtype=torch.float32).reshape(info["shape"])
    return tensors


def vgg16(weights):
    layers, c, convs = [], 3, iter(CONVS)
    for v in CFG:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        conv = nn.Conv2d(c, v, 3, padding=1)
        name = next(convs)
        conv.weight.data.copy_(weights[f"{name}/W"])
        conv.bias.data.copy_(weights[f"{name}/b"])
        layers += [conv, nn.ReLU(inplace=True)]
        c = v
    head = []
    for name, (i, o) in zip(["fc6", "fc7", "fc8"], [(25088, 4096), (4096, 4096), (4096, 1000)]):
        fc = nn.Linear(i, o)
        fc.weight.data.copy_(weights[f"{name}/W"])
        fc.bias.data.copy_(weights[f"{name}/b"])
        head += [fc] + ([nn.ReLU(True)] if name != "fc8" else [])
    return nn.Sequential(*layers, nn.Flatten(), *head).eval()


def median_ms(runs, f):
    f()
    times = []
    if DEVICE == "cpu":  # a check of this script away from a GPU
        import time
        for _ in range(runs):
            start = time.perf_counter()
            f()
            times.append((time.perf_counter() - start) * 1e3)
        times.sort()
        return times[len(times) // 2]
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        f()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def time_both_layouts(model, batch, runs):
    """The model's median forward seconds on a random batch in NCHW and in
    channels-last (zoo's layout); the peer counts the faster."""
    x = torch.randn(batch, 3, 224, 224, device=DEVICE)
    with torch.inference_mode():
        nchw = median_ms(runs, lambda: model(x)) / 1e3
        model_cl = model.to(memory_format=torch.channels_last)
        x_cl = x.contiguous(memory_format=torch.channels_last)
        cl = median_ms(runs, lambda: model_cl(x_cl)) / 1e3
    return {"forward_s": min(nchw, cl), "nchw_s": nchw, "channels_last_s": cl, "batch": batch, "runs": runs}


def report(name, peer, zoo_json):
    """One JSON line for the peer, then, given zoo-bench's line, the two
    side by side."""
    print(json.dumps(peer))
    if zoo_json is not None:
        zoo = json.loads(zoo_json)
        print(f"{name}batch {peer['batch']} on {DEVICE}: zoo {zoo['forward_s'] * 1e3:.2f} ms, "
              f"PyTorch eager {peer['forward_s'] * 1e3:.2f} ms "
              f"(NCHW {peer['nchw_s'] * 1e3:.2f}, channels-last {peer['channels_last_s'] * 1e3:.2f}); "
              f"zoo speed / PyTorch speed {peer['forward_s'] / zoo['forward_s']:.2f} (goal >= 0.95)")


if __name__ == "__main__":
    package, batch, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    DEVICE = sys.argv[4] if len(sys.argv) > 4 else "cuda"
    model = vgg16(read_safetensors(f"{package}/weights.safetensors")).to(DEVICE)
    report("", time_both_layouts(model, batch, runs), sys.argv[5] if len(sys.argv) > 5 else None)

"""The peers of `cargo xtask bench onnx`: ONNX Runtime (CPU provider) on a
generated torchvision ONNX fixture, and PyTorch on the same torchvision
model with the same weights, eager and as TorchScript through
`torch.jit.optimize_for_inference` (frozen, conv + batch-norm folded,
oneDNN prepacked convolutions: libtorch's fastest CPU path, what zoo's
kernels can reach at best). Run with .venv-onnx's python.

    peers.py ort       MODEL.onnx BATCH RUNS THREADS
    peers.py torch     MODEL.onnx BATCH RUNS THREADS
    peers.py torch-jit MODEL.onnx BATCH RUNS THREADS

Prints one JSON line: {"forward_s": median seconds per forward pass, ...}.

The fixtures (crates/zoo-onnx/tests/fixtures/generate.py --large) store no
PyTorch checkpoint, so `torch` rebuilds the model the way the generator did
(torchvision architecture NAME from the file name, torch.manual_seed(0),
seeded batch-norm statistics) and refuses to time it unless its output on
the fixture's input (NAME.npz beside the model, ONNX Runtime's answer)
matches: the same weights, not just the same architecture.
"""
import json
import os
import sys

import numpy as np

# The peers' shared timing (models/bench/timing.py).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../../models/bench"))
from timing import median_seconds  # noqa: E402


def batch_input(batch):
    rng = np.random.default_rng(0)
    return rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)


def ort_peer(model, batch, runs, threads):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    feeds = {name: batch_input(batch)}
    seconds = median_seconds(runs, lambda: session.run(None, feeds))
    return {"forward_s": seconds, "batch": batch, "runs": runs, "threads": threads}


def torchvision_model(model):
    """The generator's model: same architecture, seed and batch-norm statistics."""
    import torch
    import torchvision

    name = os.path.splitext(os.path.basename(model))[0]
    torch.manual_seed(0)
    net = getattr(torchvision.models, name)(weights=None).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net


def checked_net(model, optimize):
    """The rebuilt model (TorchScript-optimised when `optimize`), refused
    unless it answers the fixture's input as ONNX Runtime did."""
    import torch

    net = torchvision_model(model)
    if optimize:
        net = torch.jit.optimize_for_inference(torch.jit.script(net))
    golden = np.load(os.path.splitext(model)[0] + ".npz")
    with torch.inference_mode():
        got = net(torch.from_numpy(golden["inputs/input"])).numpy()
    want = golden["outputs/logits"]
    difference = float(np.abs(got - want).max() / np.abs(want).max())
    if not difference <= 1e-4:
        sys.exit(f"{model}: the rebuilt torchvision model differs from the ONNX file's "
                 f"weights (max relative difference {difference:.2e} against ONNX Runtime)")
    return net, difference


def torch_peer(model, batch, runs, threads, optimize=False):
    import torch

    torch.set_num_threads(threads)
    net, difference = checked_net(model, optimize)
    x = torch.from_numpy(batch_input(batch))

    def forward():
        with torch.inference_mode():
            net(x)

    seconds = median_seconds(runs, forward)
    return {"forward_s": seconds, "batch": batch, "runs": runs,
            "threads": torch.get_num_threads(), "max_rel_diff_vs_ort": difference}


PEERS = {
    "ort": ort_peer,
    "torch": torch_peer,
    "torch-jit": lambda *args: torch_peer(*args, optimize=True),
}


def main():
    if len(sys.argv) != 6 or sys.argv[1] not in PEERS:
        sys.exit(__doc__)
    peer, model = sys.argv[1], sys.argv[2]
    batch, runs, threads = (int(v) for v in sys.argv[3:6])
    result = PEERS[peer](model, batch, runs, threads)
    print(json.dumps(result))


if __name__ == "__main__":
    main()

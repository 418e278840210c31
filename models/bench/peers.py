"""Peers for `cargo xtask bench models` (one JSON line of median seconds).

    python peers.py torch   THREADS RUNS   # PyTorch eager: VGG16 in plain torch.nn, nn.LSTM(256, 256)
    python peers.py chainer THREADS RUNS   # Chainer 7.8.1: VGG16Layers, StatefulPeepholeLSTM(256, 256)

Shapes match models/src/bin/zoo-bench.rs: VGG16 forward 1x3x224x224;
LSTM sequence 100, batch 32, 256 -> 256, inference.
"""
import copy
import json
import os
import sys

from timing import median_seconds


def torch_peer(threads, runs):
    import torch
    import torch.nn as nn

    torch.set_num_threads(threads)
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
            c = v
    vgg = nn.Sequential(*layers, nn.Flatten(), nn.Linear(25088, 4096), nn.ReLU(True), nn.Dropout(),
                        nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(), nn.Linear(4096, 1000)).eval()
    x = torch.randn(1, 3, 224, 224)
    lstm = nn.LSTM(256, 256, batch_first=True).eval()
    seq = torch.randn(32, 100, 256)
    # The same network with channels-last weights and input (what zoo's
    # package loading does for its VGGs).
    # (`Module.to` converts in place: copy first so `vgg` stays NCHW.)
    vgg_cl = copy.deepcopy(vgg).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        v = median_seconds(runs, lambda: vgg(x))
        vcl = median_seconds(runs, lambda: vgg_cl(x.contiguous(memory_format=torch.channels_last)))
        l = median_seconds(runs, lambda: lstm(seq))
    return {"vgg16_forward_s": v, "vgg16_channels_last_s": vcl, "lstm_s": l}


def chainer_peer(threads, runs):
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    import chainer
    import chainer.links as L
    import numpy as np

    vgg = L.VGG16Layers(pretrained_model=None)
    x = np.random.randn(1, 3, 224, 224).astype(np.float32)
    seq = np.random.randn(32, 100, 256).astype(np.float32)

    def peephole():
        lstm.reset_state()
        for t in range(seq.shape[1]):
            lstm(seq[:, t, :])

    lstm = L.StatefulPeepholeLSTM(256, 256)
    with chainer.using_config("train", False), chainer.no_backprop_mode():
        v = median_seconds(runs, lambda: vgg.forward(x, layers=["fc8"]))
        p = median_seconds(runs, peephole)
    return {"vgg16_forward_s": v, "peephole_lstm_s": p}


if __name__ == "__main__":
    which, threads, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    result = torch_peer(threads, runs) if which == "torch" else chainer_peer(threads, runs)
    print(json.dumps(result))

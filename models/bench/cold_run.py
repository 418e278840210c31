"""The peer of `cargo xtask bench cold-run`: one fresh Python process that
loads a zoo `vgg16` package's weights.safetensors into torchvision's VGG16
(PyTorch eager, the .venv's torch), prepares the image as the package says
(resize to 224x224 bicubic, RGB -> BGR, mean pixel subtracted, as Chainer's
prepare()), classifies it and prints the top-5 labels as JSON, which is what
`zoo run vgg16 IMAGE --json` does.

usage: cold_run.py PACKAGE_DIR IMAGE
"""
import json
import os
import sys

import torch
import torchvision
from PIL import Image
from safetensors.torch import load_file

CONVS = ["conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
         "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]
FEATURE_INDEX = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
FCS = [("fc6", 0), ("fc7", 3), ("fc8", 6)]
MEAN_BGR = [103.939, 116.779, 123.68]


def main():
    package, image_path = sys.argv[1], sys.argv[2]
    weights = load_file(os.path.join(package, "weights.safetensors"))
    state = {}
    for name, index in zip(CONVS, FEATURE_INDEX):
        state[f"features.{index}.weight"] = weights[f"{name}/W"]
        state[f"features.{index}.bias"] = weights[f"{name}/b"]
    for name, index in FCS:
        state[f"classifier.{index}.weight"] = weights[f"{name}/W"]
        state[f"classifier.{index}.bias"] = weights[f"{name}/b"]
    model = torchvision.models.vgg16()
    model.load_state_dict(state)
    model.eval()
    image = Image.open(image_path).convert("RGB").resize((224, 224), Image.BICUBIC)
    rgb = torch.frombuffer(bytearray(image.tobytes()), dtype=torch.uint8)
    x = rgb.view(224, 224, 3).permute(2, 0, 1).flip(0).float()
    x = x - torch.tensor(MEAN_BGR).view(3, 1, 1)
    with torch.inference_mode():
        prob = torch.softmax(model(x.unsqueeze(0)), dim=1)[0]
    with open(os.path.join(package, "labels.txt")) as f:
        labels = [line.rstrip("\n") for line in f]
    values, indices = prob.topk(5)
    print(json.dumps({"top": [{"label": labels[i], "probability": float(v)}
                              for v, i in zip(values.tolist(), indices.tolist())]}))


if __name__ == "__main__":
    main()

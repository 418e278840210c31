"""The ONNX import sweep's models (`cargo xtask sweep onnx`): image and
language architectures from torchvision, timm and Hugging Face transformers,
built with seeded random weights (nothing is downloaded but the libraries),
exported by torch 2.11 (the TorchScript-based exporter at opset 17, and for
some the default dynamo exporter), each with ONNX Runtime's answer to a fixed
input.

    sweep.py OUT_DIR [NAME ...]

For each model NAME writes OUT_DIR/NAME.onnx (dynamo exports may add
NAME.onnx.data), OUT_DIR/NAME.npz (`inputs/<input>`, `outputs/<output>`,
a package's golden.npz layout) and its input alone as NAME.input.npy,
skipping models already there, and appends
`NAME<TAB>source<TAB>ok|export failed<TAB>message` lines for this run's
models to OUT_DIR/exports.tsv. An export that fails is the exporter's or the model's
problem, not the importer's: it is listed, not raised.
"""
import os
import sys
import warnings

import numpy as np
import onnxruntime as ort
import torch

warnings.filterwarnings("ignore")

TORCHVISION = [
    "alexnet", "googlenet", "inception_v3", "mnasnet0_5", "mobilenet_v2",
    "mobilenet_v3_large", "regnet_y_400mf", "resnext50_32x4d", "shufflenet_v2_x0_5",
    "efficientnet_v2_s", "convnext_tiny", "swin_t", "swin_v2_t", "vit_b_16", "maxvit_t",
]
TORCHVISION_SEGMENTATION = ["deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large"]
TIMM = [
    "efficientnet_lite0", "tf_efficientnet_b0", "mobilenetv3_large_100", "mobilevitv2_050",
    "levit_128s", "poolformer_s12", "ghostnet_100", "rexnet_100", "hrnet_w18_small", "dla34",
    "cspdarknet53", "convnextv2_atto", "efficientformer_l1", "edgenext_xx_small",
    "coat_lite_tiny", "deit_tiny_patch16_224", "cait_xxs24_224", "xcit_nano_12_p16_224",
    "resnest14d", "regnetx_002", "nfnet_l0", "repvgg_a0", "fastvit_t8", "mixnet_s",
    "tinynet_a", "gcvit_xxtiny", "pvt_v2_b0", "twins_svt_small", "mobileone_s0",
]
# Also through the dynamo exporter (opset 18 and up, weights in a data file).
TIMM_DYNAMO = ["convnextv2_atto", "levit_128s", "hrnet_w18_small", "xcit_nano_12_p16_224",
               "mobilevitv2_050", "fastvit_t8"]
TRANSFORMERS = ["bert", "distilbert", "roberta", "albert", "electra", "deberta_v2",
                "t5_encoder", "gpt2", "bart", "clip_vision", "wav2vec2"]


def transformers_model(name):
    """A small configuration of each architecture and its input."""
    import transformers as T

    tokens = torch.randint(3, 1000, (1, 9), generator=torch.Generator().manual_seed(1))
    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)
    if name == "bert":
        return T.BertForSequenceClassification(T.BertConfig(vocab_size=1000, **small)), tokens
    if name == "distilbert":
        config = T.DistilBertConfig(vocab_size=1000, dim=64, n_layers=2, n_heads=4, hidden_dim=128)
        return T.DistilBertForSequenceClassification(config), tokens
    if name == "roberta":
        return T.RobertaForSequenceClassification(T.RobertaConfig(vocab_size=1000, **small)), tokens
    if name == "albert":
        config = T.AlbertConfig(vocab_size=1000, embedding_size=32, **small)
        return T.AlbertForSequenceClassification(config), tokens
    if name == "electra":
        config = T.ElectraConfig(vocab_size=1000, embedding_size=32, **small)
        return T.ElectraForSequenceClassification(config), tokens
    if name == "deberta_v2":
        return T.DebertaV2ForSequenceClassification(T.DebertaV2Config(vocab_size=1000, **small)), tokens
    if name == "t5_encoder":
        config = T.T5Config(vocab_size=1000, d_model=64, d_kv=16, d_ff=128, num_layers=2, num_heads=4)
        return T.T5EncoderModel(config), tokens
    if name == "gpt2":
        return T.GPT2LMHeadModel(T.GPT2Config(vocab_size=1000, n_embd=64, n_layer=2, n_head=4)), tokens
    if name == "bart":
        config = T.BartConfig(vocab_size=1000, d_model=64, encoder_layers=1, decoder_layers=1,
                              encoder_attention_heads=4, decoder_attention_heads=4,
                              encoder_ffn_dim=128, decoder_ffn_dim=128)
        # The classification head reads the end-of-sequence token (2).
        return T.BartForSequenceClassification(config), torch.tensor([[0, 5, 6, 7, 8, 2]])
    if name == "clip_vision":
        config = T.CLIPVisionConfig(image_size=32, patch_size=8, **small)
        return T.CLIPVisionModel(config), torch.randn(1, 3, 32, 32)
    if name == "wav2vec2":
        config = T.Wav2Vec2Config(conv_dim=(32, 32), conv_stride=(5, 2), conv_kernel=(10, 3),
                                  num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, **small)
        return T.Wav2Vec2Model(config), torch.randn(1, 4000)
    raise ValueError(name)


class FirstOutput(torch.nn.Module):
    """A model answering one tensor: a dict's "out", a tuple's first."""

    def __init__(self, inner, keyword=False):
        super().__init__()
        self.inner = inner
        self.keyword = keyword

    def forward(self, x):
        y = self.inner(x, return_dict=False) if self.keyword else self.inner(x)
        if isinstance(y, dict):
            return y["out"]
        return y[0] if isinstance(y, (tuple, list)) else y


def build(name):
    """(source, model, input, dynamo) for a sweep name."""
    import torchvision

    torch.manual_seed(0)
    if name.startswith("tv_"):
        arch = name[3:]
        if arch in TORCHVISION_SEGMENTATION:
            model = getattr(torchvision.models.segmentation, arch)(weights=None, weights_backbone=None)
        else:
            extra = {"aux_logits": False, "init_weights": True} if arch in ("googlenet", "inception_v3") else {}
            model = getattr(torchvision.models, arch)(weights=None, **extra)
        if arch == "vit_b_16":
            # torchvision starts the head at zero, which would answer zeros.
            with torch.no_grad():
                model.heads.head.weight.normal_(0, 0.02)
        size = 299 if arch == "inception_v3" else 224
        return "torchvision", FirstOutput(model), torch.randn(1, 3, size, size), False
    if name.startswith("timm_"):
        import timm

        dynamo = name.endswith("_dynamo")
        arch = name[5:-7] if dynamo else name[5:]
        model = timm.create_model(arch, pretrained=False, num_classes=10)
        size = tuple(min(s, 224) for s in model.pretrained_cfg.get("input_size", (3, 224, 224))[1:])
        return "timm", FirstOutput(model), torch.randn(1, 3, *size), dynamo
    if name.startswith("hf_"):
        dynamo = name.endswith("_dynamo")
        arch = name[3:-7] if dynamo else name[3:]
        model, x = transformers_model(arch)
        model.config.return_dict = False
        if hasattr(model.config, "use_cache"):
            model.config.use_cache = False
        return "transformers", FirstOutput(model, keyword=True), x, dynamo
    raise ValueError(f"unknown sweep model {name}")


def names():
    return ([f"tv_{n}" for n in TORCHVISION + TORCHVISION_SEGMENTATION]
            + [f"timm_{n}" for n in TIMM] + [f"timm_{n}_dynamo" for n in TIMM_DYNAMO]
            + [f"hf_{n}" for n in TRANSFORMERS] + [f"hf_{n}_dynamo" for n in TRANSFORMERS])


def source_of(name):
    return {"tv": "torchvision", "timm": "timm", "hf": "transformers"}[name.split("_")[0]]


def export(out_dir, name, log):
    path = os.path.join(out_dir, name + ".onnx")
    golden = os.path.join(out_dir, name + ".npz")
    given = os.path.join(out_dir, name + ".input.npy")
    if os.path.exists(path) and os.path.exists(golden) and os.path.exists(given):
        log.write(f"{name}\t{source_of(name)}\tok\t\n")
        return
    try:
        _, model, x, dynamo = build(name)
        model.eval()
        if dynamo:
            torch.onnx.export(model, (x,), path, dynamo=True, input_names=["x"], output_names=["y"])
        else:
            torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17,
                              input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "N"}})
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        y = session.run(None, {"x": x.numpy()})[0]
        np.savez(golden, **{"inputs/x": x.numpy(), "outputs/y": y})
        # The same input for `zoo import onnx --golden-input x=…` (BART's
        # head needs a real end-of-sequence token).
        np.save(os.path.join(out_dir, name + ".input.npy"), x.numpy())
        log.write(f"{name}\t{source_of(name)}\tok\t\n")
        print(f"{name}: exported", flush=True)
    except Exception as e:  # the exporter's or the model's failure: listed
        message = " ".join(str(e).split())[:300]
        for leftover in (path, path + ".data", golden, given):
            if os.path.exists(leftover):
                os.remove(leftover)
        log.write(f"{name}\t{source_of(name)}\texport failed\t{message}\n")
        print(f"{name}: export failed: {message}", flush=True)


def main():
    out_dir = sys.argv[1]
    wanted = sys.argv[2:] or names()
    unknown = [n for n in wanted if n not in names()]
    if unknown:
        raise SystemExit(f"unknown sweep models: {', '.join(unknown)}")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "exports.tsv"), "w") as log:
        for name in wanted:
            export(out_dir, name, log)
            log.flush()


if __name__ == "__main__":
    main()

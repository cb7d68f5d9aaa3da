#!/usr/bin/python3
"""Writes a ViT-B/16 MAE (random weights, the paper's 512-wide 8-block decoder) as
Hugging Face folders with pytorch_model.bin and with model.safetensors, and as FAIR's
.pth, for `vitscope-cli bench load` (docs/performance.md); with `clip`, also a ViT-B/32
CLIP (random weights, open_clip's ViT-B-32 shapes: a 768-wide 12-block image tower, a
512-wide 12-block text tower, 49,408 tokens, 77 positions) as an open_clip folder, for the
app at real size (`vitscope --bench-ui MAE CLIP`); with `openai`, also a CLIP in OpenAI's
release format (a TorchScript archive with float16 weights, as ViT-B-32.pt), 224-pixel
images in 32-pixel patches, 12 blocks of width 768 per tower (OpenAI's model has one width
per tower; the test model's one width is the image tower's), 49,408 tokens, 77 positions.
Not committed: ~450 MB, ~600 MB and ~420 MB.

    /usr/bin/python3 tests/bench/make_load_models.py OUT_DIR [clip] [openai]
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "checkpoints"))
from make_fixtures import FairMae, TinyClip, fair_to_hf, save_safetensors, to_fp16_like_openai  # noqa: E402


def clip_b32(out):
    """open_clip's ViT-B-32 in open_clip's folder layout. TinyClip (OpenAI's names) has one
    width for both towers, so the image tower comes from a 768-wide one and the rest from a
    512-wide one. The tokenizer files are the bundled CLIP's (670 tokens, all below 49,408)."""
    torch.manual_seed(1)
    common = dict(quick=False, vocab=49408, context=77, layers=12, img=224, patch=32, embed=512)
    vision = TinyClip(width=768, **common).state_dict()
    text = TinyClip(width=512, **common).state_dict()
    sd = {k: (vision if k.startswith("visual.") else text)[k] for k in text}
    folder = os.path.join(out, "vit-b32-clip-open_clip")
    os.makedirs(folder, exist_ok=True)
    save_safetensors(os.path.join(folder, "open_clip_model.safetensors"), sd)
    cfg = {"model_cfg": {"embed_dim": 512, "quick_gelu": False,
                         "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 32},
                         "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8,
                                      "layers": 12}},
           "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                              "std": [0.26862954, 0.26130258, 0.27577711]}}
    with open(os.path.join(folder, "open_clip_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    copy_tokenizer(folder)


def copy_tokenizer(folder):
    tok = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "resources", "models", "fmnist-clip")
    for name in ("vocab.json", "merges.txt"):
        with open(os.path.join(tok, name), "rb") as src, open(os.path.join(folder, name), "wb") as dst:
            dst.write(src.read())


def openai_b32(out):
    """A real-size CLIP in OpenAI's .pt format: scripted, float16 weights (OpenAI's convert_weights),
    in a folder with the bundled CLIP's tokenizer files beside it."""
    torch.manual_seed(3)
    model = TinyClip(quick=True, vocab=49408, context=77, width=768, layers=12, img=224, patch=32, embed=512).eval()
    to_fp16_like_openai(model)
    folder = os.path.join(out, "vit-b32-clip-openai")
    os.makedirs(folder, exist_ok=True)
    torch.jit.script(model).save(os.path.join(folder, "ViT-B-32.pt"))
    copy_tokenizer(folder)


def main():
    out = sys.argv[1]
    if "clip" in sys.argv[2:]:
        clip_b32(out)
    if "openai" in sys.argv[2:]:
        openai_b32(out)
    torch.manual_seed(0)
    model = FairMae(img=224, patch=16, chans=3, dim=768, depth=12, heads=12, ddim=512, ddepth=8, dheads=16)
    sd = model.state_dict()
    torch.save({"model": sd}, os.path.join(out, "mae_visualize_vit_base_random.pth"))
    hf = fair_to_hf(sd)
    config = {"model_type": "vit_mae", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
              "intermediate_size": 3072, "hidden_act": "gelu", "layer_norm_eps": 1e-6, "image_size": 224,
              "patch_size": 16, "num_channels": 3, "qkv_bias": True, "decoder_hidden_size": 512,
              "decoder_num_hidden_layers": 8, "decoder_num_attention_heads": 16, "decoder_intermediate_size": 2048,
              "mask_ratio": 0.75, "norm_pix_loss": False}
    for kind in ("bin", "safetensors"):
        d = os.path.join(out, "vit-b16-mae-" + kind)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f)
        if kind == "bin":
            torch.save(hf, os.path.join(d, "pytorch_model.bin"))
        else:
            save_safetensors(os.path.join(d, "model.safetensors"), hf, {"format": "pt"})
    print("written to", out)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes a ViT-B/16 MAE (random weights, the paper's 512-wide 8-block decoder) as
Hugging Face folders with pytorch_model.bin and with model.safetensors, and as FAIR's
.pth, for `vitscope-cli bench load` (docs/performance.md). Not committed: ~450 MB each.

    /usr/bin/python3 tests/bench/make_load_models.py OUT_DIR
"""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "checkpoints"))
from make_fixtures import FairMae, fair_to_hf, save_safetensors  # noqa: E402


def main():
    out = sys.argv[1]
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

#!/usr/bin/env python3
"""PyTorch's side of tests/gpu/check.sh: the same three workloads as vitscope-cli's
benchmarks, on the same card, same shapes, same batch, bf16, timed the same way (median of
repeated steps after a warmup, the device synchronised around each timed call).

  mae-train   ViT-B/16 MAE pretraining step (75% masking, decoder 512 x 8, AdamW), bf16
              autocast of the forward pass, float32 weights: images/s
  clip-image  CLIP ViT-B/32 image embedding, bf16 weights: images/s
  clip-text   CLIP ViT-B/32 text embedding of prompts of a fixed token count, bf16 weights:
              prompts/s

transformers' ViTMAEForPreTraining and CLIPModel (random weights from their default
configs, which are ViT-B/16 MAE and ViT-B/32 CLIP, SDPA attention) when transformers is
installed; otherwise a plain PyTorch implementation written below with the same shapes
(pre-LN blocks, F.scaled_dot_product_attention). One JSON object per workload on stdout.

--compile default|max-autotune runs the workload through torch.compile (the model for the
training step, the embedding function for inference); the compilation happens in the first
warm-up call, whose time is reported as compile_s, and --warmup counts the calls after it.
Each JSON object also names the CUDA libraries this process mapped (cuBLAS, cuDNN, cudart,
NCCL), to hold against `ldd vitscope-cli`.

Usage: pytorch_bench.py [--device cuda] [--mae-batch 128] [--clip-batch 512] [--text-batch 1024]
                        [--tokens 16] [--steps 10] [--warmup 3] [--only mae-train,clip-image,clip-text]
                        [--compile none|default|max-autotune]
                        [--small]   (tiny shapes: checks the script itself on a CPU)
"""
import os
import re
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import transformers  # noqa: F401
    HAVE_TRANSFORMERS = True
except Exception:  # missing, or broken against this torch
    HAVE_TRANSFORMERS = False


COMPILE_SECONDS = None


def timed(fn, warmup, repeats, device, compiled=False):
    """Seconds per call: `warmup` untimed calls, then `repeats` timed ones. A compiled
    function first gets one more call, timed apart: the compilation."""
    global COMPILE_SECONDS
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    if compiled:
        start = time.perf_counter()
        fn()
        sync()
        COMPILE_SECONDS = time.perf_counter() - start
    for _ in range(warmup):
        fn()
    sync()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        seconds.append(time.perf_counter() - start)
    return seconds


# ---- plain PyTorch models (used when transformers is missing) -------------------------

class Block(nn.Module):
    """Pre-LN transformer block: x + attn(ln1(x)), then x + mlp(ln2(x))."""

    def __init__(self, dim, heads, mlp, act, eps):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.ln2 = nn.LayerNorm(dim, eps=eps)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)
        self.act = act

    def forward(self, x, causal=False):
        b, n, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        a = attention(q, k, v, causal)
        x = x + self.proj(a.transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(self.act(self.fc1(self.ln2(x))))


def attention(q, k, v, causal):
    if hasattr(F, "scaled_dot_product_attention"):  # PyTorch 2.x: the fused kernels
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # 1.x (a CPU check of this script)
    if causal:
        n = s.shape[-1]
        s = s.masked_fill(torch.ones(n, n, dtype=torch.bool, device=s.device).triu(1), float("-inf"))
    return s.softmax(-1) @ v


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class PlainMae(nn.Module):
    """MAE (He et al. 2021): the encoder sees the visible 25% only, mask tokens join in the
    decoder, the loss is the MSE on the removed patches."""

    def __init__(self, image=224, patch=16, dim=768, depth=12, heads=12, ddim=512, ddepth=8, dheads=16,
                 ratio=0.75):
        super().__init__()
        self.patch, self.ratio = patch, ratio
        n = (image // patch) ** 2
        self.embed = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02, requires_grad=False)
        self.blocks = nn.ModuleList([Block(dim, heads, 4 * dim, F.gelu, 1e-6) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.dembed = nn.Linear(dim, ddim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, ddim))
        self.dpos = nn.Parameter(torch.randn(1, n + 1, ddim) * 0.02, requires_grad=False)
        self.dblocks = nn.ModuleList([Block(ddim, dheads, 4 * ddim, F.gelu, 1e-6) for _ in range(ddepth)])
        self.dnorm = nn.LayerNorm(ddim, eps=1e-6)
        self.pred = nn.Linear(ddim, patch * patch * 3)

    def forward(self, imgs):
        b = imgs.shape[0]
        x = self.embed(imgs).flatten(2).transpose(1, 2) + self.pos[:, 1:]
        n, d = x.shape[1], x.shape[2]
        keep = int(n * (1 - self.ratio))
        shuffle = torch.rand(b, n, device=imgs.device).argsort(1)
        restore = shuffle.argsort(1)
        x = x.gather(1, shuffle[:, :keep, None].expand(-1, -1, d))
        x = torch.cat([(self.cls + self.pos[:, :1]).expand(b, -1, -1), x], 1)
        for blk in self.blocks:
            x = blk(x)
        x = self.dembed(self.norm(x))
        dd = x.shape[2]
        y = torch.cat([x[:, 1:], self.mask_token.expand(b, n - keep, -1)], 1)
        y = y.gather(1, restore[:, :, None].expand(-1, -1, dd))
        y = torch.cat([x[:, :1], y], 1) + self.dpos
        for blk in self.dblocks:
            y = blk(y)
        pred = self.pred(self.dnorm(y))[:, 1:]
        p = self.patch
        target = imgs.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 4, 5, 1).reshape(b, n, -1)
        mask = torch.ones(b, n, device=imgs.device)
        mask[:, :keep] = 0
        mask = mask.gather(1, restore)
        return (((pred.float() - target) ** 2).mean(-1) * mask).sum() / mask.sum()


class PlainClip(nn.Module):
    """CLIP ViT-B/32 towers (Radford et al. 2021): class-token pooling for images, the end
    token for text, linear projections without bias, quick GELU."""

    def __init__(self, image=224, patch=32, vdim=768, vdepth=12, vheads=12, tdim=512, tdepth=12, theads=8,
                 vocab=49408, context=77, proj=512):
        super().__init__()
        n = (image // patch) ** 2
        self.embed = nn.Conv2d(3, vdim, patch, patch, bias=False)
        self.cls = nn.Parameter(torch.randn(1, 1, vdim) * 0.02)
        self.vpos = nn.Parameter(torch.randn(1, n + 1, vdim) * 0.02)
        self.pre = nn.LayerNorm(vdim, eps=1e-5)
        self.vblocks = nn.ModuleList([Block(vdim, vheads, 4 * vdim, quick_gelu, 1e-5) for _ in range(vdepth)])
        self.post = nn.LayerNorm(vdim, eps=1e-5)
        self.vproj = nn.Linear(vdim, proj, bias=False)
        self.tok = nn.Embedding(vocab, tdim)
        self.tpos = nn.Parameter(torch.randn(1, context, tdim) * 0.01)
        self.tblocks = nn.ModuleList([Block(tdim, theads, 4 * tdim, quick_gelu, 1e-5) for _ in range(tdepth)])
        self.tnorm = nn.LayerNorm(tdim, eps=1e-5)
        self.tproj = nn.Linear(tdim, proj, bias=False)

    def get_image_features(self, pixel_values):
        x = self.embed(pixel_values).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1).to(x.dtype), x], 1) + self.vpos
        x = self.pre(x)
        for blk in self.vblocks:
            x = blk(x)
        return self.vproj(self.post(x[:, 0]))

    def get_text_features(self, input_ids):
        x = self.tok(input_ids) + self.tpos[:, : input_ids.shape[1]]
        for blk in self.tblocks:
            x = blk(x, causal=True)
        x = self.tnorm(x)
        eos = input_ids.argmax(-1)  # the end token has the largest id
        return self.tproj(x[torch.arange(x.shape[0], device=x.device), eos])


# ---- the workloads -------------------------------------------------------------------

def prefer_sdpa(cfg):
    """Asks transformers for its SDPA attention (the default in recent versions)."""
    try:
        cfg._attn_implementation = "sdpa"
    except Exception:  # older transformers: one implementation only
        pass


def attn_of(model):
    return getattr(model.config, "_attn_implementation", None) or "default"


def mae_model(small):
    if HAVE_TRANSFORMERS:
        from transformers import ViTMAEConfig, ViTMAEForPreTraining
        shape = dict(mask_ratio=0.75)  # the defaults are ViT-B/16 with the paper's decoder
        if small:
            shape.update(image_size=32, patch_size=8, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                         intermediate_size=256, decoder_hidden_size=64, decoder_num_hidden_layers=1,
                         decoder_num_attention_heads=4, decoder_intermediate_size=256)
        cfg = ViTMAEConfig(**shape)
        prefer_sdpa(cfg)
        model = ViTMAEForPreTraining(cfg)
        return (model, cfg.image_size, lambda m, x: m(pixel_values=x).loss,
                f"transformers ViTMAEForPreTraining ({attn_of(model)} attention)")
    if small:
        model = PlainMae(image=32, patch=8, dim=64, depth=2, heads=4, ddim=64, ddepth=1, dheads=4)
        return model, 32, lambda m, x: m(x), "plain PyTorch MAE (transformers missing)"
    return PlainMae(), 224, lambda m, x: m(x), "plain PyTorch MAE (transformers missing)"


def clip_model(small):
    if HAVE_TRANSFORMERS:
        from transformers import CLIPConfig, CLIPModel
        if small:
            cfg = CLIPConfig(text_config=dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                                              num_attention_heads=4),
                             vision_config=dict(image_size=32, patch_size=8, hidden_size=64, intermediate_size=256,
                                                num_hidden_layers=2, num_attention_heads=4),
                             projection_dim=64)
        else:
            cfg = CLIPConfig()  # ViT-B/32, the text tower 512 x 12
        prefer_sdpa(cfg)
        model = CLIPModel(cfg)
        return (model, cfg.vision_config.image_size, cfg.text_config.vocab_size,
                f"transformers CLIPModel ({attn_of(model)} attention)")
    if small:
        return (PlainClip(image=32, patch=8, vdim=64, vdepth=2, vheads=4, tdim=64, tdepth=2, theads=4, proj=64), 32,
                49408, "plain PyTorch CLIP (transformers missing)")
    return PlainClip(), 224, 49408, "plain PyTorch CLIP (transformers missing)"


def compiled(fn, mode):
    """torch.compile(fn) in `mode`, or fn itself for mode "none"."""
    if mode == "none":
        return fn
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"torch.compile is not in PyTorch {torch.__version__}")
    return torch.compile(fn, mode=mode)


def cuda_libraries():
    """The CUDA libraries this process has mapped, by file name."""
    names = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if re.search(r"lib(cublas|cublasLt|cudnn[a-z_]*|cudart|nccl|nvrtc)\.so", os.path.basename(path)):
                    names.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(names)


def features(out):
    # transformers 5 may return an output object rather than a tensor
    return out if torch.is_tensor(out) else out.pooler_output


def bench_mae(args, device):
    torch.manual_seed(0)
    model, size, loss_of, impl = mae_model(args.small)
    model.to(device).train()
    batch = args.mae_batch
    opt = torch.optim.AdamW(model.parameters(), lr=1.5e-4 * batch / 256, betas=(0.9, 0.95), weight_decay=0.05)
    imgs = torch.randn(batch, 3, size, size, device=device)
    forward = compiled(lambda x: loss_of(model, x), args.compile)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            loss = forward(imgs)
        loss.float().backward()
        opt.step()

    s = timed(step, args.warmup, args.steps, device, args.compile != "none")
    med = statistics.median(s)
    return {"bench": "mae-train", "implementation": impl, "batch": batch, "image_size": size,
            "precision": "bf16 autocast, float32 weights", "step_s": s, "step_s_median": med,
            "images_per_s": batch / med}


def bench_clip(args, device):
    torch.manual_seed(0)
    model, size, vocab, impl = clip_model(args.small)
    model.to(device=device, dtype=torch.bfloat16).eval()
    out = []
    pixels = torch.randn(args.clip_batch, 3, size, size, device=device, dtype=torch.bfloat16)
    # Prompts of `tokens` ids: a start id, words, the end id (the largest id, as in CLIP).
    ids = torch.randint(400, vocab - 2, (args.text_batch, args.tokens), device=device)
    ids[:, 0] = vocab - 2
    ids[:, -1] = vocab - 1
    image = compiled(lambda x: features(model.get_image_features(pixel_values=x)), args.compile)
    text = compiled(lambda t: features(model.get_text_features(input_ids=t)), args.compile)
    with torch.inference_mode():
        if "clip-image" in args.only:
            s = timed(lambda: image(pixels), args.warmup, args.steps, device, args.compile != "none")
            med = statistics.median(s)
            out.append({"bench": "clip-image", "implementation": impl, "batch": args.clip_batch, "image_size": size,
                        "precision": "bf16 weights", "batch_s": s, "batch_s_median": med,
                        "images_per_s": args.clip_batch / med})
        if "clip-text" in args.only:
            s = timed(lambda: text(ids), args.warmup, args.steps, device, args.compile != "none")
            med = statistics.median(s)
            out.append({"bench": "clip-text", "implementation": impl, "batch": args.text_batch,
                        "tokens": args.tokens, "precision": "bf16 weights", "batch_s": s, "batch_s_median": med,
                        "prompts_per_s": args.text_batch / med})
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--mae-batch", type=int, default=128)
    p.add_argument("--clip-batch", type=int, default=512)
    p.add_argument("--text-batch", type=int, default=1024)
    p.add_argument("--tokens", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--only", default="mae-train,clip-image,clip-text")
    p.add_argument("--compile", default="none", choices=["none", "default", "max-autotune"])
    p.add_argument("--small", action="store_true", help="tiny shapes, to check the script on a CPU")
    args = p.parse_args()
    args.only = set(args.only.split(","))
    device = torch.device(args.device)
    info = {"torch": torch.__version__, "cuda": torch.version.cuda,
            "transformers": transformers.__version__ if HAVE_TRANSFORMERS else None,
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"}
    results = []
    failed = False
    if "mae-train" in args.only:
        try:
            results.append(bench_mae(args, device))
        except Exception as e:  # reported in the table, not a traceback
            results.append({"bench": "mae-train", "error": f"{type(e).__name__}: {e}"})
            failed = True
        if device.type == "cuda":
            torch.cuda.empty_cache()
    if args.only & {"clip-image", "clip-text"}:
        try:
            results += bench_clip(args, device)
        except Exception as e:
            results += [{"bench": b, "error": f"{type(e).__name__}: {e}"}
                        for b in ("clip-image", "clip-text") if b in args.only]
            failed = True
    info["compile"] = args.compile
    info["warmup"], info["samples"] = args.warmup, args.steps
    info["libraries"] = cuda_libraries()
    for r in results:
        r.update(info)
        if COMPILE_SECONDS is not None:
            r["compile_s"] = COMPILE_SECONDS
        print(json.dumps(r))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

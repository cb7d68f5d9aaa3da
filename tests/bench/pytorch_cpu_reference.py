#!/usr/bin/env python3
"""PyTorch eager's side of tests/bench/cpu_vs_pytorch.sh: the workloads of issue 18 written
the way the papers' own code writes them, random weights, on the CPU, timed as
vitscope-cli's `bench` commands time theirs (median of repeated calls after a warmup).

  mae-train   one MAE pretraining step (forward, backward, AdamW) as FAIR's models_mae.py
              builds it: timm-style blocks (one qkv product), random masking by argsort
              of uniform noise, MSE on the removed patches; torch.optim.AdamW with
              FAIR's parameter groups (no decay on biases and norms), betas (0.9, 0.95).
              Presets `fmnist` and `vit-b16`, the shapes of vitscope's MaeConfig presets.
  clip-image  CLIP ViT-B/32 image embedding as OpenAI's model.py (nn.MultiheadAttention,
              QuickGELU, class-token pooling, projection), under torch.no_grad().
  clip-text   the B/32 text tower on ONE prompt of N tokens at its true length (the
              causal mask and positions cut to N), as OpenAI's encode_text minus padding.

Each line of output is one JSON object. Threads: --threads 1,2 measures each setting
(torch.set_num_threads); cpu_vs_pytorch.sh keeps the best, as a user would. --modes
eager,jit adds, for the two inference workloads, the path PyTorch documents for CPU
inference: torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model)))
(linears and convolutions moved to oneDNN). Every row names the OpenBLAS core that ran
(openblas_get_corename) and carries `check`, a few output values on fixed inputs, so that
the report counts a setting only where its results agree with the others.
Written for this project from the papers' definitions; no code is taken from elsewhere.
"""
import argparse
import ctypes
import json
import os
import math
import platform
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def timed(fn, warmup, repeats):
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def openblas():
    """The loaded OpenBLAS's core type ("Haswell", "SkylakeX"...) and its own thread count
    (which torch.set_num_threads does not change); ("", 0) without OpenBLAS."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libopenblas" in line and "/" in line}
    except OSError:
        return "", 0
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            lib.openblas_get_corename.restype = ctypes.c_char_p
            return lib.openblas_get_corename().decode(), int(lib.openblas_get_num_threads())
        except (OSError, AttributeError):
            continue
    return "", 0


def inference(model, example, mode):
    """The model as it runs: eager, or traced, frozen and optimised for inference."""
    if mode == "eager":
        return model
    with torch.no_grad():
        return torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.trace(model, example)))


def check_values(t):
    flat = t.detach().reshape(-1).float()
    return [round(float(x), 6) for x in flat[:6]] + [round(float(flat.norm()), 5)]


# ---- MAE, as FAIR's models_mae.py --------------------------------------------------------

class TimmBlock(nn.Module):
    def __init__(self, dim, heads, mlp):
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.fc1 = nn.Linear(dim, mlp)
        self.fc2 = nn.Linear(mlp, dim)

    def forward(self, x):
        b, n, d = x.shape
        qkv = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // self.heads))
        x = x + self.proj((attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


MAE_PRESETS = {
    # image, patch, channels, dim, depth, heads, mlp, decoder dim, depth, heads, mlp
    "fmnist": (32, 4, 1, 128, 6, 4, 512, 64, 2, 4, 256),
    "vit-b16": (224, 16, 3, 768, 12, 12, 3072, 512, 8, 16, 2048),
}


class FairMae(nn.Module):
    def __init__(self, preset, ratio):
        super().__init__()
        img, p, c, d, depth, heads, mlp, dd, ddepth, dheads, dmlp = MAE_PRESETS[preset]
        self.p, self.c, self.ratio = p, c, ratio
        n = (img // p) ** 2
        self.patch_embed = nn.Conv2d(c, d, p, p)
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, n + 1, d) * 0.02, requires_grad=False)
        self.blocks = nn.ModuleList([TimmBlock(d, heads, mlp) for _ in range(depth)])
        self.norm = nn.LayerNorm(d, eps=1e-6)
        self.decoder_embed = nn.Linear(d, dd)
        self.mask_token = nn.Parameter(torch.randn(1, 1, dd) * 0.02)
        self.decoder_pos_embed = nn.Parameter(torch.randn(1, n + 1, dd) * 0.02, requires_grad=False)
        self.decoder_blocks = nn.ModuleList([TimmBlock(dd, dheads, dmlp) for _ in range(ddepth)])
        self.decoder_norm = nn.LayerNorm(dd, eps=1e-6)
        self.decoder_pred = nn.Linear(dd, p * p * c)

    def patchify(self, imgs):
        b, c, h, w = imgs.shape
        p = self.p
        x = imgs.reshape(b, c, h // p, p, w // p, p)
        return torch.einsum("nchpwq->nhwpqc", x).reshape(b, (h // p) * (w // p), p * p * c)

    def forward(self, imgs):
        x = self.patch_embed(imgs).flatten(2).transpose(1, 2) + self.pos_embed[:, 1:]
        b, n, d = x.shape
        keep = int(n * (1 - self.ratio))
        noise = torch.rand(b, n)
        shuffle = noise.argsort(1)
        restore = shuffle.argsort(1)
        x = x.gather(1, shuffle[:, :keep, None].expand(-1, -1, d))
        mask = torch.ones(b, n)
        mask[:, :keep] = 0
        mask = mask.gather(1, restore)
        x = torch.cat([(self.cls_token + self.pos_embed[:, :1]).expand(b, -1, -1), x], 1)
        for blk in self.blocks:
            x = blk(x)
        x = self.decoder_embed(self.norm(x))
        y = torch.cat([x[:, 1:], self.mask_token.repeat(b, n - keep, 1)], 1)
        y = y.gather(1, restore[:, :, None].expand(-1, -1, x.shape[2]))
        y = torch.cat([x[:, :1], y], 1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            y = blk(y)
        pred = self.decoder_pred(self.decoder_norm(y))[:, 1:]
        loss = ((pred - self.patchify(imgs)) ** 2).mean(-1)
        return (loss * mask).sum() / mask.sum()


def fair_param_groups(model, wd):
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        (no_decay if p.ndim <= 1 or name.endswith(".bias") or name in ("cls_token", "mask_token") else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": wd}]


def bench_mae(preset, batch, ratio, steps, warmup):
    torch.manual_seed(0)
    model = FairMae(preset, ratio).train()
    opt = torch.optim.AdamW(fair_param_groups(model, 0.05), lr=1.5e-4 * batch / 256, betas=(0.9, 0.95))
    img = MAE_PRESETS[preset][0]
    imgs = torch.randn(batch, MAE_PRESETS[preset][2], img, img)

    def step():
        opt.zero_grad(set_to_none=True)
        model(imgs).backward()
        opt.step()

    torch.manual_seed(1)
    with torch.no_grad():
        check = [round(float(model(imgs)), 6)]  # the loss on fixed weights, noise and images
    s = timed(step, warmup, steps)
    return {"bench": "mae-train", "preset": preset, "batch": batch, "mask_ratio": ratio, "check": check, "step_s": s,
            "step_s_median": statistics.median(s), "images_per_s": batch / statistics.median(s),
            "implementation": "FAIR models_mae.py structure, torch.optim.AdamW"}


# ---- CLIP, as OpenAI's model.py -----------------------------------------------------------

class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, mask=None):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, width * 4), QuickGELU(), nn.Linear(width * 4, width))
        self.ln_2 = nn.LayerNorm(width)
        self.mask = mask

    def forward(self, x):  # x: (L, N, D), sequence first, as OpenAI's code
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=self.mask)[0]
        return x + self.mlp(self.ln_2(x))


class VisionTower(nn.Module):
    def __init__(self, size=224, patch=32, width=768, layers=12, heads=12, out=512):
        super().__init__()
        self.conv1 = nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(width) * width ** -0.5)
        self.positional_embedding = nn.Parameter(torch.randn((size // patch) ** 2 + 1, width) * width ** -0.5)
        self.ln_pre = nn.LayerNorm(width)
        self.blocks = nn.Sequential(*[ResidualAttentionBlock(width, heads) for _ in range(layers)])
        self.ln_post = nn.LayerNorm(width)
        self.proj = nn.Parameter(torch.randn(width, out) * width ** -0.5)

    def forward(self, x):
        x = self.conv1(x).reshape(x.shape[0], self.conv1.out_channels, -1).permute(0, 2, 1)
        cls = self.class_embedding + torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype)
        x = self.ln_pre(torch.cat([cls, x], 1) + self.positional_embedding)
        x = self.blocks(x.permute(1, 0, 2)).permute(1, 0, 2)
        return self.ln_post(x[:, 0, :]) @ self.proj


class TextTower(nn.Module):
    def __init__(self, tokens, vocab=49408, context=77, width=512, layers=12, heads=8, out=512):
        super().__init__()
        self.token_embedding = nn.Embedding(vocab, width)
        self.positional_embedding = nn.Parameter(torch.randn(context, width) * 0.01)
        mask = torch.full((tokens, tokens), float("-inf")).triu_(1)  # the true length's causal mask
        self.blocks = nn.Sequential(*[ResidualAttentionBlock(width, heads, mask) for _ in range(layers)])
        self.ln_final = nn.LayerNorm(width)
        self.text_projection = nn.Parameter(torch.randn(width, out) * width ** -0.5)

    def forward(self, ids):
        x = self.token_embedding(ids) + self.positional_embedding[: ids.shape[1]]
        x = self.ln_final(self.blocks(x.permute(1, 0, 2)).permute(1, 0, 2))
        return x[torch.arange(x.shape[0]), ids.argmax(-1)] @ self.text_projection


IMPLEMENTATION = {"eager": "OpenAI model.py structure, no_grad",
                  "jit": "OpenAI model.py structure, traced, frozen, optimize_for_inference"}


def bench_clip_image(batch, repeats, warmup, mode="eager", bf16=False):
    """bf16: the whole tower in bfloat16 (model.bfloat16()), the peer of vitscope's bf16-image."""
    torch.manual_seed(0)
    model = VisionTower().eval()
    pixels = torch.randn(batch, 3, 224, 224)
    if bf16:
        model, pixels = model.bfloat16(), pixels.bfloat16()
    run = inference(model, pixels, mode)
    with torch.no_grad():
        check = check_values(run(pixels))
        s = timed(lambda: run(pixels), warmup, repeats)
    return {"bench": "clip-image", "mode": mode, "batch": batch, "check": check, "batch_s": s,
            "batch_s_median": statistics.median(s), "images_per_s": batch / statistics.median(s),
            "precision": "bf16" if bf16 else "float32",
            "implementation": IMPLEMENTATION[mode] + (", model.bfloat16()" if bf16 else "")}


def bench_clip_text(tokens, repeats, warmup, mode="eager", bf16=False):
    """bf16: the whole tower in bfloat16 (model.bfloat16(): weights and activations), PyTorch's
    own way to halve the bytes a prompt reads; the peer of vitscope's bf16-text."""
    torch.manual_seed(0)
    model = TextTower(tokens).eval()
    if bf16:
        model = model.bfloat16()
        for b in model.blocks:
            b.mask = b.mask.bfloat16()
    ids = torch.randint(400, 49000, (1, tokens))
    ids[0, 0], ids[0, -1] = 49406, 49407
    run = inference(model, ids, mode)
    with torch.no_grad():
        check = check_values(run(ids))
        s = timed(lambda: run(ids), warmup, repeats)
    weights = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if "token_embedding" not in n)
    weights += tokens * model.token_embedding.weight.shape[1] * model.token_embedding.weight.element_size()
    return {"bench": "clip-text", "mode": mode, "prompt_tokens": tokens, "check": check, "ms": [x * 1e3 for x in s],
            "true_length_ms_median": statistics.median(s) * 1e3, "precision": "bf16" if bf16 else "float32",
            "weight_bytes_read": weights,
            "implementation": IMPLEMENTATION[mode] + (", model.bfloat16()" if bf16 else "") + ", at the true length"}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="mae-fmnist,mae-vit-b16,clip-image,clip-text")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--mae-batch", type=int, default=256)
    p.add_argument("--mae-b16-batch", type=int, default=8)
    p.add_argument("--clip-batch", type=int, default=8)
    p.add_argument("--tokens", type=int, default=8)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--modes", default="eager,jit", help="eager, and jit for the inference workloads")
    p.add_argument("--setting", default="", help="the OpenBLAS setting's name in cpu_vs_pytorch.sh")
    a = p.parse_args()
    only = set(a.only.split(","))
    modes = a.modes.split(",")
    core, blas_threads = openblas()
    info = {"torch": torch.__version__, "python": platform.python_version(), "openblas_core": core,
            "openblas_threads": blas_threads,
            "openblas_coretype_setting": os.environ.get("OPENBLAS_CORETYPE", "detected"),
            "openblas_l2_size_setting": os.environ.get("OPENBLAS_L2_SIZE", ""),
            "setting": a.setting or os.environ.get("OPENBLAS_CORETYPE", "detected")}
    for threads in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(threads)
        rows = []
        if "mae-fmnist" in only:
            rows.append(bench_mae("fmnist", a.mae_batch, 0.75, a.steps, a.warmup))
        if "mae-vit-b16" in only:
            rows.append(bench_mae("vit-b16", a.mae_b16_batch, 0.75, 3, 1))  # 3 steps: ~15 s each here
        for mode in modes:
            if "clip-image" in only:
                rows.append(bench_clip_image(a.clip_batch, a.steps, a.warmup, mode))
            if "clip-text" in only:
                rows.append(bench_clip_text(a.tokens, 30, 5, mode))
            if "clip-image-bf16" in only:
                rows.append(bench_clip_image(a.clip_batch, a.steps, a.warmup, mode, bf16=True))
            if "clip-text-bf16" in only:
                rows.append(bench_clip_text(a.tokens, 30, 5, mode, bf16=True))
        for r in rows:
            r.update(info, threads=threads, side="pytorch")
            print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

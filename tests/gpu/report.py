#!/usr/bin/env python3
"""Prints tests/gpu/check.sh's table (Markdown) from the JSON files in OUT_DIR:
vitscope-<bench>-<round>.json (vitscope-cli) and pytorch-<round>.jsonl (pytorch_bench.py).
Each cell is the median over rounds of each run's median; ratios are vitscope / PyTorch."""
import glob
import json
import os
import statistics
import sys


def load(path):
    try:
        with open(path) as f:
            text = f.read()
        return json.loads(text) if path.endswith(".json") else [json.loads(l) for l in text.splitlines() if l.strip()]
    except (OSError, ValueError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(x, digits=0):
    return "failed" if x is None else f"{x:,.{digits}f}"


def main(out):
    rounds = sorted({p.rsplit("-", 1)[1].split(".")[0] for p in glob.glob(os.path.join(out, "pytorch-*.jsonl"))} |
                    {p.rsplit("-", 1)[1].split(".")[0] for p in glob.glob(os.path.join(out, "vitscope-mae-*.json"))
                     if "tokens" not in p})

    def ours(name, key):
        return median([(load(os.path.join(out, f"vitscope-{name}-{r}.json")) or {}).get(key) for r in rounds])

    def theirs(bench, key):
        vals, impl = [], None
        for r in rounds:
            for rec in load(os.path.join(out, f"pytorch-{r}.jsonl")) or []:
                if rec.get("bench") == bench:
                    vals.append(rec.get(key))
                    impl = rec.get("implementation")
        return median(vals), impl

    info = {}
    for r in rounds:
        for rec in load(os.path.join(out, f"pytorch-{r}.jsonl")) or []:
            info = rec
    first = load(os.path.join(out, f"vitscope-mae-{rounds[0]}.json")) if rounds else None
    print(f"GPU: {info.get('device', '?')}; PyTorch {info.get('torch', '?')} (CUDA {info.get('cuda', '?')}), "
          f"transformers {info.get('transformers') or 'not installed'}; rounds: {len(rounds)}; "
          f"vitscope attention: {(first or {}).get('attention', '?')}")
    print()
    print("| workload (same shapes, batch, bf16) | vitscope | PyTorch | ratio |")
    print("| --- | ---: | ---: | ---: |")
    rows = [
        ("MAE ViT-B/16 pretraining step, images/s", ours("mae", "images_per_s"), *theirs("mae-train", "images_per_s")),
        ("CLIP ViT-B/32 image embedding, images/s", ours("clip-image", "images_per_s"),
         *theirs("clip-image", "images_per_s")),
        ("CLIP ViT-B/32 text embedding, prompts/s", ours("clip-text", "prompts_per_s"),
         *theirs("clip-text", "prompts_per_s")),
    ]
    for label, a, b, impl in rows:
        ratio = a / b if a and b else None
        print(f"| {label} | {fmt(a)} | {fmt(b)} ({impl or '?'}) | {fmt(ratio, 2)} |")
    plain, tokens = ours("mae", "images_per_s"), ours("mae-tokens", "images_per_s")
    print(f"| MAE step, encoder on visible patches vs mask tokens in the encoder (vitscope both), images/s "
          f"| {fmt(plain)} | {fmt(tokens)} (tokens in encoder) | {fmt(plain / tokens if plain and tokens else None, 2)} |")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))

#!/usr/bin/env python3
"""Medians and ratios for tests/bench/cpu_vs_pytorch.sh: reads OUT/vitscope.jsonl and
OUT/pytorch.jsonl, prints a Markdown table (vitscope, PyTorch at its best thread setting,
ratio; > 1 means vitscope is faster) with the CPU model, threads and date."""
import collections
import datetime
import json
import os
import statistics
import sys

out = sys.argv[1]


def rows(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    return [json.loads(line) for line in open(path) if line.strip()]


def key(r):
    if r["bench"] == "mae-train":
        return "mae-" + r["preset"]
    return r["bench"]


LABELS = {
    "mae-fmnist": ("MAE `fmnist` training step, batch 256, 75% random (fwd + bwd + AdamW)", "img/s", True),
    "mae-vit-b16": ("MAE ViT-B/16 training step, batch 8, 75% random", "img/s", True),
    "clip-image": ("CLIP ViT-B/32 image embedding, batch 8", "img/s", True),
    "clip-text": ("CLIP ViT-B/32 text tower, one new 8-token prompt", "ms", False),
}


def value(r):
    return r["true_length_ms_median"] if r["bench"] == "clip-text" else r["images_per_s"]


ours = collections.defaultdict(list)
plain = collections.defaultdict(list)  # vitscope with --linear torch (its plain path)
for r in rows("vitscope.jsonl"):
    (plain if r.get("side") == "vitscope-torch" else ours)[key(r)].append(r)
theirs = collections.defaultdict(lambda: collections.defaultdict(list))
for r in rows("pytorch.jsonl"):
    theirs[key(r)][r["threads"]].append(value(r))

cpu = "unknown CPU"
flags = set()
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and cpu == "unknown CPU":
            cpu = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = set(line.split(":", 1)[1].split())
except OSError:
    pass
isa = "AVX-512" if "avx512f" in flags else ("AVX2" if "avx2" in flags else "no AVX2")
print(f"{cpu} ({isa}, {os.cpu_count()} cores), {datetime.date.today()}; medians of "
      f"{max((len(v) for v in ours.values()), default=0)} alternated rounds\n")
print("| workload | vitscope | PyTorch eager (best threads) | ratio | vitscope, torch::linear | vitscope's settings |")
print("| --- | ---: | ---: | ---: | ---: | --- |")
for k, (label, unit, higher) in LABELS.items():
    if k not in ours and k not in theirs:
        continue
    mine = statistics.median(value(r) for r in ours[k]) if ours[k] else None
    best = None
    for threads, vals in theirs[k].items():
        m = statistics.median(vals)
        if best is None or (m > best[0] if higher else m < best[0]):
            best = (m, threads)
    ratio = None
    if mine and best:
        ratio = mine / best[0] if higher else best[0] / mine
    settings = ""
    if ours[k]:
        r = ours[k][-1]
        settings = f"{r.get('threads', '?')} threads"
        for f in ("linear_kernel", "attention"):
            if f in r:
                settings += f", {f.replace('_', ' ')} {r[f]}"
    def fmt(v):
        return f"{v:.1f} {unit}"
    slow = statistics.median(value(r) for r in plain[k]) if plain[k] else None
    slow_ratio = (slow / best[0] if higher else best[0] / slow) if slow and best else None
    print(f"| {label} | {fmt(mine) if mine else '-'} | "
          f"{fmt(best[0]) + f' ({best[1]} threads)' if best else '-'} | "
          f"{f'**{ratio:.2f}x**' if ratio else '-'} | "
          f"{fmt(slow) + f' ({slow_ratio:.2f}x)' if slow else '-'} | {settings} |")

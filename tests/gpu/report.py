#!/usr/bin/env python3
"""Prints tests/gpu/check.sh's table (Markdown) from the JSON files in OUT_DIR:
vitscope-<workload>-<fast|plain>-<round>.json (vitscope-cli; plain = VITSCOPE_FAST_PATHS=none)
and pytorch-<workload>-<none|default|max-autotune>-<round>.json (pytorch_bench.py). Each cell
is the median over rounds of each run's median; ratios are vitscope (fast paths) / the other
column."""
import glob
import json
import os
import re
import statistics
import sys

WORKLOADS = [  # (label, vitscope name, PyTorch name, throughput key)
    ("MAE ViT-B/16 pretraining step, images/s", "mae", "mae-train", "images_per_s"),
    ("CLIP ViT-B/32 image embedding, images/s", "clip-image", "clip-image", "images_per_s"),
    ("CLIP ViT-B/32 text embedding, prompts/s", "clip-text", "clip-text", "prompts_per_s"),
]


def load(path):
    try:
        with open(path) as f:
            text = f.read().strip()
        # pytorch_bench.py writes one JSON object per line; vitscope-cli one indented object
        return json.loads(text) if text.startswith("{") and "\n{" not in text else json.loads(text.splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(x, digits=0):
    return "failed" if x is None else f"{x:,.{digits}f}"


def ratio(a, b):
    return fmt(a / b if a and b else None, 2)


def runs(out, pattern):
    return [load(p) or {} for p in sorted(glob.glob(os.path.join(out, pattern)))]


def main(out):
    def ours(name, variant, key):
        return median([r.get(key) for r in runs(out, f"vitscope-{name}-{variant}-*.json")])

    def theirs(name, mode, key):
        recs = runs(out, f"pytorch-{name}-{mode}-*.json")
        errors = [r["error"] for r in recs if r.get("error")]
        return median([r.get(key) for r in recs]), errors, recs

    info = next((r for r in runs(out, "pytorch-*-none-*.json") if r.get("torch")), {})
    first = next((r for r in runs(out, "vitscope-mae-fast-*.json") if r), {})
    rounds = len(runs(out, "vitscope-mae-fast-*.json"))
    print(f"GPU: {info.get('device', '?')}; PyTorch {info.get('torch', '?')} (CUDA {info.get('cuda', '?')}), "
          f"transformers {info.get('transformers') or 'not installed'}; rounds: {rounds}; "
          f"warm-up {info.get('warmup', '?')}, samples {info.get('samples', '?')} on both sides; "
          f"vitscope attention: {first.get('attention', '?')}, fast paths: {first.get('fast_paths', '?')}")
    print()
    modes = [m for m in ("default", "max-autotune") if glob.glob(os.path.join(out, f"pytorch-*-{m}-*.json"))]
    head = "| workload (same shapes, batch, bf16) | vitscope | vitscope, fast paths off | PyTorch eager | ratio |"
    rule = "| --- | ---: | ---: | ---: | ---: |"
    for m in modes:
        head += f" torch.compile {m} | ratio |"
        rule += " ---: | ---: |"
    print(head)
    print(rule)
    notes = []
    for label, name, theirs_name, key in WORKLOADS:
        fast, plain = ours(name, "fast", key), ours(name, "plain", key)
        eager, errors, recs = theirs(theirs_name, "none", key)
        impl = next((r.get("implementation") for r in recs if r.get("implementation")), "?")
        row = f"| {label} | {fmt(fast)} | {fmt(plain)} ({ratio(fast, plain)}x) | {fmt(eager)} ({impl}) | {ratio(fast, eager)} |"
        notes += [f"{theirs_name} eager: {e}" for e in errors[:1]]
        for m in modes:
            value, errors, recs = theirs(theirs_name, m, key)
            compile_s = median([r.get("compile_s") for r in recs])
            if value is None and errors:
                row += " n/a (see below) | |"
            else:
                row += f" {fmt(value)} (compiled in {fmt(compile_s, 0)} s) | {ratio(fast, value)} |"
            notes += [f"{theirs_name} {m}: {e}" for e in errors[:1]]
        print(row)
    for size, name in (("B/16", "mae"), ("L/16", "mae-l")):
        visible, tokens = ours(name, "fast", "images_per_s"), ours(f"{name}-tokens", "fast", "images_per_s")
        # The most the visible-only encoder can gain: the ratio of the two steps' FLOPs.
        flops = [ours(n, "fast", "model_gflop_per_image_step") for n in (name, f"{name}-tokens")]
        print(f"| MAE ViT-{size} step, encoder on visible patches vs mask tokens in the encoder (vitscope), images/s "
              f"| {fmt(visible)} | {fmt(tokens)} (tokens in encoder) | | {ratio(visible, tokens)} "
              f"(FLOP bound {ratio(flops[1], flops[0])}) |" + " | |" * len(modes))
    for n in notes:
        print(f"\n- {n}")
    # The CUDA libraries each side loads: the same cuBLAS and cuDNN builds, or not.
    try:
        with open(os.path.join(out, "libraries-vitscope.txt")) as f:
            mine = sorted({os.path.realpath(m.group(1)) for m in re.finditer(r"=> (\S+)", f.read())})
    except OSError:
        mine = []
    python = info.get("libraries") or []
    print("\nCUDA libraries (vitscope-cli by ldd; PyTorch as mapped after its run):")
    base = lambda p: re.sub(r"\.so.*", "", os.path.basename(p))
    for lib in sorted({base(p) for p in mine + python}):
        a = [os.path.basename(p) for p in mine if base(p) == lib]
        b = [os.path.basename(p) for p in python if base(p) == lib]
        same = "same" if a and a == b else "DIFFERENT" if a and b else "one side"
        print(f"- {lib}: vitscope {', '.join(a) or '-'}; PyTorch {', '.join(b) or '-'} ({same})")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "."))

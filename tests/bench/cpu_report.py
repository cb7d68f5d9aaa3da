#!/usr/bin/env python3
"""The table of tests/bench/cpu_vs_pytorch.sh (`make bench`): reads OUT/vitscope.jsonl,
OUT/pytorch.jsonl and OUT/limits.jsonl and prints Markdown:

- the machine: CPU model, the flags that decide kernels, cores, OpenBLAS's core on each
  side, vitscope's kernel choice, the GEMM rate (`bench matmul`, best kernel and threads)
  and the memory bandwidth (`bench memory`, STREAM triad and read);
- per workload: vitscope's median, PyTorch's best (the fastest OpenBLAS setting, thread
  count and mode whose outputs agree with the detected setting's: a setting that computes
  something else does not count) and which setting won, the ratio (> 1: vitscope is
  faster), vitscope's plain path, and each side's share of the machine's limit (model
  FLOP/s over the GEMM rate for training steps and image embeddings; weight bytes read per
  second over the triad bandwidth for one prompt);
- every setting the peer ran, with its median, so the choice can be checked.
"""
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
    if r["bench"] == "clip-text" and ("bf16" in r.get("text_weights", "") or r.get("precision") == "bf16"):
        return "clip-text-bf16"
    if r["bench"] == "clip-image" and ("bf16" in r.get("image_weights", "") or r.get("precision") == "bf16"):
        return "clip-image-bf16"
    return r["bench"]


LABELS = {
    "mae-fmnist": ("MAE `fmnist` training step, batch 256, 75% random (fwd + bwd + AdamW)", "img/s", True),
    "mae-vit-b16": ("MAE ViT-B/16 training step, batch 8, 75% random", "img/s", True),
    "clip-image": ("CLIP ViT-B/32 image embedding, batch 8", "img/s", True),
    "clip-image-bf16": ("the same image batch on bfloat16 weights (vitscope: VITSCOPE_FAST_PATHS=bf16-image; "
                        "PyTorch: model.bfloat16())", "img/s", True),
    "clip-text": ("CLIP ViT-B/32 text tower, one new 8-token prompt", "ms", False),
    "clip-text-bf16": ("the same prompt on bfloat16 weights (vitscope: VITSCOPE_FAST_PATHS=bf16-text; "
                       "PyTorch: model.bfloat16())", "ms", False),
}


def value(r):
    return r["true_length_ms_median"] if r["bench"] == "clip-text" else r["images_per_s"]


def agrees(check, reference, rel=2e-3, eps=1e-4):
    if not check or not reference or len(check) != len(reference):
        return True  # nothing to compare (older rows)
    return all(abs(a - b) <= eps + rel * abs(b) for a, b in zip(check, reference))


ours, plain = collections.defaultdict(list), collections.defaultdict(list)
for r in rows("vitscope.jsonl"):
    (plain if r.get("side") == "vitscope-torch" else ours)[key(r)].append(r)
peer = collections.defaultdict(lambda: collections.defaultdict(list))  # k -> (setting, threads, mode) -> rows
for r in rows("pytorch.jsonl"):
    peer[key(r)][(r.get("setting", "detected"), r["threads"], r.get("mode", "eager"))].append(r)
limits = rows("limits.jsonl")
gemm = max((r for r in limits if r["bench"] == "matmul"), key=lambda r: r["gflops_median"], default=None)
memory = max((r for r in limits if r["bench"] == "memory"), key=lambda r: r["triad_gbps"], default=None)
gemm_bf16 = max((r["best_bf16"] for r in limits if r["bench"] == "matmul" and r.get("best_bf16")),
                key=lambda r: r["gflops_median"], default=None)

# The machine.
cpu = (gemm or {}).get("cpu", "unknown CPU")
flags = (gemm or {}).get("cpu_flags", [])
cores = (gemm or {}).get("cores", os.cpu_count())
peer_cores = sorted({(k[0], r.get("openblas_core", "?")) for v in peer.values() for k, rs in v.items() for r in rs})
rounds = max((len(v) for v in ours.values()), default=0)
print(f"{cpu}, {cores} cores, flags: {', '.join(flags) or 'none of AVX2, AVX-512, AMX'}; {datetime.date.today()}; "
      f"medians of {rounds} alternated rounds\n")
print(f"- vitscope: OpenBLAS core {(gemm or {}).get('openblas_core') or '-'} (the environment as it is: "
      f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', 'unset')}), linear layers: "
      f"{(gemm or {}).get('linear_kernel', '?')}, memory allocator: "
      f"{next((r.get('allocator') for v in ours.values() for r in v if r.get('allocator')), '?')}")
print("- PyTorch's OpenBLAS settings: " + "; ".join(f"{s} runs {c}" for s, c in peer_cores))
if gemm:
    print(f"- GEMM rate: {gemm['gflops_median']:.1f} GFLOP/s float32 ({gemm['kernel']}, {gemm['threads']} "
          f"thread{'s' if gemm['threads'] != 1 else ''}, {gemm['size']}^3; `vitscope-cli bench matmul`)"
          + (f"; bfloat16 operands {gemm_bf16['gflops_median']:.1f} GFLOP/s (vitscope's AVX512_BF16 kernel, "
             f"{gemm_bf16['threads']} thread{'s' if gemm_bf16['threads'] != 1 else ''})" if gemm_bf16 else ""))
if memory:
    print(f"- memory bandwidth: triad {memory['triad_gbps']:.1f} GB/s ({memory['triad_threads']} threads), read "
          f"{memory['read_gbps']:.1f} GB/s (`vitscope-cli bench memory`)")
print()


def share(k, rate, sample):
    """The fraction of the machine's limit a rate reaches, as text."""
    if k.startswith("clip-text"):
        if not memory or not sample.get("weight_bytes_read"):
            return "-"
        gbps = sample["weight_bytes_read"] / (rate / 1e3) / 1e9
        return f"{gbps / memory['triad_gbps']:.0%} of bandwidth"
    per = sample.get("model_gflop_per_image_step") or sample.get("model_gflop_per_image")
    limit = gemm_bf16 if k.endswith("bf16") else gemm
    if not limit or not per:
        return "-"
    return f"{per * rate / limit['gflops_median']:.0%} of {'bf16 ' if k.endswith('bf16') else ''}GEMM"


print("| workload | vitscope | PyTorch at its best | the setting that won | ratio | vitscope, torch::linear "
      "| vitscope's share of the limit | PyTorch's share |")
print("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |")
detail = []
bests, mines = {}, {}
for k, (label, unit, higher) in LABELS.items():
    if k not in ours and k not in peer:
        continue
    mine = statistics.median(value(r) for r in ours[k]) if ours[k] else None
    reference = None
    for (setting, threads, mode), rs in sorted(peer[k].items(), key=lambda kv: (kv[0][0] != "detected", kv[0][1], kv[0][2])):
        reference = reference or rs[0].get("check")
    best = None
    for (setting, threads, mode), rs in peer[k].items():
        m = statistics.median(value(r) for r in rs)
        # bfloat16 rows: eager and TorchScript round differently (8-bit mantissas through 12
        # layers: up to 4% apart on these outputs): within 5e-2.
        ok = all(agrees(r.get("check"), reference, rel=5e-2 if k.endswith("bf16") else 2e-3) for r in rs)
        core = rs[0].get("openblas_core", "?")
        detail.append(f"| {label} | {setting} ({core}) | {threads} | {mode} | {m:.1f} {unit} | "
                      f"{'yes' if ok else '**no**: not counted'} |")
        if ok and (best is None or (m > best[0] if higher else m < best[0])):
            blas = rs[0].get("openblas_threads")
            blas_setting, _, heaps = setting.partition(" + ")
            best = (m, f"OpenBLAS {blas_setting} ({core}{f', its own {blas} threads' if blas else ''}), "
                       f"{threads} OpenMP thread{'s' if threads != 1 else ''}, "
                       f"{'TorchScript frozen' if mode == 'jit' else 'eager'}"
                       f"{', glibc malloc with its ' + heaps if heaps else ''}", rs[0])
    ratio = (mine / best[0] if higher else best[0] / mine) if mine and best else None
    slow = statistics.median(value(r) for r in plain[k]) if plain[k] else None
    slow_ratio = (slow / best[0] if higher else best[0] / slow) if slow and best else None
    sample = ours[k][-1] if ours[k] else {}
    print(f"| {label} | {f'{mine:.1f} {unit}' if mine else '-'} | {f'{best[0]:.1f} {unit}' if best else '-'} | "
          f"{best[1] if best else '-'} | {f'**{ratio:.2f}x**' if ratio else '-'} | "
          f"{f'{slow:.1f} {unit} ({slow_ratio:.2f}x)' if slow else '-'} | "
          f"{share(k, mine, sample) if mine else '-'} | "
          f"{share(k, best[0], best[2] if best[2].get('weight_bytes_read') else sample) if best and sample else '-'} |")
    bests[k] = best[0] if best else None
    mines[k] = mine

if mines.get("clip-image-bf16") and bests.get("clip-image"):
    print(f"\nvitscope's bf16-image batch against PyTorch's best float32 batch: "
          f"{mines['clip-image-bf16'] / bests['clip-image']:.2f}x (its error against float32: "
          f"`vitscope-cli eval image-precision`, docs/performance.md)")
if mines.get("clip-text-bf16") and bests.get("clip-text"):
    print(f"\nvitscope's bf16-text prompt against PyTorch's best float32 prompt: "
          f"{bests['clip-text'] / mines['clip-text-bf16']:.2f}x (its error against float32: "
          f"`vitscope-cli eval text-precision`, docs/performance.md)")

print("\nEvery setting the peer ran (median of the rounds):\n")
print("| workload | OpenBLAS setting (core) | OpenMP threads | mode | median | outputs agree |")
print("| --- | --- | ---: | --- | ---: | --- |")
for line in detail:
    print(line)

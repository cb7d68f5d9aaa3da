#!/usr/bin/env bash
# Issue 18's side-by-side benchmark: vitscope-cli's `bench` commands against PyTorch eager
# (tests/bench/pytorch_cpu_reference.py, Debian's python3-torch: the same LibTorch 1.13
# kernels underneath), alternated ROUNDS times on this CPU, then medians and ratios.
# A benchmark, not a test: CI times nothing. `make bench` runs it.
#
# Usage: tests/bench/cpu_vs_pytorch.sh [BUILD_DIR] [ROUNDS] [OUT_DIR]
# Environment: ONLY (default mae-fmnist,mae-vit-b16,clip-image,clip-text), PLAIN (the
#   workloads also run with --linear torch, vitscope's plain path; default
#   mae-fmnist,clip-image,clip-text), PY_THREADS
#   (PyTorch's thread settings to try, default "1,<cores>"; the best one counts),
#   PYTHON (default /usr/bin/python3, the one with Debian's python3-torch).
set -uo pipefail
build=${1:-build}
rounds=${2:-3}
out=${3:-$build/bench-cpu}
only=${ONLY:-mae-fmnist,mae-vit-b16,clip-image,clip-text}
plain=${PLAIN:-mae-fmnist,clip-image,clip-text}
py=${PYTHON:-/usr/bin/python3}
cores=$(nproc)
pythreads=${PY_THREADS:-1,$cores}
cli=$build/bin/vitscope-cli
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$cli" ] || { echo "no $cli: build first (cmake --build $build --target vitscope-cli)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "$py has no torch: apt-get install python3-torch" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out"/*.jsonl
has() { [[ ",$only," == *",$1,"* ]]; }
for r in $(seq 1 "$rounds"); do
    for linear in auto torch; do
        echo "round $r/$rounds: vitscope (--linear $linear)" >&2
        want() { has "$1" && { [ "$linear" = auto ] || [[ ",$plain," == *",$1,"* ]]; }; }
        {
            want mae-fmnist && "$cli" bench mae-train --preset fmnist --batch 256 --steps 5 --warmup 2 --device cpu --linear $linear
            want mae-vit-b16 && "$cli" bench mae-train --preset vit-b16 --batch 8 --steps 3 --warmup 1 --device cpu --linear $linear
            want clip-image && "$cli" bench clip-image --preset vit-b32 --batch 8 --repeats 5 --warmup 2 --device cpu --linear $linear
            want clip-text && "$cli" bench clip-text --preset vit-b32 --tokens 8 --repeats 30 --device cpu --linear $linear
        } | "$py" -c 'import json,sys
d=json.JSONDecoder(); s=sys.stdin.read(); i=0
while True:
    while i < len(s) and s[i].isspace(): i += 1
    if i >= len(s): break
    o, i = d.raw_decode(s, i); o["side"] = sys.argv[1]; print(json.dumps(o))' "vitscope-$linear" >> "$out/vitscope.jsonl"
    done
    echo "round $r/$rounds: PyTorch eager (threads $pythreads)" >&2
    "$py" "$here/pytorch_cpu_reference.py" --only "$only" --threads "$pythreads" >> "$out/pytorch.jsonl"
done
"$py" "$here/cpu_report.py" "$out" | tee "$out/table.md"

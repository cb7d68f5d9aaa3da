#!/usr/bin/env bash
# `make bench`: vitscope-cli's `bench` commands against PyTorch at its best on this CPU
# (tests/bench/pytorch_cpu_reference.py, Debian's python3-torch: the same LibTorch 1.13
# kernels underneath), alternated ROUNDS times, then medians, ratios and the machine's
# limits (tests/bench/cpu_report.py). A benchmark, not a test: CI times nothing.
#
# PyTorch at its best (issue 27): every round runs the peer under each OpenBLAS setting
# (as OpenBLAS detects the CPU, with OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset; as this
# machine's environment sets them; each core type this CPU can run), each at 1 thread and
# at every core, eager and (inference) TorchScript frozen, and under glibc's malloc as it
# starts and with its heaps kept (MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647: what
# vitscope sets in-process, models/runtime/allocator.h); the report keeps per row the
# fastest setting whose outputs agree with the detected setting's, and names it. vitscope
# runs in the environment as it is, with its own kernel choice (and --linear torch, its
# plain path). Before and after the rounds, `bench matmul` and `bench memory` measure the
# machine's GEMM rate and bandwidth, the limits each row is set against.
#
# Usage: tests/bench/cpu_vs_pytorch.sh [BUILD_DIR] [ROUNDS] [OUT_DIR]
# Environment: ONLY (default mae-fmnist,mae-vit-b16,clip-image,clip-text,clip-image-bf16,clip-text-bf16;
#   the last two: on bfloat16 weights, vitscope's bf16-image and bf16-text against
#   model.bfloat16(), on CPUs with AVX512_BF16), PLAIN (the
#   workloads also run with --linear torch; default mae-fmnist,clip-image,clip-text),
#   PY_THREADS (default "1,<cores>"), PY_MODES (default eager,jit), CORETYPES (the
#   OpenBLAS settings to try: "detected", "env" and core names; default: detected, env
#   where set, and the core types this CPU runs), MALLOCS (the peer's malloc: "glibc",
#   "kept"; default both), PYTHON (default /usr/bin/python3).
set -uo pipefail
build=${1:-build}
rounds=${2:-3}
out=${3:-$build/bench-cpu}
only=${ONLY:-mae-fmnist,mae-vit-b16,clip-image,clip-text,clip-image-bf16,clip-text-bf16}
plain=${PLAIN:-mae-fmnist,clip-image,clip-text}
py=${PYTHON:-/usr/bin/python3}
cores=$(nproc)
pythreads=${PY_THREADS:-1,$cores}
pymodes=${PY_MODES:-eager,jit}
mallocs=${MALLOCS:-glibc,kept}
cli=$build/bin/vitscope-cli
here=$(cd "$(dirname "$0")" && pwd)
[ -x "$cli" ] || { echo "no $cli: build first (cmake --build $build --target vitscope-cli)" >&2; exit 2; }
"$py" -c 'import torch' 2>/dev/null || { echo "$py has no torch: apt-get install python3-torch" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out"/*.jsonl

# The OpenBLAS settings: the CPU's flags decide which core types it can run.
if [ -z "${CORETYPES:-}" ]; then
    flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
    vendor=$(grep -m1 '^vendor_id' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')
    CORETYPES=detected
    [ -n "${OPENBLAS_CORETYPE:-}${OPENBLAS_L2_SIZE:-}" ] && CORETYPES+=,env
    [[ $flags == *" avx2 "* ]] && CORETYPES+=,Haswell
    [[ $flags == *" avx2 "* && $vendor == AuthenticAMD ]] && CORETYPES+=,Zen
    [[ $flags == *" avx512f "* && $flags == *" avx512bw "* && $flags == *" avx512vl "* ]] && CORETYPES+=,SkylakeX
    [[ $flags == *" avx512_bf16 "* ]] && CORETYPES+=,Cooperlake
    [[ $flags == *" amx_tile "* ]] && CORETYPES+=,SapphireRapids
fi
echo "OpenBLAS settings for the peer: $CORETYPES" >&2
peer() { # $1: the setting; the rest: the command
    local setting=$1
    shift
    case $setting in
    env) "$@" ;;
    detected) env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$@" ;;
    *) env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE="$setting" "$@" ;;
    esac
}

limits() {
    "$cli" bench matmul --size 1024,2048 --repeats 8 --device cpu
    "$cli" bench memory --mb 256 --repeats 8
}
tag() { "$py" -c 'import json,sys
d=json.JSONDecoder(); s=sys.stdin.read(); i=0
while True:
    while i < len(s) and s[i].isspace(): i += 1
    if i >= len(s): break
    o, i = d.raw_decode(s, i); o["side"] = sys.argv[1]; print(json.dumps(o))' "$1"; }

echo "the machine's limits (bench matmul, bench memory)" >&2
limits | tag limits-before >> "$out/limits.jsonl"
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
            [ "$linear" = auto ] && has clip-image-bf16 &&
                VITSCOPE_FAST_PATHS=bf16-image "$cli" bench clip-image --preset vit-b32 --batch 8 --repeats 5 --warmup 2 --device cpu
            [ "$linear" = auto ] && has clip-text-bf16 &&
                VITSCOPE_FAST_PATHS=bf16-text "$cli" bench clip-text --preset vit-b32 --tokens 8 --repeats 30 --device cpu
        } | tag "vitscope-$linear" >> "$out/vitscope.jsonl"
    done
    for setting in ${CORETYPES//,/ }; do
        for malloc in ${mallocs//,/ }; do
            echo "round $r/$rounds: PyTorch (OpenBLAS $setting, malloc $malloc, threads $pythreads, $pymodes)" >&2
            name=$setting
            heaps=()
            if [ "$malloc" = kept ]; then
                name+=" + heaps kept"
                heaps=(MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=2147483647)
            fi
            peer "$setting" env "${heaps[@]}" "$py" "$here/pytorch_cpu_reference.py" --only "$only" \
                --threads "$pythreads" --modes "$pymodes" --setting "$name" >> "$out/pytorch.jsonl" ||
                echo "  OpenBLAS $setting: the peer failed (a core type this CPU cannot run?)" >&2
        done
    done
done
limits | tag limits-after >> "$out/limits.jsonl"
"$py" "$here/cpu_report.py" "$out" | tee "$out/table.md"

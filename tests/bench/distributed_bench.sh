#!/bin/sh
# Data-parallel training on one machine: 2 ranks x 1 thread (vitscope-cli --nproc-per-node 2,
# Gloo on loopback) against 1 process x 2 threads, alternated, medians of REPEATS runs.
# Prints a Markdown table; every run's JSON summary goes to $OUT/.
#   tests/bench/distributed_bench.sh [BUILD_DIR] [REPEATS]
# Environment: KINDS (default "mae clip"), LIMIT (images per run, default 2048), BATCH (global, 256).
set -eu
BUILD=${1:-build}
REPEATS=${2:-3}
CLI="$BUILD/bin/vitscope-cli"
KINDS=${KINDS:-"mae clip"}
LIMIT=${LIMIT:-2048}
BATCH=${BATCH:-256}
OUT=${OUT:-$(mktemp -d /tmp/vitscope-dist-bench.XXXXXX)}
mkdir -p "$OUT"
[ -x "$CLI" ] || { echo "no $CLI: build first (make build)" >&2; exit 1; }
cores=$(nproc)
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $cores cores; $(date -u +%Y-%m-%d); runs in $OUT" >&2

median() { sort -n | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -n "s/^ *\"$1\": \([0-9.e+-]*\).*/\1/p" "$2"; }

echo "| workload | setting | images/s (median of $REPEATS) | all-reduce per step | all-reduce per MB |"
echo "| --- | --- | --- | --- | --- |"
for kind in $KINDS; do
  extra=""
  [ "$kind" = clip ] && extra="--bpe-merges 200"
  for i in $(seq "$REPEATS"); do
    for mode in one two; do
      run="$OUT/$kind-$mode-$i"
      rm -rf "$run"
      if [ $mode = one ]; then
        OMP_NUM_THREADS=$cores "$CLI" train $kind --limit "$LIMIT" --batch "$BATCH" --epochs 1 --eval-every 0 \
          --device cpu --log-every 1000 $extra --out "$run" > "$run.json" 2>/dev/null
      else
        "$CLI" train $kind --limit "$LIMIT" --batch "$BATCH" --epochs 1 --eval-every 0 --device cpu \
          --log-every 1000 $extra --nproc-per-node 2 --out "$run" > "$run.json" 2>/dev/null
      fi
    done
  done
  one=$(for f in "$OUT/$kind"-one-*.json; do field images_per_s "$f"; done | median)
  two=$(for f in "$OUT/$kind"-two-*.json; do field images_per_s "$f"; done | median)
  ar=$(for f in "$OUT/$kind"-two-*.json; do field allreduce_s_per_step "$f"; done | median)
  mb=$(field allreduce_mb_per_step "$OUT/$kind-two-1.json")
  echo "| $kind fmnist preset, global batch $BATCH | 1 process x $cores threads | $one | - | - |"
  echo "| $kind fmnist preset, global batch $BATCH | 2 ranks x 1 thread (Gloo) | $two ($(echo "$two $one" | awk '{printf "%.2fx", $1/$2}')) | $(echo "$ar" | awk '{printf "%.1f ms", $1*1000}') for $mb MB | $(echo "$ar $mb" | awk '{printf "%.2f ms", $1*1000/$2}') |"
done

#!/usr/bin/env bash
# The GPU check of issue 9, for a CUDA machine with PyTorch installed and no package
# access: builds the headless core against that PyTorch's LibTorch (header-only
# dependencies from DEPS, made by shared/gpu/collect-deps.sh), runs the `cuda` tests, then
# benchmarks vitscope against PyTorch itself on the same card, same shapes, same batch,
# bf16, alternating the two ROUNDS times, and prints a table last.
#
# Usage: tests/gpu/check.sh DEPS [BUILD_DIR] [OUT_DIR]
#   DEPS       header-only dependencies (plus DEPS/zlib/zlib.h, zconf.h where the machine lacks them)
#   BUILD_DIR  default build-gpu;   OUT_DIR  default $OUT, else BUILD_DIR/gpu-check
# Environment: ROUNDS (default 2), MAE_BATCH (128), CLIP_BATCH (512), TEXT_BATCH (1024),
#   TOKENS (16), VITSCOPE_FASHION_MNIST_DIR (the trainer's cuda tests; .gpu/fmnist is
#   used when present).
# Budget: about 8 minutes of machine time in all, the build included.
set -uo pipefail
deps=${1:?usage: tests/gpu/check.sh DEPS [BUILD_DIR] [OUT_DIR]}
build=${2:-build-gpu}
out=${3:-${OUT:-$build/gpu-check}}
rounds=${ROUNDS:-2}
mae_batch=${MAE_BATCH:-128} clip_batch=${CLIP_BATCH:-512} text_batch=${TEXT_BATCH:-1024} tokens=${TOKENS:-16}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
start=$SECONDS
log() { echo "[check ${1}: $((SECONDS - start)) s] ${*:2}"; }
if [ -z "${VITSCOPE_FASHION_MNIST_DIR:-}" ] && [ -d .gpu/fmnist ]; then
    export VITSCOPE_FASHION_MNIST_DIR=$PWD/.gpu/fmnist
fi

log build "vitscope-cli and the test binaries against $(python3 -c 'import torch; print("torch", torch.__version__)')"
if ! "$here/build.sh" "$deps" "$build" vitscope-cli vitscope_models_tests vitscope_trainer_tests \
        > "$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    log build "FAILED (full log: $out/build.log)"
    exit 1
fi

log tests "Cuda* suites"
for t in vitscope_models_tests vitscope_trainer_tests; do
    "$build/bin/$t" --gtest_filter='Cuda*' --gtest_output="json:$out/$t.json" > "$out/$t.log" 2>&1
    echo "  $t: exit $? ($(grep -cE '^\[ +OK' "$out/$t.log") ok, $(grep -cE '^\[  FAILED  \] Cuda' "$out/$t.log") failed, $(grep -cE '^\[  SKIPPED \]' "$out/$t.log") skipped lines)"
    grep -E '^\[  FAILED  \]|Failure|error' "$out/$t.log" | head -20
done

cli=$build/bin/vitscope-cli
bench() { # name, then the CLI's words
    local name=$1
    shift
    "$cli" "$@" --device cuda > "$out/$name.json" 2> "$out/$name.err" || { echo "  $name failed:"; tail -3 "$out/$name.err"; }
}
for r in $(seq 1 "$rounds"); do
    log "round $r" "vitscope"
    bench "vitscope-mae-$r" bench mae-train --preset vit-b16 --batch "$mae_batch" --steps 10 --warmup 3 --amp on
    bench "vitscope-mae-tokens-$r" bench mae-train --preset vit-b16 --batch "$mae_batch" --steps 10 --warmup 3 \
        --amp on --mask-tokens-in-encoder
    bench "vitscope-clip-image-$r" bench clip-image --preset vit-b32 --batch "$clip_batch" --repeats 10 --warmup 3 \
        --dtype bf16
    bench "vitscope-clip-text-$r" bench clip-text --preset vit-b32 --batch "$text_batch" --tokens "$tokens" \
        --repeats 10 --dtype bf16
    log "round $r" "PyTorch"
    python3 "$here/pytorch_bench.py" --device cuda --mae-batch "$mae_batch" --clip-batch "$clip_batch" \
        --text-batch "$text_batch" --tokens "$tokens" --steps 10 --warmup 3 \
        > "$out/pytorch-$r.jsonl" 2> "$out/pytorch-$r.err" || { echo "  PyTorch failed:"; tail -5 "$out/pytorch-$r.err"; }
done
log done "table"
python3 "$here/report.py" "$out" | tee "$out/table.md"

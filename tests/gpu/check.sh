#!/usr/bin/env bash
# The GPU check of issues 9 and 29, for a CUDA machine with PyTorch installed and no
# package access: builds the headless core against that PyTorch's LibTorch (header-only
# dependencies from DEPS, made by shared/gpu/collect-deps.sh), runs the `cuda` tests, then
# benchmarks vitscope against PyTorch itself on the same card, same shapes, same batch,
# bf16, and prints a table last. The harness is the same on both sides: every workload in
# a process of its own, the same warm-up and sample counts, the sides alternating which
# goes first round by round. vitscope runs twice per round, with its fast paths
# (models/kernels/fast_paths.h) and with VITSCOPE_FAST_PATHS=none, so one run measures
# each change; PyTorch runs eager each round and under torch.compile (COMPILE's modes) in
# the first round. The CUDA libraries of both sides are listed (ldd, /proc/self/maps).
#
# Usage: tests/gpu/check.sh DEPS [BUILD_DIR] [OUT_DIR]
#   DEPS       header-only dependencies (plus DEPS/zlib/zlib.h, zconf.h where the machine lacks them)
#   BUILD_DIR  default build-gpu;   OUT_DIR  default $OUT, else BUILD_DIR/gpu-check
# Environment: ROUNDS (default 2), SAMPLES (timed calls, 20), WARMUP (5), MAE_BATCH (128),
#   MAE_L_BATCH (64, the ViT-L/16 visible-only against mask-tokens rows),
#   CLIP_BATCH (512), TEXT_BATCH (1024), TOKENS (16), COMPILE ("default max-autotune";
#   "" for none), LIMIT (seconds per process, 300), DEVICE (cuda; cpu with SMALL=1 checks
#   the harness itself on a CPU), SKIP_BUILD=1 (use BUILD_DIR as it is), SKIP_TESTS=1,
#   VITSCOPE_FASHION_MNIST_DIR (the trainer's cuda tests; .gpu/fmnist is used when present).
# Budget: about 10 minutes of machine time with the defaults, the build included
#   (max-autotune compiles for minutes: COMPILE=default saves most of that).
set -uo pipefail
deps=${1:?usage: tests/gpu/check.sh DEPS [BUILD_DIR] [OUT_DIR]}
build=${2:-build-gpu}
out=${3:-${OUT:-$build/gpu-check}}
rounds=${ROUNDS:-2} samples=${SAMPLES:-20} warmup=${WARMUP:-5} limit=${LIMIT:-300} device=${DEVICE:-cuda}
mae_batch=${MAE_BATCH:-128} mae_l_batch=${MAE_L_BATCH:-64} clip_batch=${CLIP_BATCH:-512} text_batch=${TEXT_BATCH:-1024} tokens=${TOKENS:-16}
compile_modes=${COMPILE-default max-autotune}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
start=$SECONDS
log() { echo "[check ${1}: $((SECONDS - start)) s] ${*:2}"; }
if [ -z "${VITSCOPE_FASHION_MNIST_DIR:-}" ] && [ -d .gpu/fmnist ]; then
    export VITSCOPE_FASHION_MNIST_DIR=$PWD/.gpu/fmnist
fi

log build "vitscope-cli and the test binaries against $(python3 -c 'import torch; print("torch", torch.__version__)')"
if [ -n "${SKIP_BUILD:-}" ]; then
    log build "skipped (SKIP_BUILD): $build as it is"
elif ! "$here/build.sh" "$deps" "$build" vitscope-cli vitscope_models_tests vitscope_trainer_tests \
        > "$out/build.log" 2>&1; then
    tail -40 "$out/build.log"
    log build "FAILED (full log: $out/build.log)"
    exit 1
fi

log tests "Cuda* suites"
for t in $([ -z "${SKIP_TESTS:-}" ] && echo vitscope_models_tests vitscope_trainer_tests); do
    "$build/bin/$t" --gtest_filter='Cuda*' --gtest_output="json:$out/$t.json" > "$out/$t.log" 2>&1
    echo "  $t: exit $? ($(grep -cE '^\[ +OK' "$out/$t.log") ok, $(grep -cE '^\[  FAILED  \] Cuda' "$out/$t.log") failed, $(grep -cE '^\[  SKIPPED \]' "$out/$t.log") skipped lines)"
    grep -E '^\[  FAILED  \]|Failure|error' "$out/$t.log" | head -20
done

cli=$build/bin/vitscope-cli
small=()
if [ -n "${SMALL:-}" ]; then
    small=(--small)
fi
# One vitscope workload in a process of its own: name, variant (fast or plain), the CLI's words.
ours() {
    local name=$1 variant=$2
    shift 2
    local paths=
    [ "$variant" = plain ] && paths=none
    VITSCOPE_FAST_PATHS=${paths:-${VITSCOPE_FAST_PATHS:-}} timeout "$limit" "$cli" "$@" --device "$device" \
        > "$out/vitscope-$name-$variant-$r.json" 2> "$out/vitscope-$name-$variant-$r.err" ||
        { echo "  vitscope $name ($variant) failed:"; tail -3 "$out/vitscope-$name-$variant-$r.err"; }
}
vitscope_round() {
    for variant in fast plain; do
        ours mae "$variant" bench mae-train --preset vit-b16 --batch "$mae_batch" --steps "$samples" \
            --warmup "$warmup" --amp on
        ours mae-tokens "$variant" bench mae-train --preset vit-b16 --batch "$mae_batch" --steps "$samples" \
            --warmup "$warmup" --amp on --mask-tokens-in-encoder
        if [ "$variant" = fast ]; then # the paper's comparison at ViT-L/16 (Table 2's setting)
            ours mae-l "$variant" bench mae-train --preset vit-l16 --batch "$mae_l_batch" --steps "$samples" \
                --warmup "$warmup" --amp on
            ours mae-l-tokens "$variant" bench mae-train --preset vit-l16 --batch "$mae_l_batch" --steps "$samples" \
                --warmup "$warmup" --amp on --mask-tokens-in-encoder
        fi
        ours clip-image "$variant" bench clip-image --preset vit-b32 --batch "$clip_batch" --repeats "$samples" \
            --warmup "$warmup" --dtype bf16
        ours clip-text "$variant" bench clip-text --preset vit-b32 --batch "$text_batch" --tokens "$tokens" \
            --repeats "$samples" --warmup "$warmup" --dtype bf16
    done
}
# One PyTorch workload in a process of its own: workload, compile mode.
theirs() {
    timeout "$limit" python3 "$here/pytorch_bench.py" --device "$device" --only "$1" --compile "$2" \
        --mae-batch "$mae_batch" --clip-batch "$clip_batch" --text-batch "$text_batch" --tokens "$tokens" \
        --steps "$samples" --warmup "$warmup" "${small[@]}" \
        > "$out/pytorch-$1-$2-$r.json" 2> "$out/pytorch-$1-$2-$r.err" ||
        { echo "  PyTorch $1 ($2) failed:"; tail -3 "$out/pytorch-$1-$2-$r.err"; }
}
pytorch_round() {
    for w in mae-train clip-image clip-text; do
        theirs "$w" none
    done
}

ldd "$cli" | grep -E 'cublas|cudnn|cudart|nccl|nvrtc|torch_cuda|c10_cuda' > "$out/libraries-vitscope.txt" || true
for r in $(seq 1 "$rounds"); do
    if [ $((r % 2)) = 1 ]; then
        log "round $r" "vitscope (fast paths, then none)"; vitscope_round
        log "round $r" "PyTorch eager"; pytorch_round
    else
        log "round $r" "PyTorch eager"; pytorch_round
        log "round $r" "vitscope (fast paths, then none)"; vitscope_round
    fi
done
r=1
for mode in $compile_modes; do
    log compile "PyTorch, torch.compile mode $mode"
    for w in mae-train clip-image clip-text; do
        theirs "$w" "$mode"
    done
done
log done "table"
python3 "$here/report.py" "$out" | tee "$out/table.md"

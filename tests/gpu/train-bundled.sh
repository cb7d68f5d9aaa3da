#!/usr/bin/env bash
# Trains the bundled Fashion-MNIST models (resources/models/fmnist-mae, fmnist-clip), fine-tunes
# the MAE, and runs the MAE ablation sweeps (docs/experiments/) with vitscope-cli on a CUDA
# machine, inside a time budget. A short run of each command first measures images/s on the
# card (all jobs side by side, as they will run); the epochs of the real runs are set from
# it so that everything ends inside the budget. Each job's results are packed into OUT as a
# tar file as soon as it ends (run folders without their checkpoints).
# Usage: tests/gpu/train-bundled.sh CLI OUT BUDGET_SECONDS
set -u
cli=$(realpath "$1"); out=$2; budget=$3
t0=$(date +%s)
runs=/tmp/vitscope-runs; rm -rf "$runs"; mkdir -p "$runs"
export OMP_NUM_THREADS=2
log() { echo "[$(($(date +%s) - t0))s] $*" | tee -a "$out/log.txt"; }
left() { echo $((budget - ($(date +%s) - t0))); }
pack() { # pack NAME DIR...: DIR's files without checkpoints
  local name=$1; shift
  tar -C "$runs" --exclude=checkpoints -cf "$out/$name.tar" "$@" 2>>"$out/log.txt"
  log "packed $name.tar ($(du -h "$out/$name.tar" | cut -f1))"
}
last_ips() { python3 - "$1" <<'PY'
import json, sys
r = [json.loads(l) for l in open(sys.argv[1]) if '"type":"step"' in l]
print(int(r[-1]["images_per_s"]) if r else 0)
PY
}

# 1. Smoke: every command for a few hundred steps on the card, side by side.
log "smoke runs"
$cli train mae --device cuda --limit 16384 --epochs 1 --batch 1024 --log-every 4 --test-limit 1000 --amp off \
  --out "$runs/smoke-mae" > "$runs/smoke-mae.json" 2> "$runs/smoke-mae.err" &
$cli train mae --device cuda --limit 16384 --epochs 1 --batch 1024 --log-every 4 --test-limit 1000 --amp on \
  --out "$runs/smoke-mae-amp" > "$runs/smoke-mae-amp.json" 2> "$runs/smoke-mae-amp.err" &
$cli train clip --device cuda --limit 8192 --epochs 1 --batch 256 --log-every 4 --test-limit 1000 --amp off \
  --out "$runs/smoke-clip" > "$runs/smoke-clip.json" 2> "$runs/smoke-clip.err" &
$cli train mae --device cuda --limit 8192 --epochs 1 --batch 1024 --log-every 2 --test-limit 0 --mask block \
  --mask-tokens-in-encoder --out "$runs/smoke-mae-tokens" > "$runs/smoke-tokens.json" 2> "$runs/smoke-tokens.err" &
wait
for f in "$runs"/smoke-*.err; do
  if grep -qi "error\|terminate\|what()" "$f"; then log "FAILED $(basename "$f"): $(grep -i 'error\|what()' "$f" | head -3)"; fi
done
mae_ips=$(last_ips "$runs/smoke-mae/metrics.jsonl" 2>/dev/null || echo 0)
amp_ips=$(last_ips "$runs/smoke-mae-amp/metrics.jsonl" 2>/dev/null || echo 0)
clip_ips=$(last_ips "$runs/smoke-clip/metrics.jsonl" 2>/dev/null || echo 0)
log "images/s side by side: mae fp32 $mae_ips, mae bf16 $amp_ips, clip fp32 $clip_ips"
t=$(date +%s)
$cli eval finetune --device cuda --model "$runs/smoke-mae/model" --limit 16384 --test-limit 2000 --epochs 1 --batch 512 \
  > "$runs/smoke-ft.json" 2> "$runs/smoke-ft.err" || log "FAILED finetune smoke: $(tail -2 "$runs/smoke-ft.err")"
ft_s=$(($(date +%s) - t)); log "finetune smoke: ${ft_s}s for 16384 images + 2000 evaluated"
pack smoke smoke-mae smoke-mae-amp smoke-clip smoke-mae-tokens smoke-ft.json smoke-mae.err smoke-clip.err smoke-ft.err

# 2. The real runs, side by side: MAE then its fine-tuning; CLIP; the four sweeps.
r=$(($(left) - 30))
epochs() { # epochs IMAGES_PER_S SECONDS IMAGES_PER_EPOCH MAX: at 60% of the measured rate (jobs share the card)
  python3 -c "import sys; ips,s,n,m=map(float,sys.argv[1:]); print(max(1, min(int(m), int(0.6*ips*s/n))))" "$@"; }
if [ "$mae_ips" -gt 0 ]; then
  mae_epochs=$(epochs "$mae_ips" $((r * 45 / 100)) 60000 400)
  ft_epochs=$(python3 -c "print(max(1, min(100, int(0.6*$r*0.40/($ft_s*60000/16384.0)))))")
  log "MAE: $mae_epochs epochs, then fine-tuning $ft_epochs epochs"
  ( $cli train mae --device cuda --epochs "$mae_epochs" --batch 1024 --base-lr 3e-4 --warmup-epochs 5 --amp off \
      --seed 0 --eval-every 10 --test-limit 2000 --out "$runs/fmnist-mae" > "$runs/fmnist-mae.json" 2> "$runs/fmnist-mae.err"
    pack mae fmnist-mae fmnist-mae.json fmnist-mae.err
    $cli eval finetune --device cuda --model "$runs/fmnist-mae/model" --epochs "$ft_epochs" --batch 512 --base-lr 1e-3 \
      --layer-decay 0.75 --warmup-epochs 2 --seed 0 > "$runs/finetune.json" 2> "$runs/finetune.err"
    pack finetune finetune.json finetune.err ) &
fi
if [ "$clip_ips" -gt 0 ]; then
  clip_epochs=$(epochs "$clip_ips" $((r * 85 / 100)) 60000 200)
  log "CLIP: $clip_epochs epochs"
  ( $cli train clip --device cuda --epochs "$clip_epochs" --batch 256 --lr 5e-4 --warmup-epochs 2 --amp off --seed 0 \
      --eval-every 5 --test-limit 2000 --out "$runs/fmnist-clip" > "$runs/fmnist-clip.json" 2> "$runs/fmnist-clip.err"
    pack clip fmnist-clip fmnist-clip.json fmnist-clip.err ) &
fi
if [ "$mae_ips" -gt 0 ]; then
  # nine points in the longest sweep; 15 s of each for its probes
  sweep_epochs=$(epochs "$mae_ips" $((r * 85 / 100 / 9 - 15)) 60000 100)
  log "sweeps: $sweep_epochs epochs per point"
  ( for s in mask-strategy mask-ratio mask-tokens norm-pix; do
      $cli sweep "$s" --device cuda --epochs "$sweep_epochs" --batch 1024 --base-lr 3e-4 --warmup-epochs 1 --amp off \
        --probe-limit 10000 --workers 2 --out "$runs/sweep-$s" > "$runs/sweep-$s.json" 2> "$runs/sweep-$s.err" &
    done
    wait
    pack sweeps --exclude='*.safetensors' sweep-mask-strategy sweep-mask-ratio sweep-mask-tokens sweep-norm-pix ) &
fi
# Wait for the jobs, but pack whatever exists before the budget runs out.
while [ -n "$(jobs -r)" ] && [ "$(left)" -gt 20 ]; do sleep 3; done
if [ -n "$(jobs -r)" ]; then
  log "budget reached with jobs running: packing what exists"
  pack partial --exclude='*.safetensors' --exclude='smoke*' .
fi
log "done"
for f in fmnist-mae fmnist-clip finetune; do [ -f "$runs/$f.json" ] && { echo "== $f"; head -c 1500 "$runs/$f.json"; echo; }; done
for s in mask-strategy mask-ratio mask-tokens norm-pix; do echo "== sweep $s"; cat "$runs/sweep-$s/results.csv" 2>/dev/null; done

#!/usr/bin/env bash
# The per-workload thread choice (models/runtime/tuning.h) against both fixed counts, side by
# side: each round runs every workload at --threads 1, --threads <cores> and --threads auto
# with an empty cache (so auto measures and decides in that run), then a table of medians.
# A benchmark, not a test. Usage: tests/bench/threads_side_by_side.sh [BUILD_DIR] [ROUNDS] [OUT_DIR]
set -uo pipefail
build=${1:-build}
rounds=${2:-3}
out=${3:-$build/bench-threads}
cli=$build/bin/vitscope-cli
cores=$(nproc)
[ -x "$cli" ] || { echo "no $cli: build first" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out/runs.jsonl"
workloads=(
    "mae-explore vit-b16|bench mae-explore --preset vit-b16 --repeats 8 --device cpu"
    "mae-explore fmnist|bench mae-explore --preset fmnist --repeats 20 --device cpu"
    "clip-image B/32 batch 8|bench clip-image --preset vit-b32 --batch 8 --repeats 5 --warmup 2 --device cpu"
    "clip-image B/32 batch 1|bench clip-image --preset vit-b32 --batch 1 --repeats 10 --warmup 2 --device cpu"
    "clip-text B/32 one prompt|bench clip-text --preset vit-b32 --tokens 8 --repeats 30 --device cpu"
)
for r in $(seq 1 "$rounds"); do
    for w in "${workloads[@]}"; do
        name=${w%%|*}
        cmd=${w#*|}
        for t in 1 "$cores" auto; do
            cache=$(mktemp -d)
            echo "round $r: $name, --threads $t" >&2
            VITSCOPE_CACHE_DIR=$cache "$cli" $cmd --threads "$t" |
                /usr/bin/python3 -c 'import json,sys; o=json.load(sys.stdin); o["workload"]=sys.argv[1]; o["setting"]=sys.argv[2]; o["round"]=int(sys.argv[3]); print(json.dumps(o))' "$name" "$t" "$r" >> "$out/runs.jsonl"
            rm -rf "$cache"
        done
    done
done
/usr/bin/python3 - "$out/runs.jsonl" "$cores" <<'PY' | tee "$out/table.md"
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
cores = sys.argv[2]
def value(o):
    if o["bench"] == "mae-explore": return o["redraw_ms_median"], "ms per redraw"
    if o["bench"] == "clip-image": return o["images_per_s"], "images/s"
    return o["true_length_ms_median"], "ms per prompt"
order = []
for o in runs:
    if o["workload"] not in order: order.append(o["workload"])
print(f"| workload | unit | 1 thread | {cores} threads | auto | auto chose (per round) | auto vs the better fixed |")
print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
for w in order:
    med = {}
    unit = ""
    for s in ["1", cores, "auto"]:
        vals = [value(o)[0] for o in runs if o["workload"] == w and o["setting"] == s]
        unit = [value(o)[1] for o in runs if o["workload"] == w][0]
        med[s] = statistics.median(vals)
    chose = ",".join(str(o["threads"]) for o in runs if o["workload"] == w and o["setting"] == "auto")
    higher_better = unit == "images/s"
    best = max(med["1"], med[cores]) if higher_better else min(med["1"], med[cores])
    ratio = med["auto"] / best if higher_better else best / med["auto"]
    print(f"| {w} | {unit} | {med['1']:.1f} | {med[cores]:.1f} | {med['auto']:.1f} | {chose} | {ratio:.2f} |")
PY

#!/usr/bin/env bash
# Download throughput of `vitscope-cli pull` against curl fetching the same file from the
# same loopback Hub (vitscope_fake_hub), alternated ROUNDS times, medians printed.
#   tests/bench/download_bench.sh BUILD_DIR MODEL_DIR [ROUNDS]
# MODEL_DIR: a Hugging Face model folder (config.json + model.safetensors), e.g. one made by
# tests/bench/make_load_models.py. Everything stays on 127.0.0.1 / 127.0.0.2.
set -euo pipefail
build=$1; model=$2; rounds=${3:-3}
work=$(mktemp -d); trap 'exec 3>&-; rm -rf "$work"' EXIT
coproc HUB { "$build/bin/vitscope_fake_hub" "$model" bench/model 900; }
exec 3>&"${HUB[1]}"
read -r endpoint <&"${HUB[0]}"
size=$(stat -c %s "$model/model.safetensors")
v=(); c=()
for i in $(seq "$rounds"); do
  rm -rf "$work/hf"
  t0=$(date +%s.%N)
  HF_ENDPOINT=$endpoint HF_HOME=$work/hf "$build/bin/vitscope-cli" pull bench/model >/dev/null 2>&1
  t1=$(date +%s.%N)
  curl -sSL -o "$work/curl.bin" "$endpoint/bench/model/resolve/main/model.safetensors"
  t2=$(date +%s.%N)
  v+=("$(echo "$t1 - $t0" | bc -l)"); c+=("$(echo "$t2 - $t1" | bc -l)")
  rm -f "$work/curl.bin"
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mv=$(median "${v[@]}"); mc=$(median "${c[@]}")
echo "{\"bytes\": $size, \"rounds\": $rounds, \"vitscope_pull_s\": $mv, \"curl_s\": $mc,"
echo " \"vitscope_MBps\": $(echo "$size / $mv / 1000000" | bc -l | cut -c1-7), \"curl_MBps\": $(echo "$size / $mc / 1000000" | bc -l | cut -c1-7),"
echo " \"vitscope_runs_s\": [$(IFS=,; echo "${v[*]}")], \"curl_runs_s\": [$(IFS=,; echo "${c[*]}")]}"

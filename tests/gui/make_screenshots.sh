#!/bin/bash
# make screenshots: every view's PNG into docs/screenshots/, offscreen, then the teacher's
# path (live input, the Get model dialog). Where the tests' loopback Hub was built
# (vitscope_fake_hub, built with the tests), it serves the bundled CLIP as
# vitscope/fmnist-clip so that get-model.png shows what the dialog lists for a model without
# the network; elsewhere the dialog asks the real Hub.
#     tests/gui/make_screenshots.sh BUILD [OUT_DIR]
set -euo pipefail
build=${1:-build}
out=${2:-docs/screenshots}
here=$(cd "$(dirname "$0")/../.." && pwd)
hub="$build/bin/vitscope_fake_hub"
[ -x "$hub" ] || hub="$build/tests/vitscope_fake_hub"
tmp=$(mktemp -d)
trap '[ -n "${HUB_PID:-}" ] && kill "$HUB_PID" 2>/dev/null; rm -rf "$tmp"' EXIT
if [ -x "$hub" ]; then
    # The hub stops when killed at exit, or when its standard input closes, or after 600 s.
    coproc HUB { "$hub" "$here/resources/models/fmnist-clip" vitscope/fmnist-clip 600; }
    read -r endpoint <&"${HUB[0]}"
    export HF_ENDPOINT="$endpoint" HF_HOME="$tmp/hf" VITSCOPE_SCREENSHOT_HUB_ID=vitscope/fmnist-clip
    echo "get-model.png: the loopback Hub at $endpoint serves the bundled CLIP as vitscope/fmnist-clip"
fi
QT_QPA_PLATFORM=offscreen "$build/bin/vitscope" --screenshots "$out"

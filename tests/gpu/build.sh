#!/usr/bin/env bash
# Builds vitscope's headless core (vitscope-cli and the GoogleTest binaries, no Qt, no
# OpenCV) against the LibTorch inside the machine's PyTorch, for a CUDA machine that has no
# package access. Header-only dependencies come from DEPS, made on a Debian machine with
# shared/gpu/collect-deps.sh DEPS (plus DEPS/zlib/zlib.h, zconf.h when the GPU machine has none).
# Usage: tests/gpu/build.sh DEPS BUILD_DIR [ninja targets...]
set -euo pipefail
deps=$(realpath "${1:?usage: build.sh DEPS BUILD_DIR [targets]}")
build=${2:?usage: build.sh DEPS BUILD_DIR [targets]}
shift 2
export PATH=$PATH:/usr/local/cuda/bin
prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')
echo "torch $(python3 -c 'import torch; print(torch.__version__, torch.version.cuda)')  prefix $prefix"
# The card's architecture only: a shorter configure, and no guessing by TorchConfig.
arch=$(python3 -c 'import torch; c = torch.cuda.get_device_capability(); print(f"{c[0]}.{c[1]}")' 2>/dev/null || echo 9.0)
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-$arch}
# A wheel keeps nccl.h in its nvidia-nccl package, outside LibTorch's include folders;
# without it the core builds without the NCCL backend (trainer/distributed.cpp).
nccl=$(python3 - <<'PY' 2>/dev/null
import glob, os, site
roots = site.getsitepackages() + [site.getusersitepackages()]
hits = [h for r in roots for h in glob.glob(os.path.join(r, "nvidia", "**", "nccl.h"), recursive=True)]
print(os.path.dirname(hits[0]) if hits else "")
PY
)
echo "nccl.h: ${nccl:-not found}"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DVITSCOPE_BUILD_GUI=OFF \
      -DVITSCOPE_DEPS_DIR="$deps" -DVITSCOPE_WITH_OPENCV=OFF -DCMAKE_PREFIX_PATH="$prefix" \
      ${nccl:+-DCMAKE_CXX_FLAGS=-isystem$nccl}
ninja -C "$build" -k 0 "$@"

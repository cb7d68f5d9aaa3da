#!/usr/bin/env bash
# Installs vitscope's build, test and run dependencies from Debian 12's packages.
# Idempotent: packages already present are not touched, and apt is not even called
# when nothing is missing. Runs apt-get directly as root, through sudo otherwise.
#
# Usage: packaging/install-deps.sh [--gui|--no-gui]   (default --gui)
set -euo pipefail

core_pkgs=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas0-pthread
  libopencv-dev
  libspdlog-dev libfmt-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  dataset-fashion-mnist
  zlib1g-dev
  libcurl4-openssl-dev libssl-dev libcpp-httplib-dev
  libgloo-dev
  libdnnl-dev
)
gui_pkgs=(
  qt6-base-dev qt6-base-dev-tools qt6-svg-dev
  qt6-multimedia-dev gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  libqcustomplot-dev libqcustomplot2.1-qt6
  xvfb xauth
  appstream desktop-file-utils
)

pkgs=("${core_pkgs[@]}")
case "${1:---gui}" in
  --gui) pkgs+=("${gui_pkgs[@]}") ;;
  --no-gui) ;;
  *) echo "usage: $0 [--gui|--no-gui]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then sudo=(); else
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

# Debian's LibTorch calls the generic BLAS; make sure OpenBLAS is the one it resolves to
# (the reference BLAS is ~15x slower for matrix products).
if command -v update-alternatives >/dev/null; then
  for alt in libblas.so.3-x86_64-linux-gnu liblapack.so.3-x86_64-linux-gnu; do
    best=$(update-alternatives --list "$alt" 2>/dev/null | grep openblas-pthread | head -n 1 || true)
    [ -n "$best" ] && "${sudo[@]}" update-alternatives --set "$alt" "$best" >/dev/null || true
  done
fi
echo "install-deps: done"

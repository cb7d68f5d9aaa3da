# vitscope: the two commands of the README, and a few more.
#   make run    install what is missing, build (Release), open the app
#   make test   install what is missing, build, run the whole test suite (GUI offscreen)
#   make screenshots   regenerate docs/screenshots/
#   make package       build the Debian package
#   make bench         vitscope against PyTorch eager on this CPU, side by side (ROUNDS=3)
BUILD ?= build
BUILD_TYPE ?= Release
GUI ?= ON
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=

.PHONY: all deps configure build run test test-fast cli clean screenshots package bench

all: build

deps:
	@packaging/install-deps.sh $(if $(filter OFF,$(GUI)),--no-gui,--gui)

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE) -DVITSCOPE_BUILD_GUI=$(GUI) $(CMAKE_ARGS)

configure: deps $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: build
	@if [ -z "$$DISPLAY$$WAYLAND_DISPLAY" ] && [ -z "$$QT_QPA_PLATFORM" ]; then \
	  echo "make run: no display found (DISPLAY / WAYLAND_DISPLAY unset)."; \
	  echo "  On a desktop, run it from a graphical session; on a server: xvfb-run -a make run"; \
	  exit 1; fi
	$(BUILD)/bin/vitscope

test: build
	cd $(BUILD) && QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j $(JOBS) --timeout 1500

test-fast: build
	cd $(BUILD) && QT_QPA_PLATFORM=offscreen ctest --output-on-failure -j $(JOBS) -L fast

# Regenerates docs/screenshots/ (one PNG per view), offscreen: no display needed.
screenshots: build
	QT_QPA_PLATFORM=offscreen $(BUILD)/bin/vitscope --screenshots docs/screenshots

# build/vitscope_<version>_amd64.deb (install with: sudo apt install ./build/vitscope_*.deb)
package: build
	cmake --build $(BUILD) --target package

# Issue 18's comparison: vitscope-cli's benches alternated with PyTorch eager (Debian's
# python3-torch), medians and ratios in $(BUILD)/bench-cpu/table.md. Not a test.
ROUNDS ?= 3
bench: build
	@/usr/bin/python3 -c 'import torch' 2>/dev/null || sudo apt-get install -y python3-torch || apt-get install -y python3-torch
	tests/bench/cpu_vs_pytorch.sh $(BUILD) $(ROUNDS)

clean:
	rm -rf $(BUILD)

# vitscope: the two commands of the README, and a few more.
#   make run    install what is missing, build (Release), open the app
#   make test   install what is missing, build, run the whole test suite (GUI offscreen)
#   make screenshots   regenerate docs/screenshots/
#   make package       build the Debian package
#   make bench         vitscope against PyTorch at its best on this CPU, side by side (ROUNDS=3)
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

# The suite runs JOBS tests at once and shares the cores out between them, as torchrun
# shares them between ranks: each test gets nproc / JOBS LibTorch threads (one on a 2-core
# machine; OMP_NUM_THREADS set by hand wins). Two tests with two spinning OpenMP threads
# each on two cores took the suite from 382 s to 430-520 s (docs/build.md); the tests that
# exercise several threads set them themselves.
TEST_THREADS ?= $(shell t=$$(( $$(nproc) / $(JOBS) )); [ $$t -ge 1 ] && echo $$t || echo 1)
TEST_ENV = OMP_NUM_THREADS=$${OMP_NUM_THREADS:-$(TEST_THREADS)} QT_QPA_PLATFORM=offscreen

test: build
	cd $(BUILD) && $(TEST_ENV) ctest --output-on-failure -j $(JOBS) --timeout 1500

test-fast: build
	cd $(BUILD) && $(TEST_ENV) ctest --output-on-failure -j $(JOBS) -L fast

# Regenerates docs/screenshots/ (one PNG per view, live input, the Get model dialog),
# offscreen: no display needed.
screenshots: build
	tests/gui/make_screenshots.sh $(BUILD) docs/screenshots

# build/vitscope_<version>_amd64.deb (install with: sudo apt install ./build/vitscope_*.deb)
package: build
	cmake --build $(BUILD) --target package

# vitscope-cli's benches alternated with PyTorch at its best (Debian's python3-torch under
# every OpenBLAS core type the CPU runs, 1 and all threads, eager and TorchScript frozen),
# beside the machine's GEMM rate and bandwidth; $(BUILD)/bench-cpu/table.md. Not a test.
ROUNDS ?= 3
bench: build
	@/usr/bin/python3 -c 'import torch' 2>/dev/null || sudo apt-get install -y python3-torch || apt-get install -y python3-torch
	tests/bench/cpu_vs_pytorch.sh $(BUILD) $(ROUNDS)

clean:
	rm -rf $(BUILD)

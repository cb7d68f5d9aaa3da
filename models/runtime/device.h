#pragma once
// LibTorch device selection: CUDA when the LibTorch we are built against has it and a
// GPU is present, CPU otherwise. The environment variable VITSCOPE_DEVICE ("cpu",
// "cuda", "cuda:N") overrides the choice; asking for CUDA where there is none throws.
// Thread-safe: the choice is made once, on first use.

#include <string>

#include <torch/types.h>

namespace vitscope {

// The device models and training run on by default.
torch::Device defaultDevice();

// Parses "auto", "cpu", "cuda" or "cuda:N"; throws vitscope::Error for anything else or
// for CUDA when it is unavailable.
torch::Device parseDevice(const std::string &spec);

// Sets LibTorch's intra-op threads to the machine's cores unless OMP_NUM_THREADS says
// otherwise (Debian's OpenMP build otherwise starts with 1 thread on some machines), and
// OpenBLAS to one thread unless OPENBLAS_NUM_THREADS says otherwise (its spinning
// threads slow training down next to LibTorch's OpenMP pool); first of all it sets up
// glibc's malloc for tensors (configureAllocator, models/runtime/allocator.h).
// Idempotent; both front ends call it first thing, defaultDevice() calls it too.
void initTorchRuntime();

// One line for status bars and --version, e.g. "CPU (2 threads)" or "CUDA:0 (1 GPU)".
std::string deviceDescription();

// "1.13.1" and whether this LibTorch was built with CUDA.
std::string torchVersion();
bool torchHasCuda();

} // namespace vitscope

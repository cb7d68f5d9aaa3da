#pragma once
// The linear layers' matrix products, y = x W^T + b, with the kernel chosen at run time.
//
// Torch:  torch::linear, i.e. the BLAS LibTorch was built with (Debian: OpenBLAS).
// OneDnn: oneDNN's sgemm (the library Debian's LibTorch itself links), called on the
//         tensors' own float32 buffers, forward and backward, through an autograd
//         function: no layout conversion, no copy beyond LibTorch's.
// Auto:   whichever of the two is faster on this machine, decided by a short measurement
//         (a few products at the models' shapes, about 1 s) the first time a CPU linear
//         layer runs, then cached per machine (CPU model, instruction set, threads, library
//         versions) in $VITSCOPE_CACHE_DIR or ~/.cache/vitscope/kernels.json. Small
//         products (at most 64 rows: one prompt, one image's few tokens) and large ones are
//         decided separately.
//
// VITSCOPE_LINEAR=auto|torch|onednn sets the starting choice; the benches take --linear.
// Only float32 on the CPU goes through oneDNN; everything else (CUDA, bf16) is
// torch::linear. The math is the same product: results agree to float32 rounding.
#include <string>

#include <torch/torch.h>

namespace vitscope {

enum class LinearKernel { Auto, Torch, OneDnn };

bool oneDnnAvailable(); // built with oneDNN's headers (Debian: libdnnl-dev)
void setLinearKernel(LinearKernel kernel); // OneDnn without oneDNN throws vitscope::Error
LinearKernel linearKernel();               // as set
LinearKernel parseLinearKernel(const std::string &name); // "auto", "torch", "onednn"
std::string linearKernelName(LinearKernel kernel);

// What Auto decided and why, for --version and the benches' JSON.
struct LinearKernelChoice {
    LinearKernel small = LinearKernel::Torch; // products of at most kSmallRows rows
    LinearKernel large = LinearKernel::Torch;
    std::string source; // "set", "measured", "cache", "no oneDNN"
    double torchSeconds = 0, oneDnnSeconds = 0; // the measurement (large shapes), when measured
    std::string cacheFile;
};
constexpr int64_t kSmallRows = 64;
// Resolves Auto (measuring or reading the cache on the first call); cheap afterwards.
LinearKernelChoice linearKernelChoice();
// Forgets the process's decision (tests; the cache file stays).
void resetLinearKernelChoice();
// Measures both kernels now, ignoring the cache (the bench command `linear`).
LinearKernelChoice measureLinearKernels();

// y = x W^T + b. x: (..., K); w: (N, K); b: (N) or undefined. Differentiable in all three.
torch::Tensor linear(const torch::Tensor &x, const torch::Tensor &w, const torch::Tensor &b = {});
// The same product through one kernel, whatever the setting (tests, benches).
torch::Tensor linearWith(LinearKernel kernel, const torch::Tensor &x, const torch::Tensor &w,
                         const torch::Tensor &b = {});

} // namespace vitscope

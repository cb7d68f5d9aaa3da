#pragma once
// Products y = x W^T + b on bfloat16 weights, for the CPU's bfloat16 dot-product instruction
// (AVX512_BF16's vdpbf16ps: 16 float32 sums of two bf16 products each per instruction).
//
// The weight is rounded to bfloat16 once (round to nearest even) and packed in the order the
// kernel reads it: blocks of 16 output rows, and inside a block, for each pair of inputs
// (k, k+1), the 16 rows' two values side by side. A block of W is one contiguous stream,
// read once for every 8 rows of x, so a product on a few rows (one prompt's tokens) reads
// the weight from memory at the rate the memory gives, at half the bytes of float32. x is
// rounded to bfloat16 as it is read; sums, the bias and y are float32.
//
// Used by the opt-in fast path bf16-text (models/kernels/fast_paths.h) where the CPU has the
// instruction (bf16KernelAvailable()); nothing else calls it.
#include <torch/torch.h>

namespace vitscope {

struct PackedBf16Weight {
    torch::Tensor data; // bfloat16, ceil(n / 16) * ceil(k / 2) * 32 values, zero-padded
    int64_t n = 0, k = 0;
    bool defined() const { return data.defined(); }
};

// Built with the kernel (a compiler that knows AVX512_BF16) and the CPU has the instruction.
bool bf16KernelAvailable();
// w: (N, K) float32 on the CPU. Works on any CPU (only the product needs the instruction).
PackedBf16Weight packBf16Weight(const torch::Tensor &w);
// The packed weight as an (N, K) float32 tensor of its bfloat16 values (tests).
torch::Tensor unpackBf16Weight(const PackedBf16Weight &w);
// x: (..., K) float32 on the CPU; b: (N) float32 or undefined -> (..., N) float32. Throws
// vitscope::Error where bf16KernelAvailable() is false or the shapes disagree. Runs under
// LibTorch's intra-op threads (blocks of output rows split between them).
torch::Tensor bf16Linear(const torch::Tensor &x, const PackedBf16Weight &w, const torch::Tensor &b = {});

} // namespace vitscope

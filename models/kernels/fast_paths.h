#pragma once
// Shortcuts that change which kernels run. Each one is behind a switch, so that one run can
// measure with and without it (tests/gpu/check.sh) and a test can hold the two paths against
// each other. All but the last two below are on by default and never change the model's
// math beyond float rounding; bf16-text does (its error is stated in docs/performance.md),
// so it is an option, never a default.
//
//   quickgelu-fold  In inference, QuickGELU's x * sigmoid(1.702 x) (three kernels) becomes
//                   SiLU (one): with z = 1.702 x, x * sigmoid(1.702 x) = SiLU(z) / 1.702, so
//                   1.702 is folded into fc1's weight and bias and 1/1.702 into fc2's weight,
//                   once per version of those weights. The folded copies cost the memory of
//                   fc1 and fc2 again, so by default only on CUDA; "quickgelu-fold-cpu"
//                   extends it to the CPU (tests, measurements).
//   qkv-unbind      The joined q/k/v product is split with unbind, whose backward stacks
//                   the three gradients into one buffer, instead of three selects, whose
//                   backward allocates three zero-filled full-size gradients and sums them.
//   fused-adamw     AdamW's update as LibTorch's fused kernel where it has one for the
//                   parameters' device (_fused_adamw_ on CUDA from LibTorch 2.0 and on the
//                   CPU from 2.4; on CUDA with 1.13, _fused_adam_ after the decoupled decay),
//                   instead of nine multi-tensor passes.
//   inference-mode  The benchmarks' inference runs under c10::InferenceMode (no version
//                   counters, no view tracking) instead of a NoGradGuard.
//   bf16-text       Opt-in. In inference on the CPU, the linear products of CLIP's text
//                   tower read bfloat16 copies of their weights (made once per version of
//                   the weights, half the bytes of float32) and their inputs rounded to
//                   bfloat16; products accumulate and return float32, bias, LayerNorm,
//                   attention and the residual stream stay float32 (models/kernels/bf16_gemm.h).
//                   A new prompt reads its weights from memory once, so this halves what
//                   bounds it. Applies only where the CPU has AVX512_BF16
//                   (bf16KernelAvailable()); elsewhere the switch does nothing. Costs the
//                   text tower's product weights again at half size.
//   bf16-image      Opt-in. The same for CLIP's image tower: its blocks' products on
//                   bfloat16 copies. An image batch is bound by arithmetic, not by reading
//                   weights, and AVX512_BF16 does twice float32's multiply-adds per
//                   instruction (bench matmul's best_bf16). The error on image features is
//                   stated beside bf16-text's.
//
// VITSCOPE_FAST_PATHS, read once: a comma-separated list applied to the defaults in order:
// "name" turns one on, "-name" off, "none" all off, "all" all on (the CPU fold, bf16-text
// and bf16-image stay opt-in), e.g. VITSCOPE_FAST_PATHS=none or VITSCOPE_FAST_PATHS=-fused-adamw.
// An unknown name throws vitscope::Error on first use.
#include <string>

#include <c10/core/GradMode.h>
#include <c10/core/InferenceMode.h>
#include <c10/util/Optional.h>

namespace vitscope {

struct FastPaths {
    bool quickGeluFold = true;
    bool quickGeluFoldCpu = false;
    bool qkvUnbind = true;
    bool fusedAdamW = true;
    bool inferenceMode = true;
    bool bf16Text = false;
    bool bf16Image = false;
};

// The setting in force on the calling thread: a ThreadFastPathsScope's where one is open
// on this thread, else the process's (VITSCOPE_FAST_PATHS over the defaults until set).
// Every switch is read on the thread that calls into the model, never inside a kernel's
// worker threads, so a thread's setting covers all the work its call starts.
FastPaths fastPaths();
void setFastPaths(const FastPaths &paths);
// Applies a VITSCOPE_FAST_PATHS-style list to `base` (throws vitscope::Error on an unknown name).
FastPaths parseFastPaths(const std::string &list, FastPaths base = {});
// The switches that are on, comma-separated ("none" when none is), for the benches' JSON.
std::string fastPathsName(const FastPaths &paths);

// Inference scope of the benchmarks: c10::InferenceMode when inference-mode is on, a
// NoGradGuard otherwise.
class InferenceScope {
public:
    InferenceScope()
    {
        if (fastPaths().inferenceMode)
            m_inference.emplace();
        else
            m_noGrad.emplace(false);
    }

private:
    c10::optional<c10::InferenceMode> m_inference;
    c10::optional<c10::AutoGradMode> m_noGrad;
};

// A setting for the calling thread alone, for the length of a scope (nested scopes
// restore the outer one): one request that chooses its own precision (the zero-shot
// view's bf16 switch) while other threads keep the process's setting.
class ThreadFastPathsScope {
public:
    explicit ThreadFastPathsScope(const FastPaths &paths);
    ~ThreadFastPathsScope();
    ThreadFastPathsScope(const ThreadFastPathsScope &) = delete;
    ThreadFastPathsScope &operator=(const ThreadFastPathsScope &) = delete;

private:
    bool m_hadOuter;
    FastPaths m_outer;
};

// The process's switches set for the length of a scope (tests and benchmarks), restored after.
class FastPathsScope {
public:
    explicit FastPathsScope(const FastPaths &paths) : m_saved(fastPaths()) { setFastPaths(paths); }
    ~FastPathsScope() { setFastPaths(m_saved); }
    FastPathsScope(const FastPathsScope &) = delete;
    FastPathsScope &operator=(const FastPathsScope &) = delete;

private:
    FastPaths m_saved;
};

} // namespace vitscope

#pragma once
// AdamW (decoupled weight decay, Loshchilov & Hutter; the update of torch.optim.AdamW)
// with named parameter groups and a state that is saved to and restored from plain
// tensors (checkpoints are safetensors, never pickles), and the learning-rate schedule
// of MAE and CLIP: linear warmup, then cosine decay to zero.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/checkpoints/safetensors.h"

namespace vitscope::train {

struct ParamGroup {
    std::vector<std::string> names;
    std::vector<torch::Tensor> params;
    double weightDecay = 0.0;
    double lrScale = 1.0; // layer-wise learning-rate decay (fine-tuning)
};

// The update runs as LibTorch's fused AdamW kernel where it has one for the parameters'
// device (CUDA; the CPU from LibTorch 2.4) and the fused-adamw fast path is on
// (models/kernels/fast_paths.h); otherwise as multi-tensor (foreach) operations over each
// group: on CUDA a handful of kernel launches per group instead of several per parameter,
// on the CPU the same arithmetic, parameter by parameter. Both give torch.optim.AdamW's
// update to float32 rounding.
class AdamW {
public:
    AdamW(std::vector<ParamGroup> groups, double beta1, double beta2, double eps = 1e-8);
    void zeroGrad();
    void step(double lr);
    int64_t steps() const { return m_steps; }
    // "exp_avg.NAME" and "exp_avg_sq.NAME" for every parameter.
    TensorMap state() const;
    // Restores a state() (FileError-free: throws vitscope::Error naming a missing tensor).
    void loadState(const TensorMap &state, int64_t steps);
    const std::vector<ParamGroup> &groups() const { return m_groups; }
    // Global L2 norm of all gradients (float64, on the gradients' device); when it exceeds
    // maxNorm > 0 every gradient is scaled by maxNorm / (norm + 1e-6). Returns the norm
    // before clipping. Decided on the device: no host synchronisation.
    torch::Tensor clipGradNorm(double maxNorm);

private:
    std::vector<ParamGroup> m_groups;
    std::vector<std::vector<torch::Tensor>> m_expAvg, m_expAvgSq;
    double m_beta1, m_beta2, m_eps;
    int64_t m_steps = 0;
    // The step count as the fused kernel reads it: one float32 scalar per group on the
    // parameters' device, refilled before each fused update.
    std::vector<torch::Tensor> m_fusedStep;
};

// Linear warmup from 0 over `warmup` steps, then cosine from base to 0 at `total`.
double warmupCosine(int64_t step, int64_t total, int64_t warmup, double base);

// Splits named parameters into a decayed group and a group without weight decay: 1-D
// tensors (norm gains, biases), names ending in ".bias", and names in `noDecay` (tokens,
// position embeddings, logit_scale).
std::vector<ParamGroup> decayGroups(const torch::OrderedDict<std::string, torch::Tensor> &named, double weightDecay,
                                    const std::vector<std::string> &noDecay);

} // namespace vitscope::train

#pragma once
// The fused AdamW update (models/kernels/fast_paths.h, fused-adamw) against the foreach
// update it replaces: two optimizers, two groups (decay and a layer-wise lr scale; no
// decay), the same gradients for several steps. Returns the largest relative difference
// of the parameters; -1 where LibTorch has no fused kernel for `device`.
#include <algorithm>
#include <vector>

#include <torch/torch.h>

#include "models/kernels/fast_paths.h"
#include "models/torch_compat.h"
#include "trainer/optim.h"

namespace vitscope::test {

inline double fusedAgainstForeachAdamW(torch::Device device, int steps = 6)
{
    if (!compat::hasFusedAdamW(device.type()))
        return -1;
    torch::manual_seed(11);
    auto make = [&] {
        std::vector<torch::Tensor> p{torch::randn({48, 24}), torch::randn({24}), torch::randn({2, 3, 5})};
        for (auto &t : p)
            t = t.to(device).requires_grad_();
        return p;
    };
    auto fused = make(), foreach = make();
    for (std::size_t i = 0; i < fused.size(); ++i) {
        torch::NoGradGuard g;
        foreach[i].copy_(fused[i]);
    }
    auto groups = [](const std::vector<torch::Tensor> &p) {
        return std::vector<train::ParamGroup>{{{"w", "b"}, {p[0], p[1]}, 0.05, 0.5}, {{"t"}, {p[2]}, 0.0, 1.0}};
    };
    train::AdamW a(groups(fused), 0.9, 0.95), b(groups(foreach), 0.9, 0.95);
    for (int s = 0; s < steps; ++s) {
        for (std::size_t i = 0; i < fused.size(); ++i) {
            auto g = torch::randn(fused[i].sizes()).to(device);
            fused[i].mutable_grad() = g;
            foreach[i].mutable_grad() = g.clone();
        }
        FastPaths on = fastPaths(), off = on;
        on.fusedAdamW = true, off.fusedAdamW = false;
        {
            const FastPathsScope scope(on);
            a.step(1e-2);
        }
        const FastPathsScope scope(off);
        b.step(1e-2);
    }
    double worst = 0;
    for (std::size_t i = 0; i < fused.size(); ++i) {
        auto x = fused[i].detach().to(torch::kCPU, torch::kFloat64), y = foreach[i].detach().to(torch::kCPU, torch::kFloat64);
        worst = std::max(worst, (x - y).abs().max().item<double>() / (1e-12 + y.abs().max().item<double>()));
    }
    return worst;
}

} // namespace vitscope::test

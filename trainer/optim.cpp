#include "trainer/optim.h"

#include <algorithm>
#include <cmath>

#include "models/error.h"
#include "models/kernels/fast_paths.h"
#include "models/torch_compat.h"

namespace vitscope::train {

namespace {

// The fused kernel takes one device and one floating dtype per call, dense gradients of
// the same dtype.
bool fusedStepRuns(const std::vector<torch::Tensor> &params, const std::vector<torch::Tensor> &grads)
{
    if (params.empty() || !fastPaths().fusedAdamW || !compat::hasFusedAdamW(params[0].device().type()))
        return false;
    for (std::size_t i = 0; i < params.size(); ++i)
        if (params[i].device() != params[0].device() || params[i].scalar_type() != params[0].scalar_type() ||
            !params[i].is_floating_point() || grads[i].scalar_type() != params[i].scalar_type() ||
            grads[i].is_sparse())
            return false;
    return true;
}

} // namespace

AdamW::AdamW(std::vector<ParamGroup> groups, double beta1, double beta2, double eps)
    : m_groups(std::move(groups)), m_beta1(beta1), m_beta2(beta2), m_eps(eps)
{
    for (const auto &g : m_groups) {
        std::vector<torch::Tensor> a, b;
        for (const auto &p : g.params) {
            a.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
            b.push_back(torch::zeros_like(p, torch::MemoryFormat::Preserve));
        }
        m_expAvg.push_back(std::move(a));
        m_expAvgSq.push_back(std::move(b));
    }
    m_fusedStep.resize(m_groups.size());
}

void AdamW::zeroGrad()
{
    for (auto &g : m_groups)
        for (auto &p : g.params)
            if (p.grad().defined())
                p.mutable_grad() = torch::Tensor();
}

void AdamW::step(double lr)
{
    torch::NoGradGuard noGrad;
    ++m_steps;
    const double bc1 = 1.0 - std::pow(m_beta1, double(m_steps));
    const double bc2 = 1.0 - std::pow(m_beta2, double(m_steps));
    for (std::size_t gi = 0; gi < m_groups.size(); ++gi) {
        auto &g = m_groups[gi];
        const double glr = lr * g.lrScale;
        std::vector<torch::Tensor> params, grads, m, v;
        for (std::size_t i = 0; i < g.params.size(); ++i) {
            if (!g.params[i].grad().defined())
                continue;
            params.push_back(g.params[i]);
            grads.push_back(g.params[i].grad());
            m.push_back(m_expAvg[gi][i]);
            v.push_back(m_expAvgSq[gi][i]);
        }
        if (params.empty())
            continue;
        if (fusedStepRuns(params, grads)) {
            auto &step = m_fusedStep[gi];
            if (!step.defined() || step.device() != params[0].device())
                step = torch::zeros({}, torch::TensorOptions(torch::kFloat32).device(params[0].device()));
            step.fill_(double(m_steps)); // a device-side fill, no synchronisation
            const std::vector<torch::Tensor> steps(params.size(), step);
            compat::fusedAdamW(params, grads, m, v, steps, glr, m_beta1, m_beta2, g.weightDecay, m_eps);
            continue;
        }
        // p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
        // p -= lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps)   (torch.optim.AdamW)
        if (g.weightDecay != 0)
            at::_foreach_mul_(params, 1.0 - glr * g.weightDecay);
        at::_foreach_mul_(m, m_beta1);
        at::_foreach_add_(m, grads, 1.0 - m_beta1);
        at::_foreach_mul_(v, m_beta2);
        at::_foreach_addcmul_(v, grads, grads, 1.0 - m_beta2);
        auto denom = at::_foreach_sqrt(v);
        at::_foreach_div_(denom, std::sqrt(bc2));
        at::_foreach_add_(denom, m_eps);
        at::_foreach_addcdiv_(params, m, denom, -glr / bc1);
    }
}

torch::Tensor AdamW::clipGradNorm(double maxNorm)
{
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> grads, norms;
    for (auto &g : m_groups)
        for (auto &p : g.params)
            if (p.grad().defined()) {
                grads.push_back(p.grad());
                norms.push_back(p.grad().norm(2).to(torch::kFloat64));
            }
    if (norms.empty())
        return torch::zeros({}, torch::kFloat64);
    auto total = torch::stack(norms).norm(2);
    if (maxNorm > 0) {
        // 1 when within the limit (an exact no-op), else maxNorm / (total + 1e-6).
        auto scale = torch::where(total > maxNorm, maxNorm / (total + 1e-6), torch::ones_like(total));
        for (auto &grad : grads)
            grad.mul_(scale);
    }
    return total;
}

TensorMap AdamW::state() const
{
    TensorMap out;
    for (std::size_t gi = 0; gi < m_groups.size(); ++gi)
        for (std::size_t i = 0; i < m_groups[gi].params.size(); ++i) {
            out["exp_avg." + m_groups[gi].names[i]] = m_expAvg[gi][i];
            out["exp_avg_sq." + m_groups[gi].names[i]] = m_expAvgSq[gi][i];
        }
    return out;
}

void AdamW::loadState(const TensorMap &state, int64_t steps)
{
    torch::NoGradGuard noGrad;
    for (std::size_t gi = 0; gi < m_groups.size(); ++gi)
        for (std::size_t i = 0; i < m_groups[gi].params.size(); ++i)
            for (auto *slot : {&m_expAvg[gi][i], &m_expAvgSq[gi][i]}) {
                const std::string key = (slot == &m_expAvg[gi][i] ? "exp_avg." : "exp_avg_sq.") + m_groups[gi].names[i];
                auto it = state.find(key);
                if (it == state.end())
                    throw Error("optimizer state lacks " + key);
                if (it->second.sizes() != slot->sizes())
                    throw Error("optimizer state " + key + " has the wrong shape");
                slot->copy_(it->second);
            }
    m_steps = steps;
}

double warmupCosine(int64_t step, int64_t total, int64_t warmup, double base)
{
    if (warmup > 0 && step < warmup)
        return base * double(step) / double(warmup);
    if (total <= warmup)
        return base;
    const double progress = std::min(1.0, double(step - warmup) / double(total - warmup));
    return base * 0.5 * (1.0 + std::cos(M_PI * progress));
}

std::vector<ParamGroup> decayGroups(const torch::OrderedDict<std::string, torch::Tensor> &named, double weightDecay,
                                    const std::vector<std::string> &noDecay)
{
    ParamGroup decay, plain;
    decay.weightDecay = weightDecay;
    for (const auto &item : named) {
        const std::string &name = item.key();
        const auto &p = item.value();
        if (!p.requires_grad())
            continue;
        const bool skip = p.dim() <= 1 || (name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0) ||
                          std::find(noDecay.begin(), noDecay.end(), name) != noDecay.end();
        auto &g = skip ? plain : decay;
        g.names.push_back(name);
        g.params.push_back(p);
    }
    return {decay, plain};
}

} // namespace vitscope::train

#pragma once
// The pre-LN transformer block of models/vit.h with QuickGELU, written out in float64 from
// its definition, for tests that hold a fast path against it:
//   y = x + proj(attn(ln1(x))), out = y + fc2(m * sigmoid(1.702 m)) with m = fc1(ln2(y)),
// attn the softmax of q k^T / sqrt(d) (with the causal mask when asked) times v.
// `round`, when given, is applied to the input and the weight of each of the six products
// (e.g. to bfloat16 by hand, for the bf16-text path).
#include <cmath>
#include <functional>
#include <limits>

#include <torch/torch.h>

#include "models/vit.h"

namespace vitscope::test {

inline torch::Tensor quickGeluBlockInFloat64(TransformerBlock &block, const torch::Tensor &x, bool causal = false,
                                             const std::function<torch::Tensor(const torch::Tensor &)> &round = {})
{
    const auto &c = block->config;
    const int64_t B = x.size(0), N = x.size(1), D = c.dim, H = c.heads, hd = D / H;
    auto d = [](const torch::Tensor &t) { return t.detach().to(torch::kFloat64); };
    auto lin = [&](const torch::nn::Linear &l, const torch::Tensor &t) {
        const auto in = round ? round(t) : t;
        const auto w = round ? round(l->weight.detach()) : d(l->weight);
        return torch::matmul(in, w.t()) + d(l->bias);
    };
    auto ln = [&](const torch::nn::LayerNorm &n, const torch::Tensor &t) {
        auto mu = t.mean(-1, true);
        auto var = (t - mu).pow(2).mean(-1, true);
        return (t - mu) / torch::sqrt(var + c.layerNormEps) * d(n->weight) + d(n->bias);
    };
    auto xd = d(x);
    auto h = ln(block->norm1, xd);
    auto split = [&](const torch::Tensor &t) { return t.view({B, N, H, hd}).transpose(1, 2); };
    auto q = split(lin(block->q, h)), k = split(lin(block->k, h)), v = split(lin(block->v, h));
    auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(hd));
    if (causal)
        scores = scores + torch::full({N, N}, -std::numeric_limits<double>::infinity(), torch::kFloat64).triu(1);
    auto y = xd + lin(block->proj, torch::matmul(torch::softmax(scores, -1), v).transpose(1, 2).reshape({B, N, D}));
    auto m = lin(block->fc1, ln(block->norm2, y));
    return y + lin(block->fc2, m * torch::sigmoid(1.702 * m));
}

} // namespace vitscope::test

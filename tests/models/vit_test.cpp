#include <gtest/gtest.h>

#include <cmath>

#include "models/error.h"
#include "models/torch_compat.h"
#include "models/vit.h"

using namespace vitscope;

// The closed form of REFERENCE.md, computed with std::sin/cos in double.
TEST(PositionEmbedding, MatchesTheClosedForm)
{
    const int64_t D = 16, gh = 3, gw = 5;
    const auto emb = sincos2dPositionEmbedding(D, gh, gw, true);
    ASSERT_EQ(emb.sizes(), (std::vector<int64_t>{1 + gh * gw, D}));
    auto a = emb.accessor<float, 2>();
    for (int64_t j = 0; j < D; ++j)
        EXPECT_EQ(a[0][j], 0.0f) << "class row must be zero";
    const int64_t Q = D / 4;
    for (int64_t h = 0; h < gh; ++h)
        for (int64_t w = 0; w < gw; ++w) {
            const int64_t row = 1 + h * gw + w;
            for (int64_t k = 0; k < Q; ++k) {
                const double omega = 1.0 / std::pow(10000.0, double(k) / double(Q));
                EXPECT_NEAR(a[row][k], std::sin(w * omega), 1e-6);             // column first
                EXPECT_NEAR(a[row][Q + k], std::cos(w * omega), 1e-6);
                EXPECT_NEAR(a[row][2 * Q + k], std::sin(h * omega), 1e-6);     // then row
                EXPECT_NEAR(a[row][3 * Q + k], std::cos(h * omega), 1e-6);
            }
        }
    EXPECT_EQ(sincos2dPositionEmbedding(D, gh, gw, false).size(0), gh * gw);
}

// Each pixel holds 100*c + 10*y + x; patch order and (row, col, channel) order inside a
// patch are read off directly.
TEST(Patchify, RowMajorPatchesChannelsFastest)
{
    const int64_t C = 2, H = 4, W = 6, p = 2;
    auto img = torch::zeros({1, C, H, W});
    for (int64_t c = 0; c < C; ++c)
        for (int64_t y = 0; y < H; ++y)
            for (int64_t x = 0; x < W; ++x)
                img[0][c][y][x] = float(100 * c + 10 * y + x);
    auto patches = patchify(img, p);
    ASSERT_EQ(patches.sizes(), (std::vector<int64_t>{1, (H / p) * (W / p), p * p * C}));
    auto a = patches.accessor<float, 3>();
    for (int64_t py = 0; py < H / p; ++py)
        for (int64_t px = 0; px < W / p; ++px)
            for (int64_t r = 0; r < p; ++r)
                for (int64_t col = 0; col < p; ++col)
                    for (int64_t c = 0; c < C; ++c)
                        EXPECT_EQ(a[0][py * (W / p) + px][(r * p + col) * C + c],
                                  float(100 * c + 10 * (py * p + r) + (px * p + col)));
}

TEST(Patchify, UnpatchifyInvertsIt)
{
    torch::manual_seed(0);
    auto img = torch::randn({3, 3, 12, 12});
    auto back = unpatchify(patchify(img, 4), 4, 3, 3, 3);
    EXPECT_TRUE(torch::equal(back, img));
    EXPECT_THROW(patchify(torch::zeros({1, 1, 10, 10}), 4), std::exception);
}

// The block's attention against a per-head loop in double precision.
TEST(TransformerBlock, MatchesANaiveComputation)
{
    torch::manual_seed(1);
    BlockConfig cfg{8, 2, 16, 1e-6, true, Activation::Gelu};
    TransformerBlock block(cfg);
    auto x = torch::randn({2, 5, 8});
    auto y = block->forward(x);

    auto xd = x.to(torch::kFloat64);
    auto lin = [](const torch::nn::Linear &l, const torch::Tensor &t) {
        return torch::matmul(t, l->weight.to(torch::kFloat64).t()) + l->bias.to(torch::kFloat64);
    };
    auto ln = [](const torch::Tensor &t) {
        auto mu = t.mean(-1, true);
        auto var = (t - mu).pow(2).mean(-1, true);
        return (t - mu) / torch::sqrt(var + 1e-6);
    };
    auto h = ln(xd);
    auto q = lin(block->q, h), k = lin(block->k, h), v = lin(block->v, h);
    auto out = torch::zeros_like(xd);
    for (int64_t b = 0; b < 2; ++b)
        for (int64_t head = 0; head < 2; ++head) {
            auto qs = q[b].narrow(1, head * 4, 4), ks = k[b].narrow(1, head * 4, 4), vs = v[b].narrow(1, head * 4, 4);
            auto att = torch::softmax(torch::matmul(qs, ks.t()) / 2.0, -1); // sqrt(4) = 2
            out[b].narrow(1, head * 4, 4).copy_(torch::matmul(att, vs));
        }
    auto r = xd + lin(block->proj, out);
    auto m = lin(block->fc1, ln(r));
    m = 0.5 * m * (1 + torch::erf(m / std::sqrt(2.0))); // exact GELU
    auto expected = r + lin(block->fc2, m);
    EXPECT_LT((y.to(torch::kFloat64) - expected).abs().max().item<double>(), 1e-5);
}

TEST(Activation, QuickGeluAndParsing)
{
    auto x = torch::linspace(-3, 3, 13);
    auto q = applyActivation(x, parseActivation("quick_gelu"));
    for (int i = 0; i < 13; ++i) {
        const double v = x[i].item<double>();
        EXPECT_NEAR(q[i].item<double>(), v / (1 + std::exp(-1.702 * v)), 1e-6);
    }
    EXPECT_THROW(parseActivation("swish"), std::exception);
}

namespace {

// softmax(q k^T / sqrt(d) + mask) v with loops in double, one (batch, head) at a time.
torch::Tensor naiveAttention(const torch::Tensor &q, const torch::Tensor &k, const torch::Tensor &v,
                             const torch::Tensor &mask, bool causal)
{
    const int64_t B = q.size(0), H = q.size(1), N = q.size(2), M = k.size(2), d = q.size(3);
    auto Q = q.to(torch::kFloat64).contiguous(), K = k.to(torch::kFloat64).contiguous();
    auto V = v.to(torch::kFloat64).contiguous();
    auto out = torch::zeros({B, H, N, d}, torch::kFloat64);
    auto qa = Q.accessor<double, 4>(), ka = K.accessor<double, 4>(), va = V.accessor<double, 4>();
    auto oa = out.accessor<double, 4>();
    for (int64_t b = 0; b < B; ++b)
        for (int64_t h = 0; h < H; ++h)
            for (int64_t i = 0; i < N; ++i) {
                std::vector<double> s(M);
                double top = -INFINITY;
                for (int64_t j = 0; j < M; ++j) {
                    double dot = 0;
                    for (int64_t c = 0; c < d; ++c)
                        dot += qa[b][h][i][c] * ka[b][h][j][c];
                    s[j] = dot / std::sqrt(double(d));
                    if (mask.defined())
                        s[j] += mask[i][j].item<double>();
                    if (causal && j > i)
                        s[j] = -INFINITY;
                    top = std::max(top, s[j]);
                }
                double z = 0;
                for (auto &x : s)
                    z += (x = std::exp(x - top));
                for (int64_t c = 0; c < d; ++c) {
                    double acc = 0;
                    for (int64_t j = 0; j < M; ++j)
                        acc += s[j] / z * va[b][h][j][c];
                    oa[b][h][i][c] = acc;
                }
            }
    return out;
}

double absGap(const torch::Tensor &a, const torch::Tensor &b)
{
    return (a.to(torch::kFloat64) - b.to(torch::kFloat64)).abs().max().item<double>();
}

// Restores the process-wide kernel choice when a test ends.
struct AttentionKernelGuard {
    AttentionKernel saved = attentionKernel();
    ~AttentionKernelGuard() { setAttentionKernel(saved); }
};

} // namespace

TEST(Attention, BothKernelsMatchALoopInDouble)
{
    AttentionKernelGuard guard;
    torch::manual_seed(3);
    auto q = torch::randn({2, 3, 7, 8}), k = torch::randn({2, 3, 7, 8}), v = torch::randn({2, 3, 7, 8});
    // An additive mask with one forbidden pair per row (never a whole row).
    auto mask = torch::zeros({7, 7});
    for (int64_t i = 0; i < 7; ++i)
        mask[i][(i + 3) % 7] = -INFINITY;
    mask[2][4] = -1.5;
    std::vector<AttentionKernel> kernels{AttentionKernel::Explicit};
    if (compat::hasFusedAttention())
        kernels.push_back(AttentionKernel::Fused);
    for (const auto kernel : kernels) {
        setAttentionKernel(kernel);
        SCOPED_TRACE(attentionKernelName(kernel));
        EXPECT_LT(absGap(attention(q, k, v), naiveAttention(q, k, v, {}, false)), 1e-5);
        EXPECT_LT(absGap(attention(q, k, v, {}, true), naiveAttention(q, k, v, {}, true)), 1e-5);
        EXPECT_LT(absGap(attention(q, k, v, mask), naiveAttention(q, k, v, mask, false)), 1e-5);
        // Causal: the first position sees only itself, so its output is v's first row.
        EXPECT_LT(absGap(attention(q, k, v, {}, true).select(2, 0), v.select(2, 0)), 1e-6);
    }
    EXPECT_LT(absGap(explicitAttention(q, k, v, {}, true), naiveAttention(q, k, v, {}, true)), 1e-5);
}

TEST(Attention, KernelChoiceFollowsTheLibTorchVersion)
{
    AttentionKernelGuard guard;
    setAttentionKernel(AttentionKernel::Auto);
    EXPECT_EQ(usesFusedAttention(), TORCH_VERSION_MAJOR >= 2) << "Auto is fused exactly where LibTorch has it";
    setAttentionKernel(AttentionKernel::Explicit);
    EXPECT_FALSE(usesFusedAttention());
    if (TORCH_VERSION_MAJOR >= 2) {
        setAttentionKernel(AttentionKernel::Fused);
        EXPECT_TRUE(usesFusedAttention());
    } else {
        try {
            setAttentionKernel(AttentionKernel::Fused);
            FAIL() << "fused attention accepted on LibTorch " << TORCH_VERSION;
        } catch (const Error &e) {
            EXPECT_NE(std::string(e.what()).find(TORCH_VERSION), std::string::npos) << e.what();
        }
        EXPECT_FALSE(usesFusedAttention()) << "a refused choice leaves the old one";
    }
    for (const char *name : {"auto", "explicit", "fused"})
        EXPECT_EQ(attentionKernelName(parseAttentionKernel(name)), name);
    EXPECT_THROW(parseAttentionKernel("flash"), Error);
}

// The causal flag and the same constraint written as an additive -inf mask are one thing.
TEST(TransformerBlock, CausalFlagEqualsAnExplicitCausalMask)
{
    torch::manual_seed(4);
    BlockConfig cfg;
    cfg.dim = 16, cfg.heads = 4, cfg.mlpDim = 32, cfg.activation = Activation::QuickGelu;
    TransformerBlock block(cfg);
    auto x = torch::randn({3, 6, 16});
    auto mask = torch::full({6, 6}, -INFINITY).triu(1);
    torch::NoGradGuard ng;
    EXPECT_LT(absGap(block->forward(x, {}, true), block->forward(x, mask)), 1e-6);
    EXPECT_GT(absGap(block->forward(x, {}, true), block->forward(x)), 1e-3) << "causality changes the output";
}

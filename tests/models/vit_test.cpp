#include <gtest/gtest.h>

#include <cmath>

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

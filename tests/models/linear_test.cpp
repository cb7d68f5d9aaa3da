// The linear layers' kernels (models/linear.h): oneDNN's sgemm against torch::linear and a
// hand-worked product, forward and backward; the joined q/k/v product of a block against
// three separate products; the per-machine choice and its cache.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/error.h"
#include "models/kernels/linear.h"
#include "models/mae.h"
#include "models/masking.h"
#include "models/vit.h"
#include "tests/common/temp_dir.h"

namespace vitscope {
namespace {

// Restores the process-wide kernel setting (and the cache folder) when a test ends.
struct LinearKernelGuard {
    LinearKernel saved = linearKernel();
    ~LinearKernelGuard()
    {
        setLinearKernel(saved);
        resetLinearKernelChoice();
    }
};

double maxRel(const torch::Tensor &a, const torch::Tensor &b)
{
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item<double>();
}

#define REQUIRE_ONEDNN()                                                                                     \
    if (!oneDnnAvailable())                                                                                  \
    GTEST_SKIP() << "built without oneDNN's headers (libdnnl-dev)"

TEST(LinearKernel, HandWorkedProductThroughEachKernel)
{
    REQUIRE_ONEDNN();
    // x = [[1, 2], [3, 4]], W = [[1, 0], [0, 1], [1, 1]], b = [0.5, 0, -1]:
    // x W^T + b = [[1.5, 2, 2], [3.5, 4, 6]] by hand.
    auto x = torch::tensor({1.f, 2.f, 3.f, 4.f}).view({2, 2});
    auto w = torch::tensor({1.f, 0.f, 0.f, 1.f, 1.f, 1.f}).view({3, 2});
    auto b = torch::tensor({0.5f, 0.f, -1.f});
    const auto expected = torch::tensor({1.5f, 2.f, 2.f, 3.5f, 4.f, 6.f}).view({2, 3});
    for (auto k : {LinearKernel::Torch, LinearKernel::OneDnn}) {
        EXPECT_TRUE(torch::equal(linearWith(k, x, w, b), expected)) << linearKernelName(k);
        EXPECT_TRUE(torch::equal(linearWith(k, x, w), expected - b)) << linearKernelName(k) << " without bias";
    }
}

TEST(LinearKernel, OneDnnMatchesTorchForwardAndBackward)
{
    REQUIRE_ONEDNN();
    torch::manual_seed(0);
    for (bool bias : {true, false}) {
        // (2, 37, 96) inputs, a transposed (non-contiguous) view among them, 80 outputs.
        auto base = torch::randn({2, 96, 37});
        auto w0 = torch::randn({80, 96}) * 0.1, b0 = torch::randn({80});
        auto gy = torch::randn({2, 37, 80});
        auto run = [&](LinearKernel k) {
            auto x = base.clone().requires_grad_(true);
            auto w = w0.clone().requires_grad_(true), b = b0.clone().requires_grad_(true);
            auto y = linearWith(k, x.transpose(1, 2), w, bias ? b : torch::Tensor());
            (y * gy).sum().backward();
            return std::vector<torch::Tensor>{y.detach(), x.grad(), w.grad(), bias ? b.grad() : torch::zeros({1})};
        };
        const auto ref = run(LinearKernel::Torch), got = run(LinearKernel::OneDnn);
        const char *names[] = {"output", "grad x", "grad W", "grad b"};
        for (int i = 0; i < 4; ++i)
            EXPECT_LT(maxRel(got[i], ref[i]), 1e-5) << names[i] << (bias ? "" : " (no bias)");
    }
}

TEST(LinearKernel, OnlyTheInputsThatNeedGradientsGetThem)
{
    REQUIRE_ONEDNN();
    auto x = torch::randn({70, 16});
    auto w = torch::randn({8, 16}).requires_grad_(true);
    auto b = torch::randn({8});
    linearWith(LinearKernel::OneDnn, x, w, b).sum().backward();
    ASSERT_TRUE(w.grad().defined());
    // d/dW of sum(x W^T) = column sums of x, for each output row.
    EXPECT_LT(maxRel(w.grad(), x.sum(0).unsqueeze(0).expand({8, 16})), 1e-5);
    EXPECT_FALSE(x.grad().defined());
}

TEST(LinearKernel, InferenceModeAndOtherDtypesFallBackCorrectly)
{
    REQUIRE_ONEDNN();
    auto x = torch::randn({5, 12}), w = torch::randn({7, 12}), b = torch::randn({7});
    const auto ref = torch::linear(x, w, b);
    {
        c10::InferenceMode guard;
        EXPECT_LT(maxRel(linearWith(LinearKernel::OneDnn, x, w, b), ref), 1e-6);
    }
    // float64 is not oneDNN's: torch::linear answers, exactly.
    auto xd = x.to(torch::kFloat64), wd = w.to(torch::kFloat64), bd = b.to(torch::kFloat64);
    EXPECT_TRUE(torch::equal(linearWith(LinearKernel::OneDnn, xd, wd, bd), torch::linear(xd, wd, bd)));
}

TEST(LinearKernel, BlockWithJoinedQkvMatchesThreeSeparateProducts)
{
    LinearKernelGuard guard;
    torch::manual_seed(1);
    BlockConfig cfg;
    cfg.dim = 32, cfg.heads = 4, cfg.mlpDim = 64;
    TransformerBlock block(cfg);
    auto x = torch::randn({3, 30, 32}); // 90 rows: the joined product
    // The block written out with three separate products, explicit attention, exact GELU.
    auto reference = [&](const torch::Tensor &in) {
        const int64_t B = in.size(0), N = in.size(1), D = 32, H = 4, hd = 8;
        auto h = torch::layer_norm(in, {D}, block->norm1->weight, block->norm1->bias, cfg.layerNormEps);
        auto heads = [&](torch::nn::Linear &l) {
            return torch::linear(h, l->weight, l->bias).view({B, N, H, hd}).transpose(1, 2);
        };
        auto q = heads(block->q), k = heads(block->k), v = heads(block->v);
        auto a = torch::softmax(torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(hd)), -1);
        auto o = torch::matmul(a, v).transpose(1, 2).reshape({B, N, D});
        auto y = in + torch::linear(o, block->proj->weight, block->proj->bias);
        auto m = torch::layer_norm(y, {D}, block->norm2->weight, block->norm2->bias, cfg.layerNormEps);
        return y + torch::linear(torch::gelu(torch::linear(m, block->fc1->weight, block->fc1->bias)),
                                 block->fc2->weight, block->fc2->bias);
    };
    const auto expected = reference(x);
    for (auto k : {LinearKernel::Torch, LinearKernel::OneDnn}) {
        if (k == LinearKernel::OneDnn && !oneDnnAvailable())
            continue;
        setLinearKernel(k);
        EXPECT_LT(maxRel(block->forward(x), expected), 1e-5) << linearKernelName(k) << ", 90 rows (joined q/k/v)";
        auto small = x.narrow(1, 0, 20).narrow(0, 0, 2); // 40 rows: three products
        EXPECT_LT(maxRel(block->forward(small), reference(small)), 1e-5) << linearKernelName(k) << ", 40 rows";
    }
    // The joined product sends each of q, k and v its own gradient.
    setLinearKernel(LinearKernel::Torch);
    block->zero_grad();
    auto xg = x.clone();
    block->forward(xg).pow(2).sum().backward();
    const auto joined = block->k->weight.grad().clone();
    block->zero_grad();
    reference(xg).pow(2).sum().backward();
    EXPECT_LT(maxRel(joined, block->k->weight.grad()), 1e-4);
}

TEST(LinearKernel, MaeTrainingStepIsTheSameWithEitherKernel)
{
    REQUIRE_ONEDNN();
    LinearKernelGuard guard;
    auto cfg = MaeConfig::preset("fmnist");
    cfg.numHiddenLayers = 2;
    torch::manual_seed(3);
    Mae model(cfg);
    auto imgs = torch::randn({16, 1, 32, 32});
    MaskSpec spec;
    spec.ratio = 0.75, spec.seed = 9;
    const Masking m = makeMasking(spec, 16, cfg.gridSize(), cfg.gridSize(), torch::kCPU);
    auto step = [&](LinearKernel k) {
        setLinearKernel(k);
        model->zero_grad();
        auto loss = model->forward(imgs, m).loss;
        loss.backward();
        std::vector<torch::Tensor> out{loss.detach()};
        for (const auto &p : model->parameters())
            out.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros({1}));
        return out;
    };
    const auto a = step(LinearKernel::Torch), b = step(LinearKernel::OneDnn);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_NEAR(b[0].item<double>(), a[0].item<double>(), 1e-5 * a[0].item<double>());
    double worst = 0;
    for (std::size_t i = 1; i < a.size(); ++i)
        if (a[i].abs().max().item<double>() > 1e-6) // key biases: exactly 0 in theory, noise in practice
            worst = std::max(worst, maxRel(b[i], a[i]));
    EXPECT_LT(worst, 1e-3) << "gradients, relative to each tensor's largest entry";
}

TEST(LinearKernel, ChoiceIsMeasuredOnceThenReadFromTheCache)
{
    LinearKernelGuard guard;
    test::TempDir dir;
    const char *old = std::getenv("VITSCOPE_CACHE_DIR");
    const std::string saved = old ? old : "";
    ::setenv("VITSCOPE_CACHE_DIR", dir.path().c_str(), 1);
    setLinearKernel(LinearKernel::Auto);
    resetLinearKernelChoice();
    const auto first = linearKernelChoice();
    const std::string file = dir.file("kernels.json");
    if (!oneDnnAvailable()) {
        EXPECT_EQ(first.source, "no oneDNN");
        EXPECT_EQ(first.large, LinearKernel::Torch);
    } else {
        EXPECT_EQ(first.source, "measured");
        EXPECT_GT(first.torchSeconds, 0);
        EXPECT_GT(first.oneDnnSeconds, 0);
        // The decision follows the measurement: oneDNN only when clearly faster.
        EXPECT_EQ(first.large == LinearKernel::OneDnn, first.oneDnnSeconds < 0.9 * first.torchSeconds);
        std::ifstream in(file);
        ASSERT_TRUE(in) << file;
        const auto j = nlohmann::json::parse(in);
        ASSERT_EQ(j.size(), 1u);
        EXPECT_EQ(j.begin().value().at("large"), linearKernelName(first.large));

        resetLinearKernelChoice();
        const auto second = linearKernelChoice();
        EXPECT_EQ(second.source, "cache");
        EXPECT_EQ(second.large, first.large);
        EXPECT_EQ(second.small, first.small);

        // A damaged cache is measured again and replaced by a good one.
        test::writeBytes(file, "{ not json");
        resetLinearKernelChoice();
        EXPECT_EQ(linearKernelChoice().source, "measured");
        std::ifstream again(file);
        nlohmann::json reread;
        EXPECT_NO_THROW(reread = nlohmann::json::parse(again));
        EXPECT_TRUE(reread.is_object()) << reread.dump();
    }
    // A set kernel needs no measurement.
    setLinearKernel(LinearKernel::Torch);
    EXPECT_EQ(linearKernelChoice().source, "set");
    if (saved.empty())
        ::unsetenv("VITSCOPE_CACHE_DIR");
    else
        ::setenv("VITSCOPE_CACHE_DIR", saved.c_str(), 1);
}

TEST(LinearKernel, NamesParseAndUnknownOnesAreRefused)
{
    EXPECT_EQ(parseLinearKernel("auto"), LinearKernel::Auto);
    EXPECT_EQ(parseLinearKernel("torch"), LinearKernel::Torch);
    EXPECT_EQ(parseLinearKernel("onednn"), LinearKernel::OneDnn);
    EXPECT_THROW(parseLinearKernel("mkl"), Error);
    if (!oneDnnAvailable()) {
        EXPECT_THROW(setLinearKernel(LinearKernel::OneDnn), Error);
    }
}

} // namespace
} // namespace vitscope

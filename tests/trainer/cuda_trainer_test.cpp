// CUDA checks of the training path (label cuda): skipped without a GPU. The CPU in
// float32 is the reference; TF32 is off on the GPU so both sides compute in float32.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/adamw_pair.h"
#include "common/fashion_mnist.h"
#include "common/run_metrics.h"
#include "common/temp_dir.h"
#include "trainer/data/loader.h"
#include "trainer/mae_trainer.h"
#include "trainer/optim.h"

namespace vitscope {

// Outside the anonymous namespace: the TEST_F classes, which have external linkage, derive from it.
class CudaTrain : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!torch::cuda::is_available())
            GTEST_SKIP() << "no CUDA GPU";
        m_tf32 = at::globalContext().allowTF32CuBLAS();
        m_tf32Cudnn = at::globalContext().allowTF32CuDNN();
        at::globalContext().setAllowTF32CuBLAS(false);
        at::globalContext().setAllowTF32CuDNN(false);
    }
    void TearDown() override
    {
        if (!torch::cuda::is_available())
            return;
        at::globalContext().setAllowTF32CuBLAS(m_tf32);
        at::globalContext().setAllowTF32CuDNN(m_tf32Cudnn);
    }
    const torch::Device gpu{torch::kCUDA, 0};

private:
    bool m_tf32 = false, m_tf32Cudnn = true;
};

namespace {

using test::haveFashionMnist;

using nlohmann::json;
using test::stepLosses;

double relDiff(const torch::Tensor &a, const torch::Tensor &b)
{
    auto x = a.detach().to(torch::kCPU, torch::kFloat64), y = b.detach().to(torch::kCPU, torch::kFloat64);
    return (x - y).abs().max().item<double>() / (1.0 + y.abs().max().item<double>());
}

} // namespace

// The multi-tensor AdamW update on the GPU against the same update on the CPU, given the
// same gradients: the parameters agree to float32 rounding.
TEST_F(CudaTrain, AdamWUpdateMatchesTheCpu)
{
    torch::manual_seed(2);
    std::vector<torch::Tensor> cpuParams{torch::randn({64, 32}), torch::randn({32}), torch::randn({3, 5, 7})};
    std::vector<torch::Tensor> gpuParams;
    for (auto &p : cpuParams) {
        gpuParams.push_back(p.to(gpu).requires_grad_());
        p.requires_grad_();
    }
    train::AdamW cpuOpt({{{"w", "b"}, {cpuParams[0], cpuParams[1]}, 0.05}, {{"t"}, {cpuParams[2]}, 0.0}}, 0.9, 0.95);
    train::AdamW gpuOpt({{{"w", "b"}, {gpuParams[0], gpuParams[1]}, 0.05}, {{"t"}, {gpuParams[2]}, 0.0}}, 0.9, 0.95);
    for (int step = 0; step < 5; ++step) {
        for (std::size_t i = 0; i < cpuParams.size(); ++i) {
            auto g = torch::randn(cpuParams[i].sizes());
            cpuParams[i].mutable_grad() = g;
            gpuParams[i].mutable_grad() = g.to(gpu);
        }
        cpuOpt.step(1e-2);
        gpuOpt.step(1e-2);
    }
    for (std::size_t i = 0; i < cpuParams.size(); ++i) {
        ASSERT_TRUE(gpuParams[i].is_cuda());
        EXPECT_LT(relDiff(gpuParams[i], cpuParams[i]), 1e-6) << "parameter " << i;
    }
    // Clipping decided on the device: the norm and the clipped gradients.
    auto n = gpuOpt.clipGradNorm(1.0);
    EXPECT_TRUE(n.is_cuda());
    EXPECT_NEAR(n.item<double>(), cpuOpt.clipGradNorm(1.0).item<double>(), 1e-4);
    for (std::size_t i = 0; i < cpuParams.size(); ++i)
        EXPECT_LT(relDiff(gpuParams[i].grad(), cpuParams[i].grad()), 1e-6);
}

// LibTorch's fused AdamW kernel (_fused_adamw_; _fused_adam_ after the decoupled decay on
// 1.13) against the nine foreach passes, on the same gradients.
TEST_F(CudaTrain, FusedAdamWMatchesTheForeachUpdate)
{
    const double diff = test::fusedAgainstForeachAdamW(gpu);
    ASSERT_GE(diff, 0) << "no fused AdamW kernel for CUDA in LibTorch " << TORCH_VERSION;
    EXPECT_LT(diff, 1e-6);
}

TEST_F(CudaTrain, LoaderPinsBatchesForAsynchronousCopies)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    auto source = data::openSource("fashion-mnist", data::Split::Train, 64);
    data::LoaderOptions lo;
    lo.batchSize = 16, lo.pinMemory = true, lo.workers = 2;
    data::BatchLoader loader(
        source, [source](int64_t i, std::mt19937_64 &) { return source->image(i).permute({2, 0, 1}).to(torch::kFloat32); },
        lo);
    loader.start(0);
    int batches = 0;
    while (auto b = loader.next()) {
        EXPECT_TRUE(b->images.is_pinned());
        auto onGpu = b->images.to(gpu, /*non_blocking=*/true);
        EXPECT_TRUE(torch::equal(onGpu.cpu(), b->images));
        ++batches;
    }
    EXPECT_EQ(batches, 4);
}

// A whole MAE run (pinned batches, non-blocking copies, losses read only when logged) on
// the GPU against the same run on the CPU, in float32.
TEST_F(CudaTrain, MaeRunMatchesTheCpu)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    test::TempDir dir;
    train::MaeTrainOptions o;
    o.limit = 96, o.batch = 16, o.epochs = 2, o.baseLr = 2e-3, o.warmupEpochs = 0.5;
    o.logEvery = 1, o.evalEvery = 0, o.workers = 2, o.seed = 5, o.amp = false;
    o.device = "cpu";
    train::trainMae(o, dir.file("cpu"));
    o.device = "cuda";
    const auto r = train::trainMae(o, dir.file("cuda"));
    EXPECT_EQ(r.steps, 12);
    const auto a = stepLosses(dir.file("cpu")), b = stepLosses(dir.file("cuda"));
    ASSERT_EQ(a.size(), 12u);
    ASSERT_EQ(b.size(), 12u);
    EXPECT_NEAR(b[0], a[0], 1e-5 * (1 + a[0])) << "the first step: the same model, data and masks";
    for (std::size_t i = 1; i < a.size(); ++i) // AdamW's first steps amplify rounding a little
        EXPECT_NEAR(b[i], a[i], 2e-2 * (1 + a[i])) << "step " << i + 1;

    // bf16 autocast: the first loss within bf16 rounding of float32.
    o.amp = true;
    train::trainMae(o, dir.file("amp"));
    const auto c = stepLosses(dir.file("amp"));
    ASSERT_EQ(c.size(), 12u);
    EXPECT_NEAR(c[0], a[0], 2e-2 * (1 + a[0]));
}

} // namespace vitscope

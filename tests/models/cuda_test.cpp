// CUDA checks (label cuda): skipped without a GPU. The CPU in float32 is the reference;
// TF32 is switched off on the GPU so that both sides compute in full float32 and the
// tolerances only have to cover summation order.
#include <gtest/gtest.h>

#include <torch/torch.h>

#include "models/autocast.h"
#include "models/clip.h"
#include "models/mae.h"
#include "models/masking.h"
#include "models/torch_compat.h"
#include "models/vit.h"

using namespace vitscope;

// Outside the anonymous namespace: TEST_F derives from it at namespace scope
// (-Wsubobject-linkage otherwise).
class CudaFloat32 : public ::testing::Test {
protected:
    void SetUp() override
    {
        if (!torch::cuda::is_available())
            GTEST_SKIP() << "no CUDA GPU";
        m_tf32Cudnn = at::globalContext().allowTF32CuDNN();
        m_tf32Cublas = at::globalContext().allowTF32CuBLAS();
        at::globalContext().setAllowTF32CuDNN(false);
        at::globalContext().setAllowTF32CuBLAS(false);
        torch::manual_seed(7);
    }
    void TearDown() override
    {
        if (!torch::cuda::is_available())
            return;
        at::globalContext().setAllowTF32CuDNN(m_tf32Cudnn);
        at::globalContext().setAllowTF32CuBLAS(m_tf32Cublas);
    }
    const torch::Device gpu{torch::kCUDA, 0};

private:
    bool m_tf32Cudnn = true, m_tf32Cublas = false;
};

namespace {

MaskSpec maskSpec(MaskStrategy strategy, double ratio, std::uint64_t seed)
{
    MaskSpec m;
    m.strategy = strategy, m.ratio = ratio, m.seed = seed;
    return m;
}

// max |a - b| / (1 + max |b|): relative to the scale of the reference.
double relDiff(const torch::Tensor &a, const torch::Tensor &b)
{
    auto x = a.detach().to(torch::kCPU, torch::kFloat64), y = b.detach().to(torch::kCPU, torch::kFloat64);
    return (x - y).abs().max().item<double>() / (1.0 + y.abs().max().item<double>());
}

} // namespace

using CudaMae = CudaFloat32;
using CudaClip = CudaFloat32;

TEST_F(CudaMae, ModelMovedBetweenDevicesGivesTheSameOutputs)
{
    Mae mae(MaeConfig::preset("fmnist"));
    mae->eval();
    torch::NoGradGuard ng;
    auto imgs = torch::randn({6, 1, 32, 32});
    const auto masking = makeMasking(maskSpec(MaskStrategy::Random, 0.75, 3), 6, 8, 8);
    const auto onCpu = mae->forward(imgs, masking).pred.clone();

    mae->to(gpu);
    const auto gpuMasking = makeMasking(maskSpec(MaskStrategy::Random, 0.75, 3), 6, 8, 8, gpu);
    const auto onGpu = mae->forward(imgs.to(gpu), gpuMasking);
    ASSERT_TRUE(onGpu.pred.is_cuda());
    EXPECT_TRUE(torch::equal(gpuMasking.mask.cpu(), masking.mask)) << "a seed gives the same masks on every device";
    EXPECT_LT(relDiff(onGpu.pred, onCpu), 1e-4);

    mae->to(torch::kCPU); // and back: bit-identical to the first CPU run
    EXPECT_TRUE(torch::equal(mae->forward(imgs, masking).pred, onCpu));
}

TEST_F(CudaMae, TrainingStepMatchesTheCpu)
{
    auto makeModel = [] {
        torch::manual_seed(11);
        return Mae(MaeConfig::preset("fmnist"));
    };
    Mae cpu = makeModel(), cuda = makeModel();
    cuda->to(gpu);
    auto imgs = torch::randn({8, 1, 32, 32});
    auto step = [&](Mae &m, torch::Device d) {
        // SGD: the update is linear in the gradient, so the parameters inherit the gradients'
        // tolerance (AdamW's first step is lr * sign(g), which flips where g is rounding noise).
        torch::optim::SGD opt(m->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9).weight_decay(0.05));
        const auto masking = makeMasking(maskSpec(MaskStrategy::Block, 0.5, 5), 8, 8, 8, d);
        auto x = imgs.to(d);
        auto out = m->forward(x, masking);
        auto loss = m->loss(x, out.pred, out.mask);
        opt.zero_grad();
        loss.backward();
        std::vector<torch::Tensor> grads;
        for (const auto &p : m->parameters())
            grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
        opt.step();
        return std::make_pair(loss.detach(), grads);
    };
    const auto [lossCpu, gradsCpu] = step(cpu, torch::kCPU);
    const auto [lossGpu, gradsGpu] = step(cuda, gpu);
    EXPECT_NEAR(lossGpu.item<double>(), lossCpu.item<double>(), 1e-5 * (1 + std::abs(lossCpu.item<double>())));
    ASSERT_EQ(gradsCpu.size(), gradsGpu.size());
    for (std::size_t i = 0; i < gradsCpu.size(); ++i)
        EXPECT_LT(relDiff(gradsGpu[i], gradsCpu[i]), 1e-4) << "gradient of parameter " << i;
    const auto pc = cpu->parameters(), pg = cuda->parameters();
    for (std::size_t i = 0; i < pc.size(); ++i)
        EXPECT_LT(relDiff(pg[i], pc[i]), 1e-5) << "parameter " << i << " after one SGD step";
}

TEST_F(CudaClip, FeaturesAndLossMatchTheCpu)
{
    auto cfg = ClipConfig::preset("fmnist");
    Clip clip(cfg);
    clip->eval();
    torch::NoGradGuard ng;
    auto pixels = torch::randn({5, cfg.vision.numChannels, cfg.vision.imageSize, cfg.vision.imageSize});
    auto ids = torch::randint(0, cfg.text.vocabSize, {5, 9}, torch::kLong);
    auto eos = torch::tensor(std::vector<int64_t>{8, 3, 5, 8, 1}, torch::kLong);
    const auto img = clip->imageFeatures(pixels), txt = clip->textFeatures(ids, eos);
    const auto loss = clipLoss(img, txt, clip->logitScale).loss;

    clip->to(gpu);
    const auto imgG = clip->imageFeatures(pixels.to(gpu)), txtG = clip->textFeatures(ids.to(gpu), eos.to(gpu));
    EXPECT_LT(relDiff(imgG, img), 1e-4);
    EXPECT_LT(relDiff(txtG, txt), 1e-4);
    EXPECT_NEAR(clipLoss(imgG, txtG, clip->logitScale).loss.item<double>(), loss.item<double>(), 1e-4);
}

// Fused attention (LibTorch 2.x: flash / memory-efficient kernels) against the explicit
// form. The reference is the explicit form in float32 on the same bf16 inputs; bf16 keeps
// 8 bits of mantissa, so outputs of magnitude ~1 may differ by a few 1e-3.
class CudaAttention : public CudaFloat32 {
protected:
    void SetUp() override
    {
        CudaFloat32::SetUp();
        if (IsSkipped())
            return;
        if (!compat::hasFusedAttention())
            GTEST_SKIP() << "LibTorch " << TORCH_VERSION << " has no fused attention";
        m_saved = attentionKernel();
    }
    void TearDown() override
    {
        if (compat::hasFusedAttention() && torch::cuda::is_available())
            setAttentionKernel(m_saved);
        CudaFloat32::TearDown();
    }

private:
    AttentionKernel m_saved = AttentionKernel::Auto;
};

TEST_F(CudaAttention, FusedEqualsExplicitInBf16)
{
    const auto bf16 = torch::TensorOptions().device(gpu).dtype(torch::kBFloat16);
    // ViT-B/16's encoder on the visible quarter (50 tokens) and CLIP's text length (77).
    for (const int64_t n : {50, 77}) {
        auto q = torch::randn({8, 12, n, 64}, bf16), k = torch::randn({8, 12, n, 64}, bf16);
        auto v = torch::randn({8, 12, n, 64}, bf16);
        auto mask = torch::zeros({n, n}, bf16);
        mask.index_put_({torch::indexing::Slice(), 0}, -INFINITY); // nobody may attend to token 0 ...
        mask.index_put_({0, 0}, 0.0);                              // ... but token 0 itself
        for (const bool causal : {false, true}) {
            for (const bool masked : {false, true}) {
                SCOPED_TRACE("n " + std::to_string(n) + (causal ? " causal" : "") + (masked ? " masked" : ""));
                const auto m = masked ? mask : torch::Tensor();
                const auto reference = explicitAttention(q.to(torch::kFloat32), k.to(torch::kFloat32),
                                                         v.to(torch::kFloat32), masked ? m.to(torch::kFloat32) : m,
                                                         causal);
                const auto fused = compat::fusedAttention(q, k, v, m, causal);
                ASSERT_EQ(fused.scalar_type(), torch::kBFloat16);
                const auto err = (fused.to(torch::kFloat32) - reference).abs();
                EXPECT_LT(err.max().item<double>(), 3e-2);
                EXPECT_LT(err.mean().item<double>(), 3e-3);
            }
        }
    }
}

TEST_F(CudaAttention, ModelsGiveTheSameOutputsWithEitherKernel)
{
    // float32 without TF32: the kernels differ only in summation order.
    Mae mae(MaeConfig::preset("fmnist"));
    mae->to(gpu);
    mae->eval();
    auto cfg = ClipConfig::preset("fmnist");
    Clip clip(cfg);
    clip->to(gpu);
    clip->eval();
    torch::NoGradGuard ng;
    auto imgs = torch::randn({6, 1, 32, 32}, torch::TensorOptions().device(gpu));
    const auto masking = makeMasking(maskSpec(MaskStrategy::Random, 0.75, 3), 6, 8, 8, gpu);
    auto ids = torch::randint(0, cfg.text.vocabSize - 1, {6, 12}, torch::kLong);
    auto eos = torch::full({6}, 11, torch::kLong);
    auto outputs = [&] {
        return std::vector<torch::Tensor>{mae->forward(imgs, masking).pred, clip->imageFeatures(imgs),
                                          clip->textFeatures(ids, eos)};
    };
    setAttentionKernel(AttentionKernel::Explicit);
    const auto explicitOut = outputs();
    setAttentionKernel(AttentionKernel::Fused);
    const auto fusedOut = outputs();
    for (std::size_t i = 0; i < fusedOut.size(); ++i)
        EXPECT_LT(relDiff(fusedOut[i], explicitOut[i]), 1e-4) << "output " << i;

    // Under bf16 autocast (how training runs on CUDA): the same up to bf16 rounding.
    std::vector<torch::Tensor> amp;
    {
        CudaAutocast autocast(true);
        amp = outputs();
    }
    for (std::size_t i = 0; i < amp.size(); ++i)
        EXPECT_LT(relDiff(amp[i], explicitOut[i]), 5e-2) << "output " << i << " under autocast";
}

// The opt-in fast path bf16-text (models/kernels/fast_paths.h) and its kernel
// (models/kernels/bf16_gemm.h): packing rounds to nearest even; each product is, to float32
// summation error, the float64 product of the bfloat16-rounded operands; a text block on
// the path is the float64 block with exactly its six products' operands rounded; the path
// is taken only where it should be, and zero-shot keeps its embeddings apart from float32's.
// bf16-image, the same for CLIP's image tower, answers to its own switch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <thread>

#include <torch/torch.h>

#include "common/block_in_float64.h"
#include "common/clip_fixture.h"
#include "models/clip.h"
#include "models/kernels/bf16_gemm.h"
#include "models/kernels/fast_paths.h"
#include "models/vit.h"
#include "models/zero_shot.h"

namespace vitscope {
namespace {

// bfloat16 rounding from its definition: the float32's top 16 bits, rounded to nearest,
// ties to even on bit 16 (no NaNs here).
float roundToBf16ByHand(float f)
{
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    const uint32_t lower = bits & 0xffffu, keep = bits & 0xffff0000u;
    uint32_t out = keep;
    if (lower > 0x8000u || (lower == 0x8000u && (keep & 0x10000u)))
        out += 0x10000u;
    float r;
    std::memcpy(&r, &out, sizeof r);
    return r;
}

torch::Tensor roundedByHand(const torch::Tensor &t)
{
    auto c = t.to(torch::kFloat32).contiguous().clone();
    auto *p = c.data_ptr<float>();
    for (int64_t i = 0; i < c.numel(); ++i)
        p[i] = roundToBf16ByHand(p[i]);
    return c.to(torch::kFloat64);
}

double bf16RelGap(const torch::Tensor &a, const torch::Tensor &b)
{
    auto x = a.detach().to(torch::kFloat64), y = b.detach().to(torch::kFloat64);
    return (x - y).abs().max().item<double>() / (1e-12 + y.abs().max().item<double>());
}

FastPaths withBf16Image(bool on)
{
    FastPaths p = fastPaths();
    p.bf16Image = on;
    return p;
}

FastPaths withBf16Text(bool on)
{
    FastPaths p = fastPaths();
    p.bf16Text = on;
    return p;
}

// The text block in float64 (causal), each product's operands rounded to bfloat16 by hand
// when `rounded`.
torch::Tensor textBlockInFloat64(TransformerBlock &block, const torch::Tensor &x, bool rounded)
{
    return test::quickGeluBlockInFloat64(block, x, /*causal=*/true,
                                         rounded ? std::function<torch::Tensor(const torch::Tensor &)>(roundedByHand)
                                                 : nullptr);
}

// A small text-tower block (QuickGELU, a bf16 candidate) with weights from `seed`.
TransformerBlock smallTextBlock(int seed)
{
    torch::manual_seed(seed);
    BlockConfig cfg{32, 4, 128, 1e-5, true, Activation::QuickGelu};
    cfg.bf16Tower = Bf16Tower::Text;
    return TransformerBlock(cfg);
}

} // namespace

TEST(Bf16Kernel, PackingRoundsToNearestEvenAndUnpacksInPlace)
{
    // Hand-worked: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: to 1 (even); 1 + 3 * 2^-8
    // halfway between 1 + 2^-7 and 1 + 2^-6: to 1 + 2^-6 (even); 1 + 2^-8 + 2^-20 above
    // halfway: up.
    auto w = torch::zeros({3, 5});
    w[0][0] = 1.0f + std::ldexp(1.0f, -8);
    w[0][1] = 1.0f + 3 * std::ldexp(1.0f, -8);
    w[0][2] = 1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20);
    w[2][4] = -2.5f;
    const auto packed = packBf16Weight(w);
    const auto back = unpackBf16Weight(packed);
    EXPECT_EQ(back[0][0].item<float>(), 1.0f);
    EXPECT_EQ(back[0][1].item<float>(), 1.0f + std::ldexp(1.0f, -6));
    EXPECT_EQ(back[0][2].item<float>(), 1.0f + std::ldexp(1.0f, -7));
    EXPECT_EQ(back[2][4].item<float>(), -2.5f);
    EXPECT_EQ(back.sizes(), w.sizes());
    // Odd shapes: every value lands where it came from, rounded; the padding is zero.
    torch::manual_seed(3);
    const auto r = torch::randn({37, 19});
    const auto p = packBf16Weight(r);
    EXPECT_EQ(p.data.numel(), 48 * 20); // 3 blocks of 16 rows, 10 pairs
    EXPECT_TRUE(torch::equal(unpackBf16Weight(p).to(torch::kFloat64), roundedByHand(r)));
    // Nothing but zeros added: as many nonzero values, the same total.
    EXPECT_EQ(p.data.count_nonzero().item<int64_t>(), roundedByHand(r).count_nonzero().item<int64_t>());
    EXPECT_NEAR(p.data.to(torch::kFloat64).abs().sum().item<double>(), roundedByHand(r).abs().sum().item<double>(),
                1e-9);
}

TEST(Bf16Kernel, ProductsAreFloat64ProductsOfTheRoundedOperands)
{
    if (!bf16KernelAvailable())
        GTEST_SKIP() << "this CPU has no AVX512_BF16: the kernel is not used here";
    torch::manual_seed(5);
    for (const auto &[M, N, K] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{
             {1, 16, 64}, {3, 37, 19}, {8, 512, 512}, {9, 100, 2048}, {77, 64, 33}, {0, 16, 8}}) {
        const auto x = torch::randn({M, K}), w = torch::randn({N, K}) * 0.1, b = torch::randn({N});
        const auto y = bf16Linear(x, packBf16Weight(w), b);
        ASSERT_EQ(y.sizes(), (std::vector<int64_t>{M, N}));
        if (M == 0)
            continue;
        const auto xr = roundedByHand(x), wr = roundedByHand(w);
        const auto expected = torch::matmul(xr, wr.t()) + b.to(torch::kFloat64);
        // float32 sums of K products: at most about K * 2^-24 of the sum of their sizes.
        const auto bound = torch::matmul(xr.abs(), wr.abs().t()) * (double(K) * std::ldexp(1.0, -23)) + 1e-6;
        EXPECT_TRUE(((y.to(torch::kFloat64) - expected).abs() <= bound).all().item<bool>())
            << M << "x" << K << " by " << N << ": max error "
            << (y.to(torch::kFloat64) - expected).abs().max().item<double>();
    }
    // No inputs (K = 0): y is the bias in every row.
    const auto b0 = torch::randn({20});
    EXPECT_TRUE(torch::equal(bf16Linear(torch::zeros({3, 0}), packBf16Weight(torch::zeros({20, 0})), b0),
                             b0.expand({3, 20})));
    // A 3-D, non-contiguous x and no bias.
    const auto x = torch::randn({4, 5, 24}).transpose(0, 1);
    const auto w = torch::randn({32, 24});
    const auto y = bf16Linear(x, packBf16Weight(w));
    EXPECT_EQ(y.sizes(), (std::vector<int64_t>{5, 4, 32}));
    EXPECT_LT(bf16RelGap(y, torch::matmul(roundedByHand(x), roundedByHand(w).t())), 1e-5);
}

TEST(Bf16Text, TextBlockIsTheFloat64BlockWithItsProductsRounded)
{
    if (!bf16KernelAvailable())
        GTEST_SKIP() << "this CPU has no AVX512_BF16: bf16-text does nothing here";
    TransformerBlock block = smallTextBlock(11);
    const auto x = torch::randn({2, 7, 32});
    const FastPathsScope on(withBf16Text(true));
    {
        torch::NoGradGuard g;
        EXPECT_TRUE(block->usesBf16Weights(x));
        const auto y = block->forward(x, {}, /*causal=*/true);
        EXPECT_EQ(block->bf16CopiesMade(), 1);
        const auto rounded = textBlockInFloat64(block, x, true), exact = textBlockInFloat64(block, x, false);
        EXPECT_LT(bf16RelGap(y, rounded), 2e-6);
        const double gap = bf16RelGap(y, exact);
        EXPECT_GT(gap, 1e-4) << "no rounding happened";
        EXPECT_LT(gap, 2e-2);
        (void)block->forward(x, {}, true);
        EXPECT_EQ(block->bf16CopiesMade(), 1) << "the copies are kept while the weights stay";
        block->fc2->weight.mul_(-0.5); // weights written: copied again
        EXPECT_LT(bf16RelGap(block->forward(x, {}, true), textBlockInFloat64(block, x, true)), 2e-6);
        EXPECT_EQ(block->bf16CopiesMade(), 2);
        // Its data replaced, as Module::to does (set_data: the version stays): copied again.
        block->fc1->weight.set_data(block->fc1->weight.detach() * 1.5);
    }
    {
        torch::NoGradGuard g;
        EXPECT_LT(bf16RelGap(block->forward(x, {}, true), textBlockInFloat64(block, x, true)), 2e-6);
        EXPECT_EQ(block->bf16CopiesMade(), 3);
    }
    // Training (gradients on) and blocks outside the text tower keep float32.
    const auto trained = block->forward(x, {}, true);
    EXPECT_LT(bf16RelGap(trained, textBlockInFloat64(block, x, false)), 1e-5);
    EXPECT_TRUE(trained.requires_grad());
    BlockConfig vision = block->config;
    vision.bf16Tower = Bf16Tower::None;
    TransformerBlock other(vision);
    torch::NoGradGuard g;
    EXPECT_FALSE(other->usesBf16Weights(x));
    EXPECT_LT(bf16RelGap(other->forward(x, {}, true), textBlockInFloat64(other, x, false)), 1e-5);
    const FastPathsScope off(withBf16Text(false));
    EXPECT_FALSE(block->usesBf16Weights(x));
}

// One request can choose bf16 for itself (the zero-shot view's switch): the thread that
// opened the scope runs bf16, a call from another thread meanwhile keeps float32.
TEST(Bf16Text, AThreadOfItsOwnRunsBf16WhileOthersKeepFloat32)
{
    if (!bf16KernelAvailable())
        GTEST_SKIP() << "this CPU has no AVX512_BF16: bf16-text does nothing here";
    TransformerBlock block = smallTextBlock(12);
    const auto x = torch::randn({1, 5, 32});
    const FastPathsScope processOff(withBf16Text(false));
    torch::NoGradGuard g;
    const ThreadFastPathsScope mine(withBf16Text(true));
    const auto here = block->forward(x, {}, true);
    EXPECT_LT(bf16RelGap(here, textBlockInFloat64(block, x, true)), 2e-6);
    torch::Tensor there;
    std::thread other([&] {
        torch::NoGradGuard otherGrad;
        there = block->forward(x, {}, true);
    });
    other.join();
    EXPECT_LT(bf16RelGap(there, textBlockInFloat64(block, x, false)), 1e-5) << "the other thread ran bf16";
    EXPECT_GT(bf16RelGap(here, there), 1e-4);
}

TEST(Bf16Text, ZeroShotKeepsItsEmbeddingsApartFromFloat32s)
{
    if (!bf16KernelAvailable())
        GTEST_SKIP() << "this CPU has no AVX512_BF16: bf16-text does nothing here";
    auto tok = std::make_shared<const ClipTokenizer>(test::smallTokenizer(test::promptMerges()));
    torch::manual_seed(2);
    Clip model(test::tinyClipConfig(*tok));
    model->eval();
    auto cache = std::make_shared<TextEmbeddingCache>();
    ZeroShotClassifier classifier(model, tok, "tiny", cache);
    const auto f32 = classifier.textFeatures({"a photo of a cat"});
    EXPECT_EQ(classifier.promptsEncoded(), 1);
    torch::Tensor b16;
    {
        const FastPathsScope on(withBf16Text(true));
        b16 = classifier.textFeatures({"a photo of a cat"});
        EXPECT_EQ(classifier.promptsEncoded(), 2) << "a float32 embedding was served for bf16-text";
        (void)classifier.textFeatures({"a photo of a cat"});
        EXPECT_EQ(classifier.promptsEncoded(), 2);
    }
    EXPECT_GT(bf16RelGap(b16, f32), 0.0);
    EXPECT_LT(bf16RelGap(b16, f32), 5e-2);
    EXPECT_TRUE(torch::equal(classifier.textFeatures({"a photo of a cat"}), f32));
    EXPECT_EQ(classifier.promptsEncoded(), 2);
}

// bf16-image: CLIP's image-tower blocks answer to it and text blocks do not (and the
// reverse for bf16-text); a tower on it is the float64 block with its products rounded,
// and the image features stay near float32's without being them.
TEST(Bf16Image, EachTowerAnswersToItsOwnSwitch)
{
    if (!bf16KernelAvailable())
        GTEST_SKIP() << "this CPU has no AVX512_BF16: bf16-image does nothing here";
    TransformerBlock textBlock = smallTextBlock(13);
    BlockConfig imageCfg = textBlock->config;
    imageCfg.bf16Tower = Bf16Tower::Image;
    TransformerBlock imageBlock(imageCfg);
    const auto x = torch::randn({3, 10, 32});
    torch::NoGradGuard g;
    {
        const FastPathsScope image(withBf16Text(false));
        const FastPathsScope on(withBf16Image(true));
        EXPECT_TRUE(imageBlock->usesBf16Weights(x));
        EXPECT_FALSE(textBlock->usesBf16Weights(x));
        const auto y = imageBlock->forward(x, {}, /*causal=*/true);
        EXPECT_LT(bf16RelGap(y, textBlockInFloat64(imageBlock, x, true)), 2e-6);
        EXPECT_GT(bf16RelGap(y, textBlockInFloat64(imageBlock, x, false)), 1e-4) << "no rounding happened";
    }
    const FastPathsScope image(withBf16Image(false));
    const FastPathsScope on(withBf16Text(true));
    EXPECT_FALSE(imageBlock->usesBf16Weights(x));
    EXPECT_TRUE(textBlock->usesBf16Weights(x));
}

TEST(Bf16Image, ClipImageFeaturesStayNearFloat32)
{
    if (!bf16KernelAvailable())
        GTEST_SKIP() << "this CPU has no AVX512_BF16: bf16-image does nothing here";
    const auto tiny = test::tinyClip(3, 4);
    Clip model = tiny.model;
    const auto &pixels = tiny.pixels;
    torch::NoGradGuard g;
    const FastPathsScope textOff(withBf16Text(false));
    const FastPathsScope off(withBf16Image(false));
    EXPECT_FALSE(model->visionModel->usesBf16Weights());
    const auto f32 = model->imageFeatures(pixels);
    torch::Tensor b16;
    {
        const FastPathsScope on(withBf16Image(true));
        EXPECT_TRUE(model->visionModel->usesBf16Weights());
        EXPECT_FALSE(model->textModel->usesBf16Weights());
        b16 = model->imageFeatures(pixels);
    }
    const double gap = bf16RelGap(b16, f32);
    EXPECT_GT(gap, 0.0);
    EXPECT_LT(gap, 5e-2);
    const auto cosine = torch::nn::functional::cosine_similarity(
        b16, f32, torch::nn::functional::CosineSimilarityFuncOptions().dim(1));
    EXPECT_GT(cosine.min().item<double>(), 0.999);
    EXPECT_TRUE(torch::equal(model->imageFeatures(pixels), f32)) << "float32 again is float32's result";
}

TEST(Bf16Text, IsOptInAndNamed)
{
    EXPECT_FALSE(FastPaths{}.bf16Text);
    EXPECT_FALSE(parseFastPaths("all").bf16Text);
    EXPECT_TRUE(parseFastPaths("bf16-text").bf16Text);
    EXPECT_TRUE(parseFastPaths("bf16-text,all").bf16Text);
    EXPECT_FALSE(parseFastPaths("bf16-text,none").bf16Text);
    EXPECT_EQ(fastPathsName(parseFastPaths("none,bf16-text")), "bf16-text");
    EXPECT_FALSE(FastPaths{}.bf16Image);
    EXPECT_FALSE(parseFastPaths("all").bf16Image);
    EXPECT_TRUE(parseFastPaths("bf16-image,all").bf16Image);
    EXPECT_FALSE(parseFastPaths("bf16-image,none").bf16Image);
    EXPECT_EQ(fastPathsName(parseFastPaths("none,bf16-image")), "bf16-image");
}

} // namespace vitscope

#include <gtest/gtest.h>

#include "models/mae.h"

using namespace vitscope;

namespace {

MaeConfig tiny(bool normPix = false)
{
    MaeConfig c = MaeConfig::preset("fmnist");
    c.hiddenSize = 32, c.numHiddenLayers = 2, c.numAttentionHeads = 4, c.intermediateSize = 64;
    c.decoderHiddenSize = 16, c.decoderNumHiddenLayers = 1, c.decoderNumAttentionHeads = 2;
    c.decoderIntermediateSize = 32;
    c.normPixLoss = normPix;
    return c;
}

MaskSpec randomSpec(double ratio, std::uint64_t seed)
{
    MaskSpec s;
    s.ratio = ratio;
    s.seed = seed;
    return s;
}

} // namespace

TEST(Mae, PresetsMatchThePaper)
{
    const auto b = MaeConfig::preset("vit-b16"), l = MaeConfig::preset("vit-l16"), h = MaeConfig::preset("vit-h14");
    EXPECT_EQ(std::make_tuple(b.hiddenSize, b.numHiddenLayers, b.numAttentionHeads, b.patchSize),
              std::make_tuple(768, 12, 12, 16));
    EXPECT_EQ(std::make_tuple(l.hiddenSize, l.numHiddenLayers, l.numAttentionHeads, l.patchSize),
              std::make_tuple(1024, 24, 16, 16));
    EXPECT_EQ(std::make_tuple(h.hiddenSize, h.numHiddenLayers, h.numAttentionHeads, h.patchSize),
              std::make_tuple(1280, 32, 16, 14));
    for (const auto &c : {b, l, h})
        EXPECT_EQ(std::make_tuple(c.decoderHiddenSize, c.decoderNumHiddenLayers, c.decoderNumAttentionHeads),
                  std::make_tuple(512, 8, 16));
    const auto f = MaeConfig::preset("fmnist");
    EXPECT_EQ(f.gridSize(), 8);
    EXPECT_EQ(f.numChannels, 1);
    EXPECT_THROW(MaeConfig::preset("vit-z"), std::exception);
}

TEST(Mae, EncoderSeesOnlyVisiblePatches)
{
    torch::manual_seed(0);
    Mae model(tiny());
    auto imgs = torch::randn({3, 1, 32, 32});
    for (double r : {0.0, 0.5, 0.75, 0.9}) {
        const auto m = makeMasking(randomSpec(r, 1), 3, 8, 8);
        auto latent = model->forwardEncoder(imgs, m);
        EXPECT_EQ(latent.size(1), m.keepCount + 1) << r;
        auto out = model->forward(imgs, m);
        EXPECT_EQ(out.pred.sizes(), (std::vector<int64_t>{3, 64, 16}));
    }
    Mae withTokens(tiny(), /*maskTokensInEncoder=*/true);
    const auto m = makeMasking(randomSpec(0.75, 1), 3, 8, 8);
    EXPECT_EQ(withTokens->forwardEncoder(imgs, m).size(1), 65);
    EXPECT_EQ(withTokens->forward(imgs, m).pred.size(1), 64);
}

// The decoder unshuffles by ids_restore: the same kept set given in another order (kept
// patches sorted vs. the random shuffle) must give the same prediction for every patch.
TEST(Mae, PredictionDoesNotDependOnTheShuffleOrder)
{
    torch::manual_seed(2);
    Mae model(tiny());
    model->eval();
    auto imgs = torch::randn({2, 1, 32, 32});
    const auto shuffled = makeMasking(randomSpec(0.75, 11), 2, 8, 8);
    const auto ordered = maskingFromMask(shuffled.mask);
    ASSERT_FALSE(torch::equal(shuffled.idsShuffle, ordered.idsShuffle));
    auto a = model->forward(imgs, shuffled).pred;
    auto b = model->forward(imgs, ordered).pred;
    EXPECT_LT((a - b).abs().max().item<float>(), 1e-5f);
}

// Loss computed by hand from the definition: MSE per removed patch, unbiased per-patch
// variance for normalized targets.
TEST(Mae, LossIsTheMeanOverRemovedPatches)
{
    for (bool normPix : {false, true}) {
        torch::manual_seed(3);
        Mae model(tiny(normPix));
        auto imgs = torch::randn({2, 1, 32, 32});
        const auto m = makeMasking(randomSpec(0.75, 4), 2, 8, 8);
        auto out = model->forward(imgs, m);
        auto pred = out.pred.to(torch::kFloat64);
        double total = 0;
        int removed = 0;
        for (int64_t b = 0; b < 2; ++b)
            for (int64_t i = 0; i < 64; ++i) {
                if (m.mask[b][i].item<float>() == 0)
                    continue;
                const int64_t py = i / 8, px = i % 8;
                std::vector<double> t;
                for (int64_t r = 0; r < 4; ++r)
                    for (int64_t c = 0; c < 4; ++c)
                        t.push_back(imgs[b][0][py * 4 + r][px * 4 + c].item<double>());
                if (normPix) {
                    double mean = 0, var = 0;
                    for (double v : t)
                        mean += v / 16;
                    for (double v : t)
                        var += (v - mean) * (v - mean) / 15; // unbiased
                    for (double &v : t)
                        v = (v - mean) / std::sqrt(var + 1e-6);
                }
                double se = 0;
                for (int64_t j = 0; j < 16; ++j)
                    se += std::pow(pred[b][i][j].item<double>() - t[static_cast<std::size_t>(j)], 2);
                total += se / 16;
                ++removed;
            }
        EXPECT_EQ(removed, 2 * 48);
        EXPECT_NEAR(out.loss.item<double>(), total / removed, 1e-5) << "normPix " << normPix;
    }
}

TEST(Mae, LossGradientIsZeroForVisiblePatches)
{
    torch::manual_seed(4);
    Mae model(tiny());
    auto imgs = torch::randn({2, 1, 32, 32});
    const auto m = makeMasking(randomSpec(0.75, 5), 2, 8, 8);
    auto latent = model->forwardEncoder(imgs, m);
    auto pred = model->forwardDecoder(latent, m);
    pred.retain_grad();
    model->loss(imgs, pred, m.mask).backward();
    auto g = pred.grad().abs().sum(-1); // (B, L)
    EXPECT_EQ((g * (1 - m.mask)).sum().item<float>(), 0.0f);
    EXPECT_GT((g * m.mask).sum().item<float>(), 0.0f);
}

TEST(Mae, LossFallsOnATinyRun)
{
    torch::manual_seed(5);
    Mae model(tiny());
    auto imgs = torch::rand({8, 1, 32, 32});
    torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(3e-3));
    const auto m = makeMasking(randomSpec(0.75, 6), 8, 8, 8);
    double first = 0, last = 0;
    for (int step = 0; step < 60; ++step) {
        opt.zero_grad();
        auto loss = model->forward(imgs, m).loss;
        loss.backward();
        opt.step();
        (step == 0 ? first : last) = loss.item<double>();
    }
    EXPECT_LT(last, 0.5 * first) << "first " << first << " last " << last;
}

TEST(Mae, VisualsPasteVisiblePatchesAndGreyTheRemoved)
{
    torch::manual_seed(6);
    for (bool normPix : {false, true}) {
        Mae model(tiny(normPix));
        model->eval();
        auto pixels = torch::rand({1, 1, 32, 32});
        const std::vector<float> mean = {0.3f}, stdev = {0.4f};
        auto imgs = (pixels - 0.3) / 0.4;
        const auto m = makeMasking(randomSpec(0.75, 7), 1, 8, 8);
        auto v = visualize(model, imgs, m, mean, stdev, PatchStats::True);
        EXPECT_LT((v.original - pixels).abs().max().item<float>(), 1e-5f);
        auto keep = (1 - m.mask).unsqueeze(-1);
        auto pastedP = patchify(v.pasted, 4), origP = patchify(pixels, 4), maskedP = patchify(v.masked, 4);
        EXPECT_LT(((pastedP - origP) * keep).abs().max().item<float>(), 1e-5f);
        EXPECT_LT(((maskedP - 0.5) * (1 - keep)).abs().max().item<float>(), 1e-6f);
        EXPECT_LT(((maskedP - origP) * keep).abs().max().item<float>(), 1e-6f);
        EXPECT_EQ(v.patchError.sizes(), (std::vector<int64_t>{1, 64}));
        if (normPix) {
            auto honest = visualize(model, imgs, m, mean, stdev, PatchStats::Visible);
            EXPECT_FALSE(torch::allclose(honest.reconstruction, v.reconstruction));
        }
    }
}

// Partial fine-tuning (MAE paper, Figure 9): the frozen part of the encoder must come out
// bit-identical, the trained blocks must change.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>

#include "models/error.h"
#include "trainer/finetune.h"
#include "common/fashion_mnist.h"

using namespace vitscope;

namespace {

using test::haveFashionMnist;

LoadedMae tinyMae()
{
    MaeConfig c = MaeConfig::preset("fmnist");
    c.hiddenSize = 32, c.numHiddenLayers = 3, c.numAttentionHeads = 2, c.intermediateSize = 64;
    c.decoderHiddenSize = 16, c.decoderNumHiddenLayers = 1, c.decoderNumAttentionHeads = 2;
    c.decoderIntermediateSize = 32;
    torch::manual_seed(0);
    LoadedMae m;
    m.model = Mae(c);
    m.processor.imageMean = {0.5f}, m.processor.imageStd = {0.5f}, m.processor.padSmaller = true;
    return m;
}

std::map<std::string, torch::Tensor> snapshot(Mae &mae)
{
    std::map<std::string, torch::Tensor> out;
    for (const auto &p : mae->named_parameters(true))
        out[p.key()] = p.value().detach().clone();
    return out;
}

train::FinetuneOptions quick(int64_t blocks)
{
    train::FinetuneOptions o;
    o.limit = 128, o.evalLimit = 64, o.epochs = 1, o.batch = 64, o.workers = 1, o.blocks = blocks;
    o.baseLr = 1e-2; // large, so that every trained tensor surely moves in two steps
    return o;
}

bool inTrainedPart(const std::string &name, int64_t blocks)
{
    if (blocks == 0)
        return false;
    if (name.rfind("norm.", 0) == 0)
        return true;
    for (int64_t b = 3 - blocks; b < 3; ++b)
        if (name.rfind("blocks." + std::to_string(b) + ".", 0) == 0)
            return true;
    return false;
}

} // namespace

TEST(PartialFinetune, FrozenBlocksStayBitIdenticalAndTheLastOnesTrain)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    for (int64_t blocks : {0, 1, 2}) {
        LoadedMae m = tinyMae();
        const auto before = snapshot(m.model);
        const auto r = train::finetuneMae(m, quick(blocks));
        EXPECT_EQ(r.blocks, blocks);
        int64_t trainedEncoder = 0, frozenEncoder = 0;
        for (const auto &p : m.model->named_parameters(true)) {
            const auto &name = p.key();
            if (name.rfind("decoder", 0) == 0 || name == "mask_token")
                continue; // not part of the classifier
            if (inTrainedPart(name, blocks)) {
                trainedEncoder += p.value().numel();
                if (name.find("weight") != std::string::npos) {
                    EXPECT_FALSE(torch::equal(before.at(name), p.value())) << name << " did not train, k = " << blocks;
                }
            } else {
                frozenEncoder += p.value().numel();
                EXPECT_TRUE(torch::equal(before.at(name), p.value())) << name << " changed, k = " << blocks;
            }
        }
        EXPECT_EQ(r.frozenParameters, frozenEncoder);
        // The head: LayerNorm (2 x 32) and a linear layer to 10 classes (32 x 10 + 10).
        EXPECT_EQ(r.trainedParameters, trainedEncoder + 64 + 330);
        EXPECT_TRUE(std::isfinite(r.accuracy));
    }
}

TEST(PartialFinetune, FullFineTuningTrainsEverythingAndBadCountsAreRefused)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    LoadedMae m = tinyMae();
    const auto before = snapshot(m.model);
    const auto r = train::finetuneMae(m, quick(-1));
    EXPECT_EQ(r.blocks, 3);
    EXPECT_EQ(r.frozenParameters, 0);
    EXPECT_FALSE(torch::equal(before.at("blocks.0.fc1.weight"), m.model->blocks[0]->named_parameters()["fc1.weight"]));
    LoadedMae bad = tinyMae();
    EXPECT_THROW(train::finetuneMae(bad, quick(4)), Error);
}

// Zero-shot: prompt ensembling and probabilities recomputed here from the definitions,
// the embedding cache, templates and class-name parsing.
#include <gtest/gtest.h>

#include <cmath>

#include "common/clip_fixture.h"
#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "models/error.h"
#include "models/zero_shot.h"
#include "vitscope/version.h"

namespace vitscope {
namespace {

namespace F = torch::nn::functional;

struct ZeroShotFixture : ::testing::Test {
    ZeroShotFixture()
        : tok(std::make_shared<ClipTokenizer>(test::smallTokenizer(test::promptMerges()))),
          model([this] {
              torch::manual_seed(11);
              Clip m(test::tinyClipConfig(*tok));
              m->eval();
              return m;
          }()),
          classifier(model, tok, "tiny")
    {
    }
    torch::Tensor feature(const std::string &text)
    {
        torch::NoGradGuard g;
        return model->textFeatures(std::vector<std::vector<int64_t>>{tok->encode(text)})[0];
    }
    std::shared_ptr<ClipTokenizer> tok;
    Clip model;
    ZeroShotClassifier classifier;
};

TEST_F(ZeroShotFixture, EnsembleIsTheNormalizedMeanOfNormalizedPrompts)
{
    const std::vector<std::string> templates = {"a photo of a {}.", "a blurry photo of a {}", "{}"};
    auto classes = classifier.classEmbeddings({"boot", "cat"}, templates, true);
    ASSERT_EQ(classes.sizes(), (torch::IntArrayRef{2, 8}));
    for (int64_t c = 0; c < 2; ++c) {
        const std::string name = c == 0 ? "boot" : "cat";
        torch::Tensor sum = torch::zeros({8});
        for (const auto &t : {"a photo of a " + name + ".", "a blurry photo of a " + name, name}) {
            auto f = feature(t);
            sum += f / f.norm();
        }
        auto expected = sum / sum.norm();
        EXPECT_LT((classes[c] - expected).abs().max().item<float>(), 1e-5) << name;
    }
    // Single-template mode: the first template alone.
    auto single = classifier.classEmbeddings({"boot"}, templates, false);
    auto f = feature("a photo of a boot.");
    EXPECT_LT((single[0] - f / f.norm()).abs().max().item<float>(), 1e-5);
}

TEST_F(ZeroShotFixture, ProbabilitiesAreTheSoftmaxOfScaledCosines)
{
    auto classes = classifier.classEmbeddings({"boot", "cat", "photo"}, {"a {}"}, true);
    torch::manual_seed(12);
    auto pixels = torch::randn({2, 3, 16, 16});
    auto img = classifier.imageFeatures(pixels);
    auto probs = classifier.probabilities(img, classes);
    const double scale = std::min(100.0, std::exp(double(model->logitScale.item<float>())));
    for (int64_t b = 0; b < 2; ++b) {
        std::vector<double> logits;
        double norm = img[b].norm().item<double>(), denom = 0;
        for (int64_t k = 0; k < 3; ++k) {
            logits.push_back(scale * (img[b] * classes[k]).sum().item<double>() / norm);
            denom += std::exp(logits.back());
        }
        for (int64_t k = 0; k < 3; ++k)
            EXPECT_NEAR(probs[b][k].item<double>(), std::exp(logits[std::size_t(k)]) / denom, 1e-5);
    }
    auto top = topK(probs[0], 2);
    ASSERT_EQ(top.size(), 2u);
    EXPECT_GE(top[0].probability, top[1].probability);
    EXPECT_EQ(topK(probs[0], 10).size(), 3u);
    auto ranked = topK(torch::tensor({0.2f, 0.5f, 0.3f}), 3);
    EXPECT_EQ(ranked[0].index, 1);
    EXPECT_EQ(ranked[1].index, 2);
    EXPECT_EQ(ranked[2].index, 0);
}

TEST_F(ZeroShotFixture, TypingOneMoreClassEncodesOnlyThatClass)
{
    const std::vector<std::string> templates = {"a photo of a {}.", "a {}"};
    auto first = classifier.classEmbeddings({"boot", "cat"}, templates);
    EXPECT_EQ(classifier.promptsEncoded(), 4);
    auto second = classifier.classEmbeddings({"boot", "cat", "photo"}, templates);
    EXPECT_EQ(classifier.promptsEncoded(), 6); // only "photo" x 2 templates
    EXPECT_TRUE(torch::equal(first, second.slice(0, 0, 2)));
    // A second classifier sharing the cache under another model key does not reuse it.
    auto cache = std::make_shared<TextEmbeddingCache>();
    ZeroShotClassifier a(model, tok, "weights-a", cache), b(model, tok, "weights-b", cache);
    a.classEmbeddings({"cat"}, templates);
    b.classEmbeddings({"cat"}, templates);
    EXPECT_EQ(a.promptsEncoded(), 2);
    EXPECT_EQ(b.promptsEncoded(), 2);
    EXPECT_EQ(cache->size(), 4u);
    ZeroShotClassifier a2(model, tok, "weights-a", cache);
    a2.classEmbeddings({"cat"}, templates);
    EXPECT_EQ(a2.promptsEncoded(), 0);
}

TEST(ZeroShotText, TemplatesAndClassNames)
{
    EXPECT_EQ(fillTemplate("a {} next to a {}.", "boot"), "a boot next to a boot.");
    EXPECT_EQ(fillTemplate("no placeholder", "boot"), "no placeholder");
    EXPECT_EQ(parseClassNames(" t-shirt/top, trouser ,, bag,trouser"),
              (std::vector<std::string>{"t-shirt/top", "trouser", "bag"}));
    EXPECT_EQ(parseClassNames("ankle boot\nsneaker, white\n\n  bag  \r\n"),
              (std::vector<std::string>{"ankle boot", "sneaker, white", "bag"}));
    EXPECT_TRUE(parseClassNames(" , ,, ").empty());
    EXPECT_TRUE(parseClassNames("\n  \n").empty());

    test::TempDir dir;
    test::writeBytes(dir.file("t.txt"), "# comment\n\na photo of a {}.\n  a {} in the dark  \n");
    EXPECT_EQ(readTemplateFile(dir.file("t.txt")), (std::vector<std::string>{"a photo of a {}.", "a {} in the dark"}));
    test::writeBytes(dir.file("bad.txt"), "a photo of a {}.\na photo\n");
    test::expectFileError([&] { readTemplateFile(dir.file("bad.txt")); }, dir.file("bad.txt"), "line 2");
    test::writeBytes(dir.file("empty.txt"), "# nothing\n");
    test::expectFileError([&] { readTemplateFile(dir.file("empty.txt")); }, dir.file("empty.txt"), "no templates");
}

TEST(ZeroShotText, BundledTemplatesParse)
{
    const auto templates = readTemplateFile(VITSCOPE_SOURCE_RESOURCES_DIR "/templates/clip_templates.txt");
    EXPECT_GE(templates.size(), 10u);
}

} // namespace
} // namespace vitscope

// The BPE trainer against a hand-worked example, and CLIP training on a tiny caption set.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/run_metrics.h"
#include "common/temp_dir.h"
#include "models/checkpoints/hf_folder.h"
#include "models/image_preprocess.h"
#include "models/zero_shot.h"
#include "trainer/bpe_trainer.h"
#include "trainer/clip_trainer.h"
#include "trainer/data/images.h"
#include "trainer/mae_trainer.h"
#include "trainer/resume.h"

namespace vitscope {
namespace {

using test::TempDir;
using Merges = std::vector<std::pair<std::string, std::string>>;

TEST(BpeTrainer, MergesFollowAHandWorkedExample)
{
    // Words: "ab" x3, "abc" x1 -> symbols [a, b</w>] x3, [a, b, c</w>].
    // Pair counts: (a, b</w>) 3, (a, b) 1, (b, c</w>) 1 -> merge 1: a + b</w>.
    // Then (a, b) 1 and (b, c</w>) 1 tie -> the smaller pair, (a, b) -> merge 2,
    // then (ab, c</w>) 1 -> merge 3; nothing is left to merge.
    train::BpeOptions o;
    o.minFrequency = 1;
    const auto tok = train::trainBpe({"ab ab", "AB, abc"}, o);
    EXPECT_EQ(tok.merges(), (Merges{{"a", "b</w>"}, {"a", "b"}, {"ab", "c</w>"}}));
    EXPECT_EQ(tok.vocabSize(), 512 + 3 + 2);
    EXPECT_EQ(tok.endId(), tok.vocabSize() - 1);
    EXPECT_EQ(tok.startId(), tok.vocabSize() - 2);
    EXPECT_EQ(tok.tokenize("ab abc abd"), (std::vector<std::string>{"ab</w>", "abc</w>", "ab", "d</w>"}));
    // A minimum frequency of 2 keeps only the first merge.
    o.minFrequency = 2;
    EXPECT_EQ(train::trainBpe({"ab ab", "AB, abc"}, o).merges(), (Merges{{"a", "b</w>"}}));
    // A cap on the number of merges.
    o.minFrequency = 1, o.merges = 2;
    EXPECT_EQ(train::trainBpe({"ab ab", "AB, abc"}, o).merges().size(), 2u);
    // Anything typed still tokenizes (byte fallback), and the files load as a CLIP tokenizer.
    TempDir dir;
    tok.save(dir.file("vocab.json"), dir.file("merges.txt"));
    const auto back = ClipTokenizer::fromFiles(dir.file("vocab.json"), dir.file("merges.txt"));
    EXPECT_EQ(back.encode("zebra \xc3\xa9t\xc3\xa9 ab"), tok.encode("zebra \xc3\xa9t\xc3\xa9 ab"));
}

TEST(ClipCaptions, FashionMnistTemplatesAreDisjointAndCoverEveryClass)
{
    const auto c = train::fashionMnistCaptions();
    ASSERT_EQ(c.synonyms.size(), 10u);
    for (const auto &t : c.heldOutTemplates)
        EXPECT_EQ(std::count(c.trainTemplates.begin(), c.trainTemplates.end(), t), 0) << t;
    EXPECT_EQ(c.synonyms[9][0], "ankle boot");
    EXPECT_NE(std::find(c.synonyms[9].begin(), c.synonyms[9].end(), "boot"), c.synonyms[9].end());
    EXPECT_EQ(train::allTrainingCaptions(c).size(), 12u * (4 + 3 * 9));
}

TEST(ClipTrainerSlow, LearnsATinyCaptionSetWellAboveChance)
{
    // Four grey levels with noise, captioned by name: chance is 25%.
    TempDir dir;
    const std::vector<std::pair<int, std::string>> levels = {
        {10, "a black square"}, {90, "a dark grey square"}, {170, "a light grey square"}, {245, "a white square"}};
    std::ofstream csv(dir.file("captions.csv"));
    csv << "filepath\ttitle\n";
    std::mt19937 rng(1);
    for (int i = 0; i < 64; ++i) {
        const auto &[level, caption] = levels[std::size_t(i % 4)];
        data::RgbImage img;
        img.width = img.height = 32;
        for (int p = 0; p < 32 * 32; ++p) {
            const int v = std::clamp(level + int(rng() % 21) - 10, 0, 255);
            for (int ch = 0; ch < 3; ++ch)
                img.rgb.push_back(uint8_t(v));
        }
        const std::string name = "img" + std::to_string(i) + ".png";
        data::saveImageRgb(dir.file(name), img);
        csv << name << '\t' << caption << '\n';
    }
    csv.close();
    train::ClipTrainOptions o;
    o.data = dir.file("captions.csv");
    o.epochs = 30, o.batch = 16, o.lr = 1e-3, o.warmupEpochs = 2, o.device = "cpu", o.logEvery = 20;
    o.bpeMerges = 50, o.seed = 2;
    const auto r = train::trainClip(o, dir.file("run"));
    ASSERT_EQ(r.status, train::RunStatus::Finished);

    auto clip = loadClip(r.modelDir);
    ZeroShotClassifier zs(clip.model, clip.tokenizer, "tiny");
    std::vector<std::string> names;
    for (const auto &[level, caption] : levels)
        names.push_back(caption);
    const auto classes = zs.classEmbeddings(names, {"{}"});
    auto source = data::captionCsvSource(dir.file("captions.csv"));
    int correct = 0;
    for (int64_t i = 0; i < source->size(); ++i) {
        auto pixels = preprocessImage(source->image(i), clip.processor, 1).unsqueeze(0);
        auto p = zs.probabilities(zs.imageFeatures(pixels), classes);
        correct += p.argmax(1).item<int64_t>() == i % 4;
    }
    EXPECT_GE(correct, 40) << "of 64 (chance: 16)";
}

} // namespace
} // namespace vitscope

namespace vitscope {
namespace {

TEST(ClipTrainer, ResumesWithItsOwnTokenizerAndTheSameLosses)
{
    if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist") && !std::getenv("VITSCOPE_FASHION_MNIST_DIR"))
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    train::ClipTrainOptions o;
    o.limit = 64, o.batch = 16, o.epochs = 2, o.logEvery = 1, o.evalEvery = 0, o.device = "cpu", o.seed = 4;
    o.bpeMerges = 200;
    const auto full = train::trainClip(o, dir.file("full"));
    ASSERT_EQ(full.steps, 8);
    train::TrainCallbacks stop;
    int steps = 0;
    stop.onStep = [&](const train::StepInfo &) { ++steps; };
    stop.shouldStop = [&] { return steps >= 3; };
    EXPECT_EQ(train::trainClip(o, dir.file("split"), stop).status, train::RunStatus::Stopped);
    const auto rest = train::resumeRun(dir.file("split"));
    ASSERT_EQ(rest.status, train::RunStatus::Finished);
    EXPECT_EQ(test::stepLosses(dir.file("full")), test::stepLosses(dir.file("split")));
    // The saved model carries the learned tokenizer; a held-out template still tokenizes.
    auto clip = loadClip(rest.modelDir);
    EXPECT_EQ(clip.tokenizer->vocabSize(), clip.model->config.text.vocabSize);
    EXPECT_GT(clip.tokenizer->merges().size(), 20u);
    EXPECT_NO_THROW(clip.tokenizer->encode("a low resolution photo of a zebra."));
    EXPECT_LE(clip.model->scale().item<double>(), 100.0);
}

} // namespace
} // namespace vitscope

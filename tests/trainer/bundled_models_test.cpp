// The bundled Fashion-MNIST models (resources/models/fmnist-mae, fmnist-clip) against their
// model cards. Each card ends with a "Regression check" block of lines
//     check <name> <accuracy>
// measured with vitscope-cli on fixed subsets (the first 5,000 training images, the first
// 1,000 test images); here the same measurements are made through the library and must
// land within 2 points of the card. A model retrained without updating its card fails.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "models/checkpoints/hf_folder.h"
#include "models/runtime/data_files.h"
#include "trainer/clip_trainer.h"
#include "trainer/evaluation.h"
#include "trainer/data/sources.h"
#include "trainer/data/processor_transform.h"

using namespace vitscope;

namespace {

constexpr int64_t kProbeTrain = 5000; // first N training images
constexpr int64_t kTest = 1000;       // first N test images
constexpr double kTolerance = 0.02;   // two points

// The number after "check NAME" in the model card, or a test failure.
double cardFigure(const std::string &modelDir, const std::string &name)
{
    const auto path = std::filesystem::path(modelDir) / "MODEL_CARD.md";
    std::ifstream in(path);
    EXPECT_TRUE(in.good()) << "cannot read " << path;
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string check, key;
        double value = 0;
        if (words >> check >> key >> value && check == "check" && key == name)
            return value;
    }
    ADD_FAILURE() << path << " has no line \"check " << name << " <accuracy>\"";
    return -1;
}

bool fashionMnistOpens()
{
    try {
        (void)data::openSource("fashion-mnist", data::Split::Test, 1);
        return true;
    } catch (const std::exception &) {
        return false;
    }
}

} // namespace

TEST(BundledModelsSlow, MaeLinearProbeMatchesItsCard)
{
    if (!fashionMnistOpens())
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    const std::string dir = resolveModelDir("fmnist-mae");
    LoadedMae m = loadMae(dir, torch::kCPU);
    EXPECT_EQ(m.model->config.imageSize, 32);
    const auto t = data::transformForProcessor(m.processor, m.model->config.numChannels);
    const auto trainSet = data::openSource("fashion-mnist", data::Split::Train, kProbeTrain);
    const auto testSet = data::openSource("fashion-mnist", data::Split::Test, kTest);
    auto encode = [&](const torch::Tensor &x) { return m.model->encodeAll(x).select(1, 0); };
    const auto train = train::extractFeatures(encode, *trainSet, t, torch::kCPU);
    const auto test = train::extractFeatures(encode, *testSet, t, torch::kCPU);
    const double probe = train::linearProbe(train, test, 10).accuracy;
    const double knn = train::knnAccuracy(train, test, 10);
    EXPECT_NEAR(probe, cardFigure(dir, "linear-probe-5000-1000"), kTolerance);
    EXPECT_NEAR(knn, cardFigure(dir, "knn-5000-1000"), kTolerance);
}

TEST(BundledModelsSlow, ClipZeroShotMatchesItsCard)
{
    if (!fashionMnistOpens())
        GTEST_SKIP() << "Fashion-MNIST is not installed (dataset-fashion-mnist)";
    const std::string dir = resolveModelDir("fmnist-clip");
    LoadedClip clip = loadClip(dir, torch::kCPU);
    const auto t = data::transformForProcessor(clip.processor, clip.model->config.vision.numChannels);
    const auto testSet = data::openSource("fashion-mnist", data::Split::Test, kTest);
    const auto captions = train::fashionMnistCaptions();
    std::vector<std::string> labels;
    for (const auto &syns : captions.synonyms)
        labels.push_back(syns.front());
    // Only templates never seen in training.
    const double acc = train::zeroShotAccuracy(clip.model, clip.tokenizer, *testSet, t, torch::kCPU, labels,
                                               captions.heldOutTemplates);
    EXPECT_NEAR(acc, cardFigure(dir, "zeroshot-heldout-1000"), kTolerance);
}

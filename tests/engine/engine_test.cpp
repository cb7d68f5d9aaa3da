#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "src/engine/engine.h"
#include "trainer/data/datasets.h"
#include "trainer/data/idx.h"

namespace engine = vitscope::engine;

TEST(Engine, BuildInfoIsFilledIn)
{
    const engine::BuildInfo info = engine::buildInfo();
    EXPECT_FALSE(info.version.empty());
    EXPECT_FALSE(info.torchVersion.empty());
    EXPECT_FALSE(info.device.empty());
}

// Samples from the engine against the IDX files read directly (a second path).
TEST(Engine, SamplesAreTheFirstImagesOfEachClass)
{
    const std::string dir = engine::defaultFashionMnistDir();
    if (!std::filesystem::exists(dir))
        GTEST_SKIP() << dir << " absent";
    const auto files = vitscope::data::fashionMnistFiles(dir, vitscope::data::Split::Test);
    const auto images = vitscope::data::readIdx(files.images);
    const auto labels = vitscope::data::readIdx(files.labels);

    const engine::SampleGrid grid = engine::loadFashionMnistSamples("", 3);
    ASSERT_EQ(grid.samples.size(), 30u);
    ASSERT_EQ(grid.classNames.size(), 10u);
    std::set<std::int64_t> seen;
    for (std::size_t k = 0; k < grid.samples.size(); ++k) {
        const auto &s = grid.samples[k];
        EXPECT_EQ(s.label, static_cast<int>(k / 3)) << "grouped by class in label order";
        EXPECT_EQ(s.className, grid.classNames[static_cast<std::size_t>(s.label)]);
        ASSERT_GE(s.index, 0);
        EXPECT_EQ(labels.values[static_cast<std::size_t>(s.index)], s.label);
        // No earlier image of the same class was skipped.
        for (std::int64_t j = 0; j < s.index; ++j) {
            if (labels.values[static_cast<std::size_t>(j)] == s.label) {
                EXPECT_TRUE(seen.count(j)) << "image " << j << " of class " << s.label << " skipped";
            }
        }
        seen.insert(s.index);
        ASSERT_EQ(s.image.width, 28);
        ASSERT_EQ(s.image.rgb.size(), 28u * 28u * 3u);
        for (int p = 0; p < 28 * 28; ++p) {
            const auto grey = images.values[static_cast<std::size_t>(s.index * 784 + p)];
            ASSERT_EQ(s.image.rgb[3 * p], grey);
            ASSERT_EQ(s.image.rgb[3 * p + 2], grey);
        }
    }
}

TEST(Engine, BadFolderIsAnErrorNamingTheFile)
{
    try {
        engine::loadFashionMnistSamples("/nonexistent/fmnist", 2);
        ADD_FAILURE() << "no error";
    } catch (const std::exception &e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent/fmnist/t10k-images-idx3-ubyte.gz"), std::string::npos)
            << e.what();
    }
    EXPECT_THROW(engine::loadFashionMnistSamples("", 0), std::exception);
}

// ------------------------------------------------------------------ model sessions

#include <algorithm>
#include <cmath>

#include "src/engine/sessions.h"
#include "src/engine/training.h"
#include "models/kernels/fast_paths.h"

namespace {

bool haveBundled()
{
    const auto names = engine::bundledModels();
    return std::find(names.begin(), names.end(), "fmnist-mae") != names.end() &&
           std::find(names.begin(), names.end(), "fmnist-clip") != names.end();
}

// The first T-shirt/top of the test split (samples come grouped by class).
engine::RgbImage firstTestImage()
{
    return engine::loadFashionMnistSamples("", 1).samples.at(0).image;
}

} // namespace

TEST(EngineSessions, MaeExploreFollowsTheMaskDefinitions)
{
    if (!haveBundled() || !std::filesystem::exists(engine::defaultFashionMnistDir()))
        GTEST_SKIP() << "bundled models or Fashion-MNIST absent";
    auto mae = engine::MaeSession::load("fmnist-mae", "cpu");
    ASSERT_EQ(mae->info().kind, "mae");
    ASSERT_EQ(mae->info().grid, 8);
    const auto image = firstTestImage();
    engine::MaskRequest q;
    q.strategy = "random";
    q.ratio = 0.6;
    q.seed = 3;
    const auto r = mae->explore(image, q);
    const int L = 64;
    const int keep = int(std::floor(L * 0.4)); // 25
    EXPECT_EQ(r.keptCount, keep);
    ASSERT_EQ(r.removed.size(), std::size_t(L));
    EXPECT_EQ(std::count(r.removed.begin(), r.removed.end(), 1), L - keep);
    // The loss is the mean per-patch error over the removed patches.
    double sum = 0;
    for (int i = 0; i < L; ++i)
        if (r.removed[std::size_t(i)])
            sum += r.patchError[std::size_t(i)];
    EXPECT_NEAR(r.loss, sum / (L - keep), 1e-5 * std::max(1.0, r.loss));
    // "Reconstruction + visible" shows the original on visible patches, grey is only on removed ones.
    const int S = r.original.width, p = S / 8;
    ASSERT_EQ(S, 32);
    for (int i = 0; i < L; ++i)
        for (int y = 0; y < p; ++y)
            for (int x = 0; x < p; ++x) {
                const std::size_t px = std::size_t(((i / 8) * p + y) * S + (i % 8) * p + x) * 3;
                if (!r.removed[std::size_t(i)]) {
                    ASSERT_EQ(r.pasted.rgb[px], r.original.rgb[px]) << "patch " << i;
                    ASSERT_EQ(r.masked.rgb[px], r.original.rgb[px]) << "patch " << i;
                } else {
                    ASSERT_NEAR(int(r.masked.rgb[px]), 128, 1) << "patch " << i;
                }
            }
    // The same seed gives the same mask; another seed another one.
    EXPECT_EQ(mae->explore(image, q).removed, r.removed);
    q.seed = 4;
    EXPECT_NE(mae->explore(image, q).removed, r.removed);

    engine::MaskRequest custom;
    custom.strategy = "custom";
    custom.keep = {0, 9, 63};
    const auto c = mae->explore(image, custom);
    EXPECT_EQ(c.keptCount, 3);
    EXPECT_EQ(c.removed[0], 0);
    EXPECT_EQ(c.removed[9], 0);
    EXPECT_EQ(c.removed[63], 0);
    EXPECT_EQ(c.removed[1], 1);
    custom.keep.clear();
    EXPECT_THROW(mae->explore(image, custom), std::exception);

    // A non-square colour image of another size goes through the processor too.
    engine::RgbImage photo;
    photo.width = 50;
    photo.height = 40;
    photo.rgb.assign(50 * 40 * 3, 200);
    EXPECT_EQ(mae->explore(photo, q).original.width, 32);
}

TEST(EngineSessions, ClipCachesPromptsAndProbabilitiesAreASoftmax)
{
    if (!haveBundled() || !std::filesystem::exists(engine::defaultFashionMnistDir()))
        GTEST_SKIP() << "bundled models or Fashion-MNIST absent";
    auto clip = engine::ClipSession::load("fmnist-clip", "cpu");
    const std::vector<std::string> templates = {"a photo of a {}.", "a {}."};
    const auto e1 = clip->embedClasses({"trouser", "bag"}, templates, true);
    ASSERT_EQ(e1.size(), 2u);
    for (const auto &v : e1) {
        double n = 0;
        for (float x : v)
            n += double(x) * x;
        EXPECT_NEAR(std::sqrt(n), 1.0, 1e-5);
    }
    const auto encoded = clip->promptsEncoded();
    EXPECT_EQ(encoded, 4); // 2 classes x 2 templates
    clip->embedClasses({"trouser", "bag", "sandal"}, templates, true);
    EXPECT_EQ(clip->promptsEncoded(), encoded + 2); // only the new class's prompts
    clip->embedClasses({"trouser", "bag", "sandal"}, templates, false);
    EXPECT_EQ(clip->promptsEncoded(), encoded + 2); // single template: cached already

    const auto img = clip->embedImages({firstTestImage()});
    ASSERT_EQ(img.size(), 1u);
    const auto classes = clip->embedClasses({"t-shirt/top", "trouser", "bag"}, templates, true);
    const auto p = engine::zeroShotProbabilities(img[0], classes, clip->logitScale());
    double sum = 0;
    for (float x : p)
        sum += x;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_GT(p[0], p[1]); // the first sample of class 0: a T-shirt/top
    EXPECT_GT(p[0], p[2]);

    EXPECT_THROW(clip->embedClasses({"bag"}, {"no placeholder"}, true), std::exception);
}

// The zero-shot view's bf16 switch: one request's choice, never the process's; bfloat16
// embeddings (prompts and images) stay near float32's without being them, and the prompt
// cache serves each precision its own.
TEST(EngineSessions, ClipTowerWeightsAreChosenPerRequest)
{
    if (!haveBundled())
        GTEST_SKIP() << "bundled models absent";
    auto clip = engine::ClipSession::load("fmnist-clip", "cpu");
    const bool processBf16 = vitscope::fastPaths().bf16Text, processBf16Image = vitscope::fastPaths().bf16Image;
    const std::vector<std::string> names = {"trouser", "bag", "ankle boot"}, templates = {"a photo of a {}."};
    const auto f32 = clip->embedClasses(names, templates, true, engine::TowerWeights::Float32);
    const auto encoded = clip->promptsEncoded();
    const auto b16 = clip->embedClasses(names, templates, true, engine::TowerWeights::BFloat16);
    EXPECT_EQ(vitscope::fastPaths().bf16Text, processBf16) << "a request changed the process's setting";
    ASSERT_EQ(b16.size(), f32.size());
    if (!clip->bf16Available()) {
        EXPECT_EQ(b16, f32) << "no bfloat16 here: the request runs float32";
        EXPECT_EQ(clip->promptsEncoded(), encoded);
        return;
    }
    EXPECT_EQ(clip->promptsEncoded(), encoded + 3) << "float32 embeddings were served to a bfloat16 request";
    double largestGap = 0;
    for (std::size_t k = 0; k < f32.size(); ++k) {
        double dot = 0;
        for (std::size_t i = 0; i < f32[k].size(); ++i) {
            dot += double(f32[k][i]) * b16[k][i];
            largestGap = std::max(largestGap, double(std::abs(f32[k][i] - b16[k][i])));
        }
        EXPECT_GT(dot, 0.9999) << names[k]; // both unit length: the cosine
    }
    EXPECT_GT(largestGap, 1e-6) << "no rounding happened";
    EXPECT_EQ(clip->embedClasses(names, templates, true, engine::TowerWeights::Float32), f32);
    EXPECT_EQ(clip->embedClasses(names, templates, true, engine::TowerWeights::BFloat16), b16);
    EXPECT_EQ(clip->promptsEncoded(), encoded + 3) << "each precision's prompts come from the cache";

    // The image tower: the same per request.
    engine::RgbImage image;
    image.width = image.height = 32;
    for (int i = 0; i < 32 * 32 * 3; ++i)
        image.rgb.push_back(std::uint8_t((i * 37) % 251));
    const auto i32 = clip->embedImages({image}, engine::TowerWeights::Float32).at(0);
    const auto i16 = clip->embedImages({image}, engine::TowerWeights::BFloat16).at(0);
    EXPECT_EQ(vitscope::fastPaths().bf16Image, processBf16Image) << "a request changed the process's setting";
    double dot = 0, gap = 0;
    for (std::size_t i = 0; i < i32.size(); ++i) {
        dot += double(i32[i]) * i16[i];
        gap = std::max(gap, double(std::abs(i32[i] - i16[i])));
    }
    EXPECT_GT(dot, 0.999);
    EXPECT_GT(gap, 1e-6) << "no rounding happened";
    EXPECT_EQ(clip->embedImages({image}, engine::TowerWeights::Float32).at(0), i32);
}

TEST(EngineSessions, ZeroShotProbabilitiesHandWorked)
{
    // softmax(2 * [1, 0]) = [e^2, 1] / (e^2 + 1)
    const auto p = engine::zeroShotProbabilities({1.f, 0.f}, {{1.f, 0.f}, {0.f, 1.f}}, 2.f);
    ASSERT_EQ(p.size(), 2u);
    EXPECT_NEAR(p[0], 0.8807971, 1e-6);
    EXPECT_NEAR(p[1], 0.1192029, 1e-6);
    EXPECT_THROW(engine::zeroShotProbabilities({1.f}, {{1.f, 0.f}}, 1.f), std::exception);
}

TEST(EngineSessions, WrongKindOfModelIsRefusedWithItsType)
{
    if (!haveBundled())
        GTEST_SKIP() << "bundled models absent";
    try {
        engine::MaeSession::load("fmnist-clip", "cpu");
        FAIL() << "loaded a CLIP as an MAE";
    } catch (const std::exception &e) {
        EXPECT_NE(std::string(e.what()).find("not an MAE"), std::string::npos) << e.what();
    }
    EXPECT_EQ(engine::modelKind("fmnist-mae"), "mae");
    EXPECT_EQ(engine::modelKind("fmnist-clip"), "clip");
    EXPECT_THROW(engine::ClipSession::load("/nonexistent/model", "cpu"), std::exception);
}

TEST(EngineTraining, BadRequestsAreRefusedBeforeAnyFileIsWritten)
{
    const auto dir = std::filesystem::temp_directory_path() / "vitscope-engine-bad-request";
    std::filesystem::remove_all(dir);
    engine::TrainRequest q;
    q.epochs = 0;
    EXPECT_THROW(engine::train(q, dir.string(), {}), std::exception);
    q.epochs = 1;
    q.kind = "gan";
    EXPECT_THROW(engine::train(q, dir.string(), {}), std::exception);
    EXPECT_FALSE(std::filesystem::exists(dir));
    EXPECT_FALSE(engine::presetNames("mae").empty());
    EXPECT_FALSE(engine::presetNames("clip").empty());
}

TEST(Engine, NewRunDirsAreFreshAndNamedByKind)
{
    const auto parent = std::filesystem::temp_directory_path() / "vitscope-engine-runs";
    std::filesystem::remove_all(parent);
    std::filesystem::create_directories(parent);
    const std::string a = engine::newRunDir(parent.string(), "mae");
    EXPECT_EQ(std::filesystem::path(a).filename().string().rfind("mae-", 0), 0u) << a;
    std::filesystem::create_directories(a);
    const std::string b = engine::newRunDir(parent.string(), "mae");
    EXPECT_NE(a, b);
    std::filesystem::remove_all(parent);
}

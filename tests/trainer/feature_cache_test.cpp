// The feature cache (trainer/feature_cache.h) and feature extraction's progress: keys that
// change with exactly what determines the features, exact round trips, damaged entries.
#include <gtest/gtest.h>

#include <filesystem>

#include "models/error.h"
#include "tests/common/temp_dir.h"
#include "trainer/evaluation.h"
#include "trainer/feature_cache.h"
#include "trainer/data/sources.h"

namespace vitscope {
namespace {

// Ten 28 x 28 grey images: image i is filled with the value 20 * i; labels i mod 3.
class TenImages : public data::SampleSource {
public:
    int64_t size() const override { return 10; }
    torch::Tensor image(int64_t i) const override
    {
        return torch::full({28, 28, 1}, 20 * i, torch::TensorOptions().dtype(torch::kByte));
    }
    int64_t label(int64_t i) const override { return i % 3; }
    std::string describe() const override { return "ten synthetic images"; }
};

TEST(FeatureExtraction, ReportsProgressAndGivesOrdinaryTensors)
{
    TenImages source;
    data::ImageTransform t; // 32 x 32, one channel, mean 0.5, std 0.5, zero padding
    std::vector<std::pair<int64_t, int64_t>> calls;
    // The encoder: each image's mean pixel, as one feature.
    auto encode = [](const torch::Tensor &x) { return x.flatten(1).mean(1, true); };
    const auto f = train::extractFeatures(encode, source, t, torch::kCPU, 0, 4,
                                          [&](int64_t done, int64_t total) { calls.emplace_back(done, total); });
    const std::vector<std::pair<int64_t, int64_t>> expected{{4, 10}, {8, 10}, {10, 10}};
    EXPECT_EQ(calls, expected);
    ASSERT_EQ(f.x.sizes(), (std::vector<int64_t>{10, 1}));
    EXPECT_FALSE(f.x.is_inference()) << "a probe trains on these with autograd";
    // By hand: pixel v/255 normalised to (v/255 - 0.5) / 0.5 on the 28 x 28 inside,
    // the 2-pixel zero padding is (0 - 0.5) / 0.5 = -1 on the other 1024 - 784 pixels.
    for (int64_t i = 0; i < 10; ++i) {
        const double inside = (20.0 * double(i) / 255.0 - 0.5) / 0.5;
        EXPECT_NEAR(f.x[i][0].item<double>(), (784 * inside + 240 * -1.0) / 1024, 1e-5) << "image " << i;
        EXPECT_EQ(f.labels[i].item<int64_t>(), i % 3);
    }
}

// The images of a batch are decoded on several threads (at::parallel_for): the same
// features, in the same order, on two threads as on one, whatever threads the suite gives
// its tests (make test runs them one thread each).
TEST(FeatureExtraction, TwoThreadsGiveTheFeaturesOfOne)
{
    TenImages source;
    data::ImageTransform t;
    auto encode = [](const torch::Tensor &x) { return x.flatten(1).mean(1, true); };
    const int before = at::get_num_threads();
    at::set_num_threads(1);
    const auto one = train::extractFeatures(encode, source, t, torch::kCPU, 0, 5);
    at::set_num_threads(2);
    ASSERT_EQ(at::get_num_threads(), 2);
    const auto two = train::extractFeatures(encode, source, t, torch::kCPU, 0, 5);
    at::set_num_threads(before);
    EXPECT_TRUE(torch::equal(one.x, two.x));
    EXPECT_TRUE(torch::equal(one.labels, two.labels));
}

TEST(FeatureCache, ContentHashFollowsEveryByteAndName)
{
    test::TempDir dir;
    std::filesystem::create_directories(dir.path() / "m");
    test::writeBytes(dir.file("m/config.json"), "{}");
    test::writeBytes(dir.file("m/model.safetensors"), std::string(3000, 'a'));
    const std::string h0 = train::contentHash(dir.file("m"));
    EXPECT_EQ(h0.size(), 16u);
    EXPECT_EQ(train::contentHash(dir.file("m")), h0) << "deterministic";
    std::string changed(3000, 'a');
    changed[2999] = 'b'; // the last byte, same size
    test::writeBytes(dir.file("m/model.safetensors"), changed);
    const std::string h1 = train::contentHash(dir.file("m"));
    EXPECT_NE(h1, h0);
    std::filesystem::rename(dir.path() / "m/config.json", dir.path() / "m/config2.json");
    EXPECT_NE(train::contentHash(dir.file("m")), h1) << "a renamed file is another model folder";
    EXPECT_THROW(train::contentHash(dir.file("absent")), Error);

    const std::string print = train::metadataFingerprint(dir.file("m"));
    test::writeBytes(dir.file("m/extra.png"), "x");
    EXPECT_NE(train::metadataFingerprint(dir.file("m")), print) << "an image added to a data folder";
}

TEST(FeatureCache, KeysDifferExactlyWhereTheFeaturesWould)
{
    train::FeatureRequest a;
    a.model = "0123456789abcdef", a.data = "fashion-mnist", a.split = "train", a.pool = "cls";
    auto b = a;
    EXPECT_EQ(a.key(), b.key());
    b.split = "test";
    EXPECT_NE(a.key(), b.key());
    b = a, b.pool = "mean";
    EXPECT_NE(a.key(), b.key());
    b = a, b.limit = 100;
    EXPECT_NE(a.key(), b.key());
    b = a, b.transform.size = 224;
    EXPECT_NE(a.key(), b.key());
    b = a, b.model = "0123456789abcdee";
    EXPECT_NE(a.key(), b.key());
    b = a, b.dataPrint = "1";
    EXPECT_NE(a.key(), b.key());
}

TEST(FeatureCache, StoresExactlyAndSurvivesDamage)
{
    test::TempDir dir;
    const train::FeatureCache cache(dir.file("features"));
    train::FeatureRequest rq;
    rq.model = "m", rq.data = "d", rq.split = "train", rq.pool = "cls";
    EXPECT_FALSE(cache.load(rq).has_value()) << "nothing stored yet";
    train::Features f{torch::randn({7, 5}), torch::tensor({0, 1, 2, 0, 1, 2, 0}, torch::kLong)};
    cache.store(rq, f);
    const auto back = cache.load(rq);
    ASSERT_TRUE(back.has_value());
    EXPECT_TRUE(torch::equal(back->x, f.x));
    EXPECT_TRUE(torch::equal(back->labels, f.labels));
    EXPECT_TRUE(std::filesystem::exists(dir.file("features/" + rq.key() + ".json")));
    auto other = rq;
    other.split = "test";
    EXPECT_FALSE(cache.load(other).has_value());
    // A truncated entry: a miss (with a warning), never an exception.
    const std::string file = dir.file("features/" + rq.key() + ".pt");
    const std::string bytes = test::readBytes(file);
    test::writeBytes(file, bytes.substr(0, bytes.size() / 2));
    EXPECT_FALSE(cache.load(rq).has_value());
    cache.store(rq, f); // replaced
    EXPECT_TRUE(cache.load(rq).has_value());
}

} // namespace
} // namespace vitscope

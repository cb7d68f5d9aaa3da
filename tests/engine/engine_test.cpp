#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "src/engine/engine.h"
#include "trainer/datasets.h"
#include "trainer/idx.h"

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

#include <gtest/gtest.h>

#include <filesystem>

#include "common/temp_dir.h"
#include "models/error.h"
#include "trainer/data/datasets.h"
#include "trainer/data/idx.h"
#include "vitscope/version.h"

using namespace vitscope::data;
using vitscope::FileError;
using vitscope::test::TempDir;

namespace {

// A Fashion-MNIST-shaped folder with `n` test images of h x w and the given labels.
void writeSplit(const TempDir &dir, std::int64_t n, std::int64_t labelsCount, std::uint8_t label = 3)
{
    IdxArray images;
    images.dims = {n, 28, 28};
    images.values.resize(static_cast<std::size_t>(n * 28 * 28));
    for (std::size_t i = 0; i < images.values.size(); ++i)
        images.values[i] = static_cast<std::uint8_t>(i % 251);
    IdxArray labels;
    labels.dims = {labelsCount};
    labels.values.assign(static_cast<std::size_t>(labelsCount), label);
    writeIdx(dir.file("t10k-images-idx3-ubyte.gz"), images, true);
    writeIdx(dir.file("t10k-labels-idx1-ubyte.gz"), labels, true);
}

std::string messageOf(const std::function<void()> &f)
{
    try {
        f();
    } catch (const FileError &e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST(FashionMnist, ReadsAWrittenSplit)
{
    TempDir dir;
    writeSplit(dir, 5, 5, 9);
    const ImageSet set = loadFashionMnist(dir.path().string(), Split::Test);
    EXPECT_EQ(set.count, 5);
    EXPECT_EQ(set.height, 28);
    EXPECT_EQ(set.width, 28);
    EXPECT_EQ(set.channels, 1);
    EXPECT_EQ(set.labels, std::vector<std::int64_t>(5, 9));
    EXPECT_EQ(set.image(1)[0], static_cast<std::uint8_t>(784 % 251));
    EXPECT_EQ(set.classNames.at(9), "Ankle boot");
}

TEST(FashionMnist, MissingFolderNamesTheExpectedFile)
{
    TempDir dir;
    const std::string msg = messageOf([&] { loadFashionMnist(dir.file("absent"), Split::Test); });
    EXPECT_NE(msg.find("t10k-images-idx3-ubyte.gz: missing"), std::string::npos) << msg;
}

TEST(FashionMnist, CountMismatchNamesBothFiles)
{
    TempDir dir;
    writeSplit(dir, 6, 4);
    const std::string msg = messageOf([&] { loadFashionMnist(dir.path().string(), Split::Test); });
    EXPECT_NE(msg.find("t10k-labels-idx1-ubyte.gz: count mismatch: 4 labels for 6 images"), std::string::npos)
        << msg;
}

TEST(FashionMnist, LabelOutsideTheClassesIsAnError)
{
    TempDir dir;
    writeSplit(dir, 3, 3, 10);
    const std::string msg = messageOf([&] { loadFashionMnist(dir.path().string(), Split::Test); });
    EXPECT_NE(msg.find("label 10 at index 0 is outside the class range 0..9"), std::string::npos) << msg;
}

TEST(FashionMnist, SwappedFilesAreCaught)
{
    TempDir dir;
    writeSplit(dir, 2, 2);
    std::filesystem::rename(dir.file("t10k-images-idx3-ubyte.gz"), dir.file("tmp"));
    std::filesystem::rename(dir.file("t10k-labels-idx1-ubyte.gz"), dir.file("t10k-images-idx3-ubyte.gz"));
    std::filesystem::rename(dir.file("tmp"), dir.file("t10k-labels-idx1-ubyte.gz"));
    const std::string msg = messageOf([&] { loadFashionMnist(dir.path().string(), Split::Test); });
    EXPECT_NE(msg.find("is this a labels file?"), std::string::npos) << msg;
}

TEST(FashionMnist, ResolvesTheDefaultFolder)
{
    if (!std::getenv("VITSCOPE_FASHION_MNIST_DIR")) {
        EXPECT_EQ(resolveFashionMnistDir("fashion-mnist"), VITSCOPE_DEFAULT_FASHION_MNIST_DIR);
        EXPECT_EQ(resolveFashionMnistDir(""), VITSCOPE_DEFAULT_FASHION_MNIST_DIR);
    }
    EXPECT_EQ(resolveFashionMnistDir("/some/where"), "/some/where");
}

// The real dataset (Debian's dataset-fashion-mnist) against the dataset's published
// description: 60,000 + 10,000 images of 28 x 28, balanced classes (6,000 / 1,000 each).
TEST(FashionMnistData, RealSplitsMatchThePublishedCounts)
{
    const std::string dir = resolveFashionMnistDir("fashion-mnist");
    if (!std::filesystem::exists(dir))
        GTEST_SKIP() << dir << " absent (install dataset-fashion-mnist)";
    for (auto [split, perClass] : {std::pair{Split::Train, 6000}, std::pair{Split::Test, 1000}}) {
        const ImageSet set = loadFashionMnist(dir, split);
        EXPECT_EQ(set.count, perClass * 10);
        EXPECT_EQ(set.height, 28);
        EXPECT_EQ(set.width, 28);
        std::vector<int> counts(10, 0);
        for (auto l : set.labels)
            ++counts[static_cast<std::size_t>(l)];
        EXPECT_EQ(counts, std::vector<int>(10, perClass));
        // Images are not blank: the mean grey level of Fashion-MNIST is about 73 of 255.
        double sum = 0;
        for (auto v : set.pixels)
            sum += v;
        EXPECT_NEAR(sum / double(set.pixels.size()), 73.0, 3.0);
    }
}

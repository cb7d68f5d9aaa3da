// The inspection commands as a user runs them: attention, embed-map, eval shift and
// partial fine-tuning, on the bundled models and Fashion-MNIST.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/cli_run.h"
#include "common/fashion_mnist.h"
#include "common/temp_dir.h"
#include "models/checkpoints/safetensors.h"
#include "trainer/data/datasets.h"
#include "trainer/data/images.h"

using vitscope::test::CliRun;
using vitscope::test::runCli;
using vitscope::test::TempDir;
using nlohmann::json;

namespace {

using vitscope::test::haveFashionMnist;

// The first `count` Fashion-MNIST test images as PNG files in `dir` (no class folders).
void writeImages(const std::string &dir, int count)
{
    auto set = vitscope::data::loadFashionMnist(vitscope::data::resolveFashionMnistDir("fashion-mnist"),
                                                vitscope::data::Split::Test);
    std::filesystem::create_directories(dir);
    for (int i = 0; i < count; ++i) {
        vitscope::data::RgbImage img;
        img.width = img.height = 28;
        const uint8_t *pixels = set.image(i);
        for (int p = 0; p < 28 * 28; ++p)
            for (int c = 0; c < 3; ++c)
                img.rgb.push_back(pixels[p]);
        vitscope::data::saveImageRgb(dir + "/img" + std::to_string(i) + ".png", img);
    }
}

int csvRows(const std::string &path)
{
    std::ifstream in(path);
    std::string line;
    int n = -1; // the header
    while (std::getline(in, line))
        if (!line.empty())
            ++n;
    return n;
}

} // namespace

TEST(CliInspect, AttentionWritesTheMapAndTheTensors)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    writeImages(dir.file("img"), 1);
    const std::string image = dir.file("img") + "/img0.png";
    // MAE at ratio 0.75: 16 of 64 patches have tokens, plus the class token.
    const CliRun r = runCli("attention --model fmnist-mae --image '" + image + "' --ratio 0.75 --seed 3 --out '" +
                            dir.file("mae.png") + "' --save-tensors '" + dir.file("mae.safetensors") + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = json::parse(r.out);
    EXPECT_EQ(j["tokens"], 17);
    EXPECT_EQ(j["removed"], 48);
    EXPECT_TRUE(std::filesystem::file_size(dir.file("mae.png")) > 0);
    auto t = vitscope::readSafetensors(dir.file("mae.safetensors"));
    const auto &att = t.at("attention");
    ASSERT_EQ(att.dim(), 4);
    EXPECT_EQ(att.size(0), j["layers"].get<int64_t>());
    EXPECT_EQ(att.size(2), 17);
    EXPECT_TRUE(torch::allclose(att.sum(-1), torch::ones({att.size(0), att.size(1), 17}), 1e-5, 1e-5));
    const auto &patches = t.at("patches");
    EXPECT_EQ(patches.size(0), 16);
    EXPECT_TRUE(torch::equal(patches, std::get<0>(patches.sort()))) << "patches not in raster order";
    EXPECT_EQ(t.at("rollout").sizes(), (std::vector<int64_t>{17, 17}));

    // --ratio 0: every patch is visible.
    const CliRun all = runCli("attention --model fmnist-mae --image '" + image + "' --ratio 0 --out '" + dir.file("all.png") +
                              "' --save-tensors '" + dir.file("all.safetensors") + "'");
    ASSERT_EQ(all.status, 0) << all.err;
    EXPECT_EQ(json::parse(all.out)["tokens"], 65);

    const CliRun clip = runCli("attention --model fmnist-clip --image '" + image + "' --out '" + dir.file("clip.png") + "'");
    ASSERT_EQ(clip.status, 0) << clip.err;
    EXPECT_EQ(json::parse(clip.out)["tokens"], 65);
    const CliRun ratio = runCli("attention --model fmnist-clip --image '" + image + "' --ratio 0.5 --out x.png");
    EXPECT_NE(ratio.status, 0);
    EXPECT_NE(ratio.err.find("--ratio applies to MAE"), std::string::npos) << ratio.err;
    const CliRun notImage = runCli("attention --model fmnist-mae --image '" + dir.file("mae.safetensors") + "' --out x.png");
    EXPECT_NE(notImage.status, 0);
    EXPECT_NE(notImage.err.find("mae.safetensors"), std::string::npos) << notImage.err;
}

TEST(CliInspect, EmbedMapOfAFolderAndOfFashionMnist)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    writeImages(dir.file("flat"), 6);
    const CliRun mae = runCli("embed-map --model fmnist-mae --folder '" + dir.file("flat") + "' --out '" +
                              dir.file("mae.png") + "' --csv '" + dir.file("mae.csv") + "' --pool mean");
    ASSERT_EQ(mae.status, 0) << mae.err;
    EXPECT_EQ(json::parse(mae.out)["images"], 6);
    EXPECT_EQ(csvRows(dir.file("mae.csv")), 6);

    const CliRun clip = runCli("embed-map --model fmnist-clip --data fashion-mnist --limit 200 --out '" +
                               dir.file("clip.png") + "' --csv '" + dir.file("clip.csv") + "'");
    ASSERT_EQ(clip.status, 0) << clip.err;
    const auto j = json::parse(clip.out);
    EXPECT_EQ(j["images"], 200);
    EXPECT_EQ(j["text_points"], 10);
    EXPECT_EQ(csvRows(dir.file("clip.csv")), 210);
    const double e1 = j["explained_variance"][0], e2 = j["explained_variance"][1];
    EXPECT_GT(e1, 0.0);
    EXPECT_GE(e1, e2);
    EXPECT_LE(e1 + e2, 1.0 + 1e-9);
    // The map's predictions are zero-shot predictions: the same accuracy as eval zeroshot
    // with the same prompts on the same 200 images.
    const CliRun zs = runCli("eval zeroshot --model fmnist-clip --limit 200");
    ASSERT_EQ(zs.status, 0) << zs.err;
    EXPECT_NEAR(j["zero_shot_accuracy"].get<double>(), json::parse(zs.out)["accuracy"].get<double>(), 1e-9);

    const CliRun both = runCli("embed-map --model fmnist-clip --data fashion-mnist --folder x --out y.png");
    EXPECT_NE(both.status, 0);
    EXPECT_NE(both.err.find("one of --folder"), std::string::npos) << both.err;
}

TEST(CliInspect, EvalShiftReportsEveryShiftAndItsNoneRowIsZeroShot)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    const CliRun r = runCli("eval shift --model fmnist-clip --limit 500 --test-limit 200 --csv '" + dir.file("s.csv") +
                            "' --out '" + dir.file("s.png") + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = json::parse(r.out);
    ASSERT_EQ(j["shifts"].size(), 8u);
    EXPECT_EQ(j["shifts"][0]["shift"], "none");
    EXPECT_EQ(csvRows(dir.file("s.csv")), 8);
    EXPECT_TRUE(std::filesystem::file_size(dir.file("s.png")) > 0);
    const CliRun zs = runCli("eval zeroshot --model fmnist-clip --limit 200");
    ASSERT_EQ(zs.status, 0) << zs.err;
    EXPECT_NEAR(j["shifts"][0]["zero_shot"].get<double>(), json::parse(zs.out)["accuracy"].get<double>(), 1e-9);
    for (const auto &row : j["shifts"]) {
        EXPECT_GE(row["zero_shot"].get<double>(), 0.0);
        EXPECT_LE(row["linear_probe"].get<double>(), 1.0);
    }
    // Turning the images upside down by 90 degrees costs both classifiers accuracy.
    EXPECT_LT(j["shifts"][5]["zero_shot"].get<double>(), j["shifts"][0]["zero_shot"].get<double>());
    const CliRun mae = runCli("eval shift --model fmnist-mae --limit 10");
    EXPECT_NE(mae.status, 0);
    EXPECT_NE(mae.err.find("must be a CLIP model"), std::string::npos) << mae.err;
    const CliRun bad = runCli("eval shift --model fmnist-clip --shifts sepia");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.err.find("unknown shift 'sepia'"), std::string::npos) << bad.err;
}

TEST(CliInspect, PartialFinetuneRunsEachBlockCount)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    const CliRun r = runCli("eval finetune --model fmnist-mae --blocks 0,1 --epochs 1 --limit 128 --test-limit 64 "
                            "--batch 64 --workers 1 --csv '" + dir.file("ft.csv") + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = json::parse(r.out);
    EXPECT_EQ(j["protocol"], "partial-finetune");
    ASSERT_EQ(j["points"].size(), 2u);
    EXPECT_EQ(j["points"][0]["blocks"], 0);
    EXPECT_EQ(j["points"][1]["blocks"], 1);
    // One more block trained: its parameters move from frozen to trained.
    const int64_t moved = j["points"][1]["trained_parameters"].get<int64_t>() - j["points"][0]["trained_parameters"].get<int64_t>();
    EXPECT_GT(moved, 0);
    EXPECT_EQ(j["points"][0]["frozen_parameters"].get<int64_t>() - j["points"][1]["frozen_parameters"].get<int64_t>(), moved);
    EXPECT_EQ(csvRows(dir.file("ft.csv")), 2);
    const CliRun bad = runCli("eval finetune --model fmnist-mae --blocks two");
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.err.find("--blocks expects"), std::string::npos) << bad.err;
}

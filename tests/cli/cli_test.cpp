// Runs the built vitscope-cli as a user would and checks its output and exit status.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <sys/wait.h>

#include "common/temp_dir.h"
#include "models/hf_folder.h"
#include "models/safetensors.h"
#include "trainer/images.h"
#include "vitscope/version.h"

namespace {

struct CliRun {
    int status = -1;
    std::string out;
    std::string err;
};

CliRun runCli(const std::string &args)
{
    vitscope::test::TempDir tmp;
    const std::string errFile = tmp.file("stderr");
    const std::string cmd = std::string("'") + VITSCOPE_CLI_PATH + "' " + args + " 2>'" + errFile + "'";
    CliRun r;
    FILE *p = popen(cmd.c_str(), "r");
    if (!p)
        return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        r.out.append(buf.data(), n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.err = vitscope::test::readBytes(errFile);
    return r;
}

} // namespace

TEST(Cli, VersionNamesVersionTorchAndDevice)
{
    const CliRun r = runCli("--version");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("vitscope-cli ") + VITSCOPE_VERSION), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("LibTorch "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("device: "), std::string::npos) << r.out;
}

TEST(Cli, HelpListsCommands)
{
    const CliRun r = runCli("--help");
    EXPECT_EQ(r.status, 0);
    EXPECT_NE(r.out.find("vitscope-cli data info"), std::string::npos) << r.out;
}

TEST(Cli, DataInfoPrintsJsonFromTheIdxFiles)
{
    if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist") && !std::getenv("VITSCOPE_FASHION_MNIST_DIR"))
        GTEST_SKIP() << "Fashion-MNIST absent";
    const CliRun r = runCli("data info --data fashion-mnist");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["splits"]["train"]["count"], 60000);
    EXPECT_EQ(j["splits"]["test"]["count"], 10000);
    EXPECT_EQ(j["image"]["height"], 28);
    EXPECT_EQ(j["image"]["width"], 28);
    EXPECT_EQ(j["image"]["channels"], 1);
    ASSERT_EQ(j["classes"].size(), 10u);
    EXPECT_EQ(j["classes"][0], "T-shirt/top");
    EXPECT_EQ(j["classes"][9], "Ankle boot");
    EXPECT_EQ(j["splits"]["test"]["per_class"], std::vector<int>(10, 1000));
}

TEST(Cli, MissingDataIsOneLineNamingTheFileAndExit1)
{
    const CliRun r = runCli("data info --data /nonexistent/dir");
    EXPECT_EQ(r.status, 1);
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_EQ(r.err.rfind("vitscope-cli: error: /nonexistent/dir/train-images-idx3-ubyte.gz: missing", 0), 0u)
        << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Cli, UsageErrorsExit2WithUsage)
{
    for (const char *args : {"data info --bogus 1", "data info --data", "frobnicate", "data info extra"}) {
        const CliRun r = runCli(args);
        EXPECT_EQ(r.status, 2) << args << ": " << r.err;
        EXPECT_FALSE(r.err.empty()) << args;
    }
}

namespace {

// A small MAE folder (Fashion-MNIST geometry: 32 x 32, patch 4, grey) and a test image.
struct MaeFixture {
    vitscope::test::TempDir dir;
    std::string model, image;
    MaeFixture()
    {
        vitscope::MaeConfig c = vitscope::MaeConfig::preset("fmnist");
        c.hiddenSize = 32, c.numHiddenLayers = 1, c.numAttentionHeads = 2, c.intermediateSize = 64;
        c.decoderHiddenSize = 16, c.decoderNumHiddenLayers = 1, c.decoderNumAttentionHeads = 2;
        c.decoderIntermediateSize = 32;
        vitscope::Mae mae(c);
        vitscope::ImageProcessorConfig p;
        p.size = p.cropSize = 32;
        p.imageMean = {0.286f};
        p.imageStd = {0.353f};
        model = dir.file("mae");
        vitscope::saveMaeFolder(mae, p, model);
        vitscope::data::RgbImage img;
        img.width = 40, img.height = 30; // not square: resized and center-cropped
        for (int i = 0; i < img.width * img.height; ++i)
            for (int ch = 0; ch < 3; ++ch)
                img.rgb.push_back(static_cast<std::uint8_t>((i * 7 + ch * 50) % 256));
        image = dir.file("in.png");
        vitscope::data::saveImageRgb(image, img);
    }
};

} // namespace

TEST(CliMae, InfoDescribesTheFolder)
{
    MaeFixture f;
    const CliRun r = runCli("info --model '" + f.model + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["type"], "vit_mae");
    EXPECT_EQ(j["patches"], 64);
    EXPECT_EQ(j["config"]["hidden_size"], 32);
    EXPECT_GT(j["parameters"].get<long>(), j["encoder_parameters"].get<long>());
}

TEST(CliMae, ReconstructWritesPanelsAndTensors)
{
    MaeFixture f;
    const std::string png = f.dir.file("panel.png"), st = f.dir.file("t.safetensors");
    const CliRun r = runCli("reconstruct --model '" + f.model + "' --image '" + f.image +
                            "' --mask block --ratio 0.5 --seed 3 --out '" + png + "' --save-tensors '" + st + "'");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["kept"], 32);
    EXPECT_EQ(j["removed"], 32);
    const auto panel = vitscope::data::loadImageRgb(png);
    const int scale = 224 / 32;
    EXPECT_EQ(panel.height, 32 * scale);
    EXPECT_EQ(panel.width, 4 * 32 * scale + 3 * 4 * scale);
    const auto t = vitscope::readSafetensors(st);
    EXPECT_EQ(t.at("pred").sizes(), (std::vector<int64_t>{1, 64, 16}));
    EXPECT_EQ(t.at("mask").sum().item<float>(), 32.0f);
    EXPECT_NEAR(t.at("loss").item<double>(), j["loss"].get<double>(), 1e-6);
}

TEST(CliMae, CustomKeepListAndSeedsReproduce)
{
    MaeFixture f;
    const std::string png = f.dir.file("p.png");
    const CliRun a = runCli("reconstruct --model '" + f.model + "' --image '" + f.image + "' --keep 0,9,63 --out '" + png + "'");
    ASSERT_EQ(a.status, 0) << a.err;
    EXPECT_EQ(nlohmann::json::parse(a.out)["kept"], 3);
    const std::string args = "reconstruct --model '" + f.model + "' --image '" + f.image + "' --seed 5 --out '" + png + "'";
    const CliRun b = runCli(args), c = runCli(args);
    ASSERT_EQ(b.status, 0) << b.err;
    EXPECT_EQ(nlohmann::json::parse(b.out)["loss"], nlohmann::json::parse(c.out)["loss"]);
}

TEST(CliMae, BadInputsNameTheFile)
{
    MaeFixture f;
    const std::string notImage = f.dir.file("notes.png");
    vitscope::test::writeBytes(notImage, "this is text");
    const CliRun a = runCli("reconstruct --model '" + f.model + "' --image '" + notImage + "' --out '" + f.dir.file("o.png") + "'");
    EXPECT_EQ(a.status, 1);
    EXPECT_NE(a.err.find(notImage + ": not an image"), std::string::npos) << a.err;
    const CliRun b = runCli("info --model '" + f.dir.file("nope") + "'");
    EXPECT_EQ(b.status, 1);
    EXPECT_NE(b.err.find("nope: missing"), std::string::npos) << b.err;
    const CliRun c = runCli("reconstruct --model '" + f.model + "' --image '" + f.image + "' --ratio 0.99 --out '" + f.dir.file("o.png") + "'");
    EXPECT_EQ(c.status, 1);
    EXPECT_NE(c.err.find("outside [0, 0.95]"), std::string::npos) << c.err;
}

TEST(CliMae, BenchPrintsThroughput)
{
    const CliRun r = runCli("bench mae-train --preset fmnist --batch 4 --steps 2 --warmup 1");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_GT(j["images_per_s"].get<double>(), 0.0);
    EXPECT_EQ(j["encoder_tokens"], 17);
    EXPECT_EQ(j["step_s"].size(), 2u);
    EXPECT_EQ(j["config"]["patch_size"], 4);
}

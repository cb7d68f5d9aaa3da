// Runs the built vitscope-cli as a user would and checks its output and exit status.
#include <gtest/gtest.h>
#include <torch/version.h>

#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <sys/wait.h>
#include <csignal>
#include <fstream>
#include <random>
#include <sstream>
#include <algorithm>
#include <thread>
#include <unistd.h>

#include "common/clip_fixture.h"
#include "common/cli_run.h"
#include "common/mae_cli_fixture.h"
#include "common/temp_dir.h"
#include "models/checkpoints/hf_folder.h"
#include "models/image_preprocess.h"
#include "models/checkpoints/safetensors.h"
#include "trainer/data/images.h"
#include "vitscope/version.h"

using vitscope::test::CliRun;
using vitscope::test::MaeFixture;
using vitscope::test::runCli;
using vitscope::test::stepLosses;

TEST(Cli, VersionNamesVersionTorchAndDevice)
{
    const CliRun r = runCli("--version");
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find(std::string("vitscope-cli ") + VITSCOPE_VERSION), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("LibTorch "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("device: "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("CPU threads: "), std::string::npos) << r.out;
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

TEST(CliMae, BundledModelsAnswerToTheirNames)
{
    const CliRun mae = runCli("info --model fmnist-mae");
    ASSERT_EQ(mae.status, 0) << mae.err;
    EXPECT_EQ(nlohmann::json::parse(mae.out)["type"], "vit_mae");
    const CliRun clip = runCli("info --model fmnist-clip");
    ASSERT_EQ(clip.status, 0) << clip.err;
    EXPECT_EQ(nlohmann::json::parse(clip.out)["type"], "clip");
    const CliRun bad = runCli("info --model fmnist-vae");
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("fmnist-vae: missing: no such file or folder, and not a bundled model name (fmnist-mae, fmnist-clip)"),
              std::string::npos)
        << bad.err;
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
    EXPECT_EQ(j["precision"], "float32") << "bf16 autocast exists on CUDA only";
    EXPECT_EQ(j["attention"], TORCH_VERSION_MAJOR >= 2 ? "fused" : "explicit");

    // The attention kernel can be chosen; fused needs LibTorch 2.x.
    const CliRun e = runCli("bench mae-train --preset fmnist --batch 4 --steps 1 --warmup 0 --attention explicit");
    ASSERT_EQ(e.status, 0) << e.err;
    EXPECT_EQ(nlohmann::json::parse(e.out)["attention"], "explicit");
    const CliRun fused = runCli("bench mae-train --preset fmnist --batch 4 --steps 1 --warmup 0 --attention fused");
    if (TORCH_VERSION_MAJOR >= 2) {
        ASSERT_EQ(fused.status, 0) << fused.err;
        EXPECT_EQ(nlohmann::json::parse(fused.out)["attention"], "fused");
    } else {
        EXPECT_EQ(fused.status, 2);
        EXPECT_NE(fused.err.find("LibTorch 2.0"), std::string::npos) << fused.err;
    }
    EXPECT_EQ(runCli("bench mae-train --preset fmnist --amp maybe").status, 2);

    // The linear layers' kernel can be chosen too, and the JSON says which ran.
    const CliRun plain = runCli("bench mae-train --preset fmnist --batch 4 --steps 1 --warmup 0 --linear torch");
    ASSERT_EQ(plain.status, 0) << plain.err;
    EXPECT_EQ(nlohmann::json::parse(plain.out)["linear_kernel"], "torch");
    const CliRun bad = runCli("bench mae-train --preset fmnist --linear mkl");
    EXPECT_EQ(bad.status, 2);
    EXPECT_NE(bad.err.find("auto, torch or onednn"), std::string::npos) << bad.err;

    // One explorer redraw: four ratios in turn, each timed.
    const CliRun x = runCli("bench mae-explore --preset fmnist --repeats 4 --device cpu");
    ASSERT_EQ(x.status, 0) << x.err;
    const auto xj = nlohmann::json::parse(x.out);
    EXPECT_EQ(xj["redraw_s"].size(), 4u);
    EXPECT_GT(xj["redraw_ms_median"].get<double>(), 0.0);
}

// ---------------------------------------------------------------------------- CLIP

namespace {

struct ClipFixture {
    vitscope::test::TempDir dir;
    std::string model;
    vitscope::ClipTokenizer tok = vitscope::test::smallTokenizer(vitscope::test::promptMerges());
    ClipFixture()
    {
        torch::manual_seed(21);
        vitscope::Clip m(vitscope::test::tinyClipConfig(tok));
        model = dir.file("clip");
        vitscope::saveClipFolder(m, tok, vitscope::ImageProcessorConfig::clip(16), model);
    }
    std::string image(const std::string &name, int seed)
    {
        vitscope::data::RgbImage img;
        img.width = 24, img.height = 20;
        for (int i = 0; i < img.width * img.height * 3; ++i)
            img.rgb.push_back(static_cast<std::uint8_t>((i * (7 + seed) + seed * 31) % 256));
        const std::string path = dir.file(name);
        std::filesystem::create_directories(std::filesystem::path(path).parent_path());
        vitscope::data::saveImageRgb(path, img);
        return path;
    }
};

} // namespace

TEST(CliClip, TokenizePrintsTheLibraryIds)
{
    ClipFixture f;
    const CliRun r = runCli("tokenize --model '" + f.model + "' 'A photo of a boot.' cat");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["ids"][0].get<std::vector<int64_t>>(), f.tok.encode("a photo of a boot."));
    EXPECT_EQ(j["ids"][1].get<std::vector<int64_t>>(), f.tok.encode("cat"));
    EXPECT_EQ(j["tokens"][1][0], "cat</w>");
    const CliRun none = runCli("tokenize --model '" + f.model + "'");
    EXPECT_EQ(none.status, 2) << none.err;
}

TEST(CliClip, EmbedPrintsUnnormalizedFeatures)
{
    ClipFixture f;
    const std::string img = f.image("x.png", 1);
    const CliRun r = runCli("embed --model '" + f.model + "' --image '" + img + "' --text 'a photo of a cat' --text boot");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    auto loaded = vitscope::loadClip(f.model);
    torch::NoGradGuard g;
    auto text = loaded.model->textFeatures(std::vector<std::vector<int64_t>>{f.tok.encode("a photo of a cat"), f.tok.encode("boot")});
    ASSERT_EQ(j["text_embeds"].size(), 2u);
    ASSERT_EQ(j["image_embeds"].size(), 1u);
    ASSERT_EQ(j["image_embeds"][0].size(), 8u);
    for (int64_t t = 0; t < 2; ++t)
        for (int64_t k = 0; k < 8; ++k)
            EXPECT_NEAR(j["text_embeds"][t][k].get<double>(), text[t][k].item<double>(), 1e-5);
    auto pixels = vitscope::preprocessImage(vitscope::data::rgbToTensor(vitscope::data::loadImageRgb(img)), loaded.processor, 3);
    auto image = loaded.model->imageFeatures(pixels.unsqueeze(0));
    for (int64_t k = 0; k < 8; ++k)
        EXPECT_NEAR(j["image_embeds"][0][k].get<double>(), image[0][k].item<double>(), 1e-5);
    EXPECT_NEAR(j["logit_scale"].get<double>(), std::log(1 / 0.07), 1e-3);
}

TEST(CliClip, ZeroshotOverAFolderScoresAndSkipsBadFiles)
{
    ClipFixture f;
    f.image("set/boot/1.png", 1);
    f.image("set/boot/2.png", 2);
    f.image("set/cat/3.png", 3);
    f.image("set/unlabelled/4.png", 4);
    vitscope::test::writeBytes(f.dir.file("set/cat/broken.png"), "not a png");
    const CliRun r = runCli("zeroshot --model '" + f.model + "' --labels boot,cat --template 'a photo of a {}.' --template '{}' --folder '" +
                            f.dir.file("set") + "' --top-k 1");
    ASSERT_EQ(r.status, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j["results"].size(), 4u);
    for (const auto &row : j["results"]) {
        const double sum = row["probabilities"]["boot"].get<double>() + row["probabilities"]["cat"].get<double>();
        EXPECT_NEAR(sum, 1.0, 1e-5);
        EXPECT_EQ(row["top"].size(), 1u);
    }
    EXPECT_EQ(j["accuracy"]["scored"], 3);
    ASSERT_EQ(j["skipped"].size(), 1u);
    EXPECT_NE(j["skipped"][0]["error"].get<std::string>().find("broken.png: not an image"), std::string::npos);
    EXPECT_EQ(j["templates"].size(), 2u);
}

TEST(CliClip, BadInputsNameTheFileOrTheOption)
{
    ClipFixture f;
    const CliRun a = runCli("zeroshot --model '" + f.model + "' --labels a,b --image '" + f.dir.file("none.png") + "'");
    EXPECT_EQ(a.status, 1);
    EXPECT_NE(a.err.find("none.png: missing"), std::string::npos) << a.err;
    const CliRun b = runCli("zeroshot --model '" + f.model + "' --image x.png");
    EXPECT_EQ(b.status, 2);
    EXPECT_NE(b.err.find("--labels"), std::string::npos) << b.err;
    const CliRun c = runCli("zeroshot --model '" + f.model + "' --labels a --template 'no slot' --image x.png");
    EXPECT_EQ(c.status, 2);
    EXPECT_NE(c.err.find("no {}"), std::string::npos) << c.err;
    std::filesystem::remove(f.model + "/vocab.json");
    const CliRun d = runCli("embed --model '" + f.model + "' --text hi");
    EXPECT_EQ(d.status, 1);
    EXPECT_NE(d.err.find("vocab.json: missing"), std::string::npos) << d.err;
}

TEST(CliClip, InfoAndBenchesPrintJson)
{
    ClipFixture f;
    const CliRun i = runCli("info --model '" + f.model + "'");
    ASSERT_EQ(i.status, 0) << i.err;
    EXPECT_EQ(nlohmann::json::parse(i.out)["type"], "clip");
    const CliRun a = runCli("bench clip-image --preset fmnist --batch 2 --repeats 2");
    ASSERT_EQ(a.status, 0) << a.err;
    EXPECT_GT(nlohmann::json::parse(a.out)["images_per_s"].get<double>(), 0);
    const CliRun b = runCli("bench clip-text --model '" + f.model + "' --repeats 3");
    ASSERT_EQ(b.status, 0) << b.err;
    const auto j = nlohmann::json::parse(b.out);
    EXPECT_EQ(j["prompt_tokens"].get<std::size_t>(), f.tok.encode("a photo of a sneaker.").size()); // the default text
    EXPECT_GT(j["padded_over_true"].get<double>(), 0);
    EXPECT_GT(j["new_class_ms_median"].get<double>(), 0);

    // Throughput mode: a batch of prompts of a fixed length, bf16 weights.
    const CliRun t = runCli("bench clip-text --preset fmnist --batch 8 --tokens 6 --repeats 2 --dtype bf16");
    ASSERT_EQ(t.status, 0) << t.err;
    const auto k = nlohmann::json::parse(t.out);
    EXPECT_EQ(k["batch"], 8);
    EXPECT_EQ(k["prompt_tokens"], 6);
    EXPECT_EQ(k["precision"], "bf16 weights");
    EXPECT_NEAR(k["prompts_per_s"].get<double>(), 8.0 / k["batch_s_median"].get<double>(), 1e-6 * k["prompts_per_s"].get<double>());
    const CliRun bf = runCli("bench clip-image --preset fmnist --batch 2 --repeats 1 --dtype bf16");
    ASSERT_EQ(bf.status, 0) << bf.err;
    EXPECT_EQ(nlohmann::json::parse(bf.out)["precision"], "bf16 weights");
    EXPECT_EQ(runCli("bench clip-image --preset fmnist --dtype fp8").status, 2);
}

// ---------------------------------------------------------------------------- training

// Killed training runs: tests/cli/reliability_test.cpp (30 kills at random moments).

TEST(CliTrain, EvalCommandsPrintAccuracy)
{
    if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist") && !std::getenv("VITSCOPE_FASHION_MNIST_DIR"))
        GTEST_SKIP() << "Fashion-MNIST absent";
    vitscope::test::TempDir dir;
    const CliRun t = runCli("train mae --limit 64 --batch 32 --epochs 1 --eval-every 0 --device cpu --out '" + dir.file("r") + "'");
    ASSERT_EQ(t.status, 0) << t.err;
    const std::string model = nlohmann::json::parse(t.out)["model"];
    // The features go to a cache of this test's own: the first probe encodes both splits
    // (with progress lines), the next commands on the same model and data read them back.
    const std::string cache = "VITSCOPE_CACHE_DIR='" + dir.file("cache") + "' ";
    std::map<std::string, double> accuracy;
    for (const char *protocol : {"linear-probe", "knn", "linear-probe"}) {
        const CliRun e =
            runCli(std::string("eval ") + protocol + " --model '" + model + "' --limit 200 --device cpu", cache);
        ASSERT_EQ(e.status, 0) << e.err;
        const auto j = nlohmann::json::parse(e.out);
        const double acc = j["accuracy"];
        EXPECT_GT(acc, 0.2) << protocol; // chance is 0.1; even random features separate some classes
        EXPECT_LE(acc, 1.0);
        const bool first = accuracy.empty();
        for (const char *split : {"train", "test"})
            EXPECT_EQ(j["features"][split]["from"], first ? "model" : "cache") << protocol << " " << split;
        if (first) {
            EXPECT_NE(e.err.find("features (train): 200/200 (100%)"), std::string::npos) << e.err;
        }
        if (accuracy.count(protocol)) {
            EXPECT_EQ(acc, accuracy[protocol]) << "the same features give the same probe";
        }
        accuracy[protocol] = acc;
    }
    const CliRun fresh = runCli("eval knn --no-cache --model '" + model + "' --limit 200 --device cpu", cache);
    ASSERT_EQ(fresh.status, 0) << fresh.err;
    EXPECT_EQ(nlohmann::json::parse(fresh.out)["features"]["train"]["from"], "model");
    EXPECT_EQ(nlohmann::json::parse(fresh.out)["accuracy"].get<double>(), accuracy["knn"]);
    // The old spelling of --test-limit still works, with a warning.
    const CliRun ft = runCli("eval finetune --model '" + model + "' --limit 64 --eval-limit 50 --epochs 2 --batch 32 --device cpu");
    ASSERT_EQ(ft.status, 0) << ft.err;
    EXPECT_NE(ft.err.find("warning: --eval-limit is now spelled --test-limit"), std::string::npos) << ft.err;
    EXPECT_EQ(nlohmann::json::parse(ft.out)["options"]["test_limit"], 50); // the option's name, whichever spelling set it
    const auto fj = nlohmann::json::parse(ft.out);
    EXPECT_EQ(fj["epoch_accuracy"].size(), 2u);
    EXPECT_GE(fj["accuracy"].get<double>(), 0.0);
    EXPECT_LE(fj["accuracy"].get<double>(), 1.0);
    const CliRun bad = runCli("resume '" + dir.file("nothing") + "'");
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.err.find("config.json: missing"), std::string::npos) << bad.err;
}

TEST(CliTrainSlow, ClipZeroShotFewShotAndSweepCommands)
{
    if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist") && !std::getenv("VITSCOPE_FASHION_MNIST_DIR"))
        GTEST_SKIP() << "Fashion-MNIST absent";
    vitscope::test::TempDir dir;
    const CliRun t = runCli("train clip --limit 32 --batch 16 --epochs 1 --eval-every 0 --bpe-merges 100 --device cpu --out '" +
                            dir.file("clip") + "'");
    ASSERT_EQ(t.status, 0) << t.err;
    const std::string model = nlohmann::json::parse(t.out)["model"];
    const CliRun z = runCli("eval zeroshot --model '" + model + "' --limit 100 --device cpu");
    ASSERT_EQ(z.status, 0) << z.err;
    EXPECT_NE(z.err.find("images (test): 100/100 (100%)"), std::string::npos) << "progress lines on stderr: " << z.err;
    const auto zj = nlohmann::json::parse(z.out);
    EXPECT_EQ(zj["template_set"], "held-out");
    EXPECT_EQ(zj["labels"].size(), 10u);
    EXPECT_EQ(zj["labels"][9], "ankle boot");
    EXPECT_GE(zj["accuracy"].get<double>(), 0.0);
    const CliRun wrong = runCli("eval zeroshot --model '" + model + "' --labels a,b --limit 10 --device cpu");
    EXPECT_EQ(wrong.status, 2);
    EXPECT_NE(wrong.err.find("2 names for 10 classes"), std::string::npos) << wrong.err;

    const CliRun f = runCli("eval fewshot --model '" + model + "' --limit 600 --seeds 2 --device cpu");
    ASSERT_EQ(f.status, 0) << f.err;
    const auto fj = nlohmann::json::parse(f.out);
    ASSERT_EQ(fj["points"].size(), 5u);
    EXPECT_EQ(fj["points"][4]["shots"], 16);
    EXPECT_EQ(fj["points"][0]["per_seed"].size(), 2u);

    const std::string out = dir.file("sweep");
    const CliRun s = runCli("sweep norm-pix --limit 64 --batch 32 --epochs 1 --probe-limit 100 --device cpu --out '" + out + "'");
    ASSERT_EQ(s.status, 0) << s.err;
    std::ifstream csv(out + "/results.csv");
    std::string header, row;
    std::getline(csv, header);
    EXPECT_EQ(header.rfind("sweep,name,mask_strategy,mask_ratio", 0), 0u) << header;
    auto cells = [](const std::string &line) {
        std::vector<std::string> out;
        std::stringstream ss(line);
        for (std::string c; std::getline(ss, c, ',');)
            out.push_back(c);
        return out;
    };
    const auto columns = cells(header);
    const auto trainImagesAt = std::find(columns.begin(), columns.end(), "train_images") - columns.begin();
    int rows = 0;
    while (std::getline(csv, row)) {
        if (row.empty())
            continue;
        ++rows;
        const auto values = cells(row);
        ASSERT_EQ(values.size(), columns.size()) << row;
        EXPECT_EQ(values[std::size_t(trainImagesAt)], "64") << "the run's training images, not the probe's";
    }
    EXPECT_EQ(rows, 2);
    // Run again: both points are reused, nothing is retrained.
    const CliRun again = runCli("sweep norm-pix --limit 64 --batch 32 --epochs 1 --probe-limit 100 --device cpu --out '" + out + "'");
    ASSERT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(again.err.find("step "), std::string::npos) << again.err;
}

// ------------------------------------------------------------ checkpoint files

namespace {
const std::string kCheckpoints = VITSCOPE_SOURCE_DIR "/tests/fixtures/checkpoints/";
}

TEST(CliCheckpoints, InfoReconstructAndConvertAFairCheckpoint)
{
    MaeFixture f; // for its image
    const std::string pth = kCheckpoints + "mae_fair_full.pth";
    const CliRun info = runCli("info --model '" + pth + "'");
    ASSERT_EQ(info.status, 0) << info.err;
    const auto j = nlohmann::json::parse(info.out);
    EXPECT_EQ(j["type"], "vit_mae");
    EXPECT_EQ(j["has_decoder"], true);
    EXPECT_NE(j["source"]["format"].get<std::string>().find("FAIR MAE"), std::string::npos);
    EXPECT_NE(j["source"]["config_from"].get<std::string>().find("inferred"), std::string::npos);
    bool heads = false;
    for (const auto &s : j["source"]["inferred"])
        heads = heads || (s["setting"] == "num_attention_heads" && s["value"] == "12" &&
                          s["from"].get<std::string>().find("args.model") != std::string::npos);
    EXPECT_TRUE(heads) << j["source"].dump();

    const CliRun rec = runCli("reconstruct --model '" + pth + "' --image '" + f.image + "' --out '" +
                              f.dir.file("panel.png") + "'");
    EXPECT_EQ(rec.status, 0) << rec.err;
    EXPECT_TRUE(std::filesystem::exists(f.dir.file("panel.png")));

    const std::string hf = f.dir.file("converted");
    const CliRun conv = runCli("convert '" + pth + "' '" + hf + "'");
    ASSERT_EQ(conv.status, 0) << conv.err;
    for (const char *file : {"config.json", "model.safetensors", "preprocessor_config.json"})
        EXPECT_TRUE(std::filesystem::exists(std::filesystem::path(hf) / file)) << file;
    // The converted folder holds the same weights, bit for bit.
    vitscope::LoadedMae a = vitscope::loadMae(pth);
    vitscope::LoadedMae b = vitscope::loadMae(hf);
    auto pb = b.model->named_parameters(true);
    for (const auto &p : a.model->named_parameters(true))
        EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();
    // Converting onto an existing model is refused, nothing overwritten.
    const CliRun again = runCli("convert '" + pth + "' '" + hf + "'");
    EXPECT_EQ(again.status, 1);
    EXPECT_NE(again.err.find("already holds a model"), std::string::npos) << again.err;
}

TEST(CliCheckpoints, EncoderOnlyAndHostileFilesAreOneClearLine)
{
    MaeFixture f;
    const CliRun rec = runCli("reconstruct --model '" + kCheckpoints + "mae_pretrain_vit_tiny.pth' --image '" +
                              f.image + "' --out '" + f.dir.file("o.png") + "'");
    EXPECT_EQ(rec.status, 1);
    EXPECT_NE(rec.err.find("needs the MAE decoder"), std::string::npos) << rec.err;
    EXPECT_FALSE(std::filesystem::exists(f.dir.file("o.png")));
    const CliRun evil = runCli("info --model '" + kCheckpoints + "hostile/os_system.pt'");
    EXPECT_EQ(evil.status, 1);
    EXPECT_NE(evil.err.find("os_system.pt"), std::string::npos) << evil.err;
    EXPECT_NE(evil.err.find("system, which runs code"), std::string::npos) << evil.err;
    EXPECT_EQ(std::count(evil.err.begin(), evil.err.end(), '\n'), 1) << evil.err;
}

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <new>
#include <sys/resource.h>

#include "common/temp_dir.h"
#include "models/error.h"
#include "models/checkpoints/hf_folder.h"
#include "models/json_io.h"
#include "models/runtime/machine.h"
#include "vitscope/version.h"

using namespace vitscope;
using vitscope::test::TempDir;

namespace {

MaeConfig tinyFolderMae()
{
    MaeConfig c = MaeConfig::preset("fmnist");
    c.hiddenSize = 32, c.numHiddenLayers = 2, c.numAttentionHeads = 4, c.intermediateSize = 64;
    c.decoderHiddenSize = 16, c.decoderNumHiddenLayers = 2, c.decoderNumAttentionHeads = 2;
    c.decoderIntermediateSize = 32;
    c.layerNormEps = 1e-12;
    return c;
}

ImageProcessorConfig greyProcessor()
{
    ImageProcessorConfig p;
    p.size = p.cropSize = 32;
    p.imageMean = {0.286f};
    p.imageStd = {0.353f};
    return p;
}

torch::Tensor predict(Mae &model, std::uint64_t seed)
{
    torch::NoGradGuard g;
    torch::manual_seed(99);
    auto imgs = torch::randn({2, 1, 32, 32});
    MaskSpec s;
    s.seed = seed;
    return model->forward(imgs, makeMasking(s, 2, 8, 8)).pred;
}

std::string errorOf(const std::function<void()> &f)
{
    try {
        f();
    } catch (const std::exception &e) {
        return e.what();
    }
    return "(no error)";
}

} // namespace

TEST(HfFolder, SaveThenLoadIsBitIdentical)
{
    TempDir dir;
    torch::manual_seed(1);
    Mae model(tinyFolderMae());
    saveMaeFolder(model, greyProcessor(), dir.path().string());
    auto loaded = loadMae(dir.path().string());
    const auto a = model->named_parameters(true), b = loaded.model->named_parameters(true);
    ASSERT_EQ(a.size(), b.size());
    for (const auto &p : a)
        EXPECT_TRUE(torch::equal(p.value(), b[p.key()])) << p.key();
    EXPECT_TRUE(torch::equal(predict(model, 3), predict(loaded.model, 3)));
    EXPECT_EQ(loaded.processor.imageMean, greyProcessor().imageMean);
    EXPECT_EQ(loaded.model->config.layerNormEps, 1e-12);
    EXPECT_EQ(readModelType(dir.path().string()), "vit_mae");
}

// A folder written by hand with the Hugging Face names of REFERENCE.md (not through
// hfName) loads and gives the in-memory model's output.
TEST(HfFolder, LoadsTensorsUnderHuggingFaceNames)
{
    TempDir dir;
    torch::manual_seed(2);
    Mae model(tinyFolderMae());
    TensorMap t;
    t["vit.embeddings.cls_token"] = model->clsToken;
    t["vit.embeddings.position_embeddings"] = model->posEmbed;
    t["vit.embeddings.patch_embeddings.projection.weight"] = model->patchEmbed->weight;
    t["vit.embeddings.patch_embeddings.projection.bias"] = model->patchEmbed->bias;
    auto blockTensors = [&](const std::string &prefix, torch::nn::ModuleList &list) {
        for (std::size_t i = 0; i < list->size(); ++i) {
            auto *b = list[i]->as<TransformerBlockImpl>();
            const std::string p = prefix + std::to_string(i) + ".";
            const std::pair<const char *, torch::nn::Linear *> linears[] = {
                {"attention.attention.query", &b->q}, {"attention.attention.key", &b->k},
                {"attention.attention.value", &b->v}, {"attention.output.dense", &b->proj},
                {"intermediate.dense", &b->fc1},      {"output.dense", &b->fc2}};
            for (auto &[n, l] : linears) {
                t[p + n + ".weight"] = (*l)->weight;
                t[p + n + ".bias"] = (*l)->bias;
            }
            t[p + "layernorm_before.weight"] = b->norm1->weight;
            t[p + "layernorm_before.bias"] = b->norm1->bias;
            t[p + "layernorm_after.weight"] = b->norm2->weight;
            t[p + "layernorm_after.bias"] = b->norm2->bias;
        }
    };
    blockTensors("vit.encoder.layer.", model->blocks);
    blockTensors("decoder.decoder_layers.", model->decoderBlocks);
    t["vit.layernorm.weight"] = model->norm->weight;
    t["vit.layernorm.bias"] = model->norm->bias;
    t["decoder.decoder_embed.weight"] = model->decoderEmbed->weight;
    t["decoder.decoder_embed.bias"] = model->decoderEmbed->bias;
    t["decoder.mask_token"] = model->maskToken;
    t["decoder.decoder_pos_embed"] = model->decoderPosEmbed;
    t["decoder.decoder_norm.weight"] = model->decoderNorm->weight;
    t["decoder.decoder_norm.bias"] = model->decoderNorm->bias;
    t["decoder.decoder_pred.weight"] = model->decoderPred->weight;
    t["decoder.decoder_pred.bias"] = model->decoderPred->bias;
    writeSafetensors(dir.file("model.safetensors"), t);
    writeJsonFile(dir.file("config.json"), tinyFolderMae().toJson());
    // No preprocessor_config.json: transformers' defaults apply, except the channel
    // count, which must match; give one.
    writeJsonFile(dir.file("preprocessor_config.json"),
                  {{"image_mean", {0.5}}, {"image_std", {0.5}}, {"size", 32}, {"feature_extractor_type", "ViTFeatureExtractor"}});
    auto loaded = loadMae(dir.path().string());
    EXPECT_LT((predict(model, 4) - predict(loaded.model, 4)).abs().max().item<float>(), 1e-6f);
    EXPECT_EQ(loaded.processor.size, 32);
}

TEST(HfFolder, WrongShapesListEveryKey)
{
    TempDir dir;
    Mae model(tinyFolderMae());
    saveMaeFolder(model, greyProcessor(), dir.path().string());
    auto cfg = tinyFolderMae().toJson();
    cfg["intermediate_size"] = 128; // as if config.json came from another model
    writeJsonFile(dir.file("config.json"), cfg);
    const std::string msg = errorOf([&] { loadMae(dir.path().string()); });
    EXPECT_NE(msg.find("model.safetensors: 6 tensor problem(s)"), std::string::npos) << msg;
    EXPECT_NE(msg.find("`vit.encoder.layer.0.intermediate.dense.weight` expected [128, 32] found [64, 32]"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("Is config.json from another model?"), std::string::npos) << msg;
}

TEST(HfFolder, MissingAndUnexpectedTensorsAreListed)
{
    TempDir dir;
    Mae model(tinyFolderMae());
    saveMaeFolder(model, greyProcessor(), dir.path().string());
    auto t = readSafetensors(dir.file("model.safetensors"));
    t.erase("decoder.mask_token");
    t["classifier.weight"] = torch::zeros({10, 32});
    writeSafetensors(dir.file("model.safetensors"), t);
    const std::string msg = errorOf([&] { loadMae(dir.path().string()); });
    EXPECT_NE(msg.find("missing `decoder.mask_token` expected [1, 1, 16]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected `classifier.weight` [10, 32]"), std::string::npos) << msg;
}

TEST(HfFolder, WrongFoldersSayWhatTheyAre)
{
    TempDir dir;
    EXPECT_NE(errorOf([&] { loadMae(dir.file("nothing")); }).find("nothing: missing"), std::string::npos);
    writeJsonFile(dir.file("config.json"), {{"model_type", "clip"}});
    EXPECT_NE(errorOf([&] { loadMae(dir.path().string()); }).find("expected \"vit_mae\""), std::string::npos);
    writeJsonFile(dir.file("config.json"), tinyFolderMae().toJson());
    writeJsonFile(dir.file("preprocessor_config.json"), greyProcessor().toJson());
    vitscope::test::writeBytes(dir.file("pytorch_model.bin"), "PK");
    // A pytorch_model.bin is read (without unpickling code); this one is no archive.
    EXPECT_NE(errorOf([&] { loadMae(dir.path().string()); }).find("pytorch_model.bin: not a PyTorch checkpoint"),
              std::string::npos);
    auto bad = tinyFolderMae().toJson();
    bad["hidden_size"] = 30; // not divisible by 4 heads
    writeJsonFile(dir.file("config.json"), bad);
    EXPECT_NE(errorOf([&] { loadMae(dir.path().string()); }).find("config.json: MAE config: hidden_size 30"),
              std::string::npos);
}

TEST(HfFolder, ConfigRoundTripsThroughJson)
{
    const MaeConfig a = MaeConfig::preset("vit-l16");
    const MaeConfig b = MaeConfig::fromJson(a.toJson(), "mem");
    EXPECT_EQ(b.toJson(), a.toJson());
    EXPECT_EQ(a.toJson()["model_type"], "vit_mae");
}

// Found by fuzz_config: numbers out of the field's range were converted anyway (undefined
// behaviour). They are refused, naming the file and the field.
TEST(HfConfigFuzzRegression, OutOfRangeNumbersAreRefusedNamingTheField)
{
    const auto expectRefused = [](const std::function<void()> &f, const std::string &field) {
        try {
            f();
            ADD_FAILURE() << field << " accepted";
        } catch (const vitscope::FileError &e) {
            EXPECT_NE(std::string(e.what()).find(field), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find("cfg.json"), std::string::npos) << e.what();
        }
    };
    auto clip = nlohmann::json::parse(R"({"model_type": "clip", "text_config": {"bos_token_id": 1.1e89}})");
    expectRefused([&] { vitscope::ClipConfig::fromJson(clip, "cfg.json"); }, "bos_token_id");
    auto mae = nlohmann::json::parse(R"({"model_type": "vit_mae", "hidden_size": 1e300})");
    expectRefused([&] { vitscope::MaeConfig::fromJson(mae, "cfg.json"); }, "hidden_size");
    auto eps = nlohmann::json::parse(R"({"model_type": "vit_mae", "layer_norm_eps": 1e300})");
    EXPECT_NO_THROW(vitscope::MaeConfig::fromJson(eps, "cfg.json")); // a double holds it
    auto proc = nlohmann::json::parse(R"({"image_mean": [0.5, 1e300, 0.5], "image_std": [1, 1, 1]})");
    expectRefused([&] { vitscope::ImageProcessorConfig::fromJson(proc, "cfg.json"); }, "image_mean[1]");
    auto half = nlohmann::json::parse(R"({"model_type": "vit_mae", "patch_size": 4.5})");
    expectRefused([&] { vitscope::MaeConfig::fromJson(half, "cfg.json"); }, "patch_size");
    // Integral floats are fine (some tools write 224.0).
    auto whole = nlohmann::json::parse(R"({"model_type": "vit_mae", "patch_size": 16.0, "image_size": 224})");
    EXPECT_EQ(vitscope::MaeConfig::fromJson(whole, "cfg.json").patchSize, 16);
}

// Every input a fuzzer found is replayed here too (the fuzz build is separate): each must
// be refused with a FileError, never accepted or crash.
TEST(HfConfigFuzzRegression, KeptCrashInputsAreRefused)
{
    const std::filesystem::path dir =
        std::filesystem::path(VITSCOPE_SOURCE_RESOURCES_DIR).parent_path() / "tests/fuzz/regressions/config";
    ASSERT_TRUE(std::filesystem::is_directory(dir)) << dir;
    int replayed = 0;
    for (const auto &e : std::filesystem::directory_iterator(dir)) {
        const auto j = nlohmann::json::parse(vitscope::test::readBytes(e.path().string()));
        EXPECT_THROW(vitscope::ClipConfig::fromJson(j, e.path().string()), vitscope::FileError) << e.path();
        ++replayed;
    }
    EXPECT_GE(replayed, 1);
}

// Running out of memory while loading (issue 28): the allocator's bare message becomes one
// line naming the model, what its weights take on disk and what the process may use; other
// errors pass through unchanged.
TEST(HfFolder, OutOfMemoryWhileLoadingNamesTheModelAndTheNeed)
{
    TempDir dir;
    const std::string model = dir.file("big-model");
    std::filesystem::create_directories(model);
    test::writeBytes(model + "/model.safetensors", std::string(2'500'000, 'w'));
    test::writeBytes(model + "/config.json", std::string(1'000'000, ' ')); // not weights: not counted
    auto messageOf = [&](const std::function<void()> &load) {
        try {
            translateOutOfMemory(model, load);
        } catch (const FileError &e) {
            EXPECT_EQ(e.path(), model);
            return std::string(e.what());
        }
        return std::string("(no FileError)");
    };
    for (const std::function<void()> &oom :
         {std::function<void()>([] { throw std::bad_alloc(); }), std::function<void()>([] {
              TORCH_CHECK(false, "DefaultCPUAllocator: can't allocate memory: you tried to allocate 2359296 bytes. "
                                 "Error code 12 (Cannot allocate memory)");
          })}) {
        const std::string m = messageOf(oom);
        EXPECT_EQ(m.rfind(model + ": not enough memory to load this model: its weights take 2.5 MB on disk", 0), 0u)
            << m;
        EXPECT_NE(m.find("this process may use"), std::string::npos) << m; // MemAvailable at least
        EXPECT_EQ(m.find('\n'), std::string::npos) << "one line: " << m;
    }
    // Other failures are not memory's: unchanged.
    EXPECT_THROW(translateOutOfMemory(model, [] { throw std::runtime_error("other"); }), std::runtime_error);
    try {
        translateOutOfMemory(model, [&] { throw FileError(model + "/config.json", "bad"); });
        ADD_FAILURE() << "no error";
    } catch (const FileError &e) {
        EXPECT_EQ(std::string(e.what()), model + "/config.json: bad");
    }
}

// The limit it reports: with an address-space limit below what the machine has free, that
// limit and its name.
TEST(HfFolder, MemoryLimitReadsUlimitWhenItIsTheSmallest)
{
    const MemoryLimit available = memoryLimit();
    ASSERT_GT(available.bytes, 0u) << "MemAvailable or a limit must be readable on Linux";
    rlimit before{};
    ASSERT_EQ(getrlimit(RLIMIT_AS, &before), 0);
    const rlim_t below = std::min<rlim_t>(available.bytes / 2, before.rlim_cur == RLIM_INFINITY ? available.bytes / 2 : before.rlim_cur - 1);
    rlimit lower = before;
    lower.rlim_cur = below;
    ASSERT_EQ(setrlimit(RLIMIT_AS, &lower), 0);
    const MemoryLimit limited = memoryLimit(); // reads files only: no large allocation here
    setrlimit(RLIMIT_AS, &before);
    EXPECT_EQ(limited.bytes, below);
    EXPECT_EQ(limited.what, "ulimit -v");
}

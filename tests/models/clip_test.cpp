// CLIP towers, loss and Hugging Face folders. The towers are checked against a second
// implementation written here from REFERENCE.md directly on the tensors under their
// Hugging Face names (so the name mapping is checked too); the loss against numbers
// worked by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <functional>

#include "common/clip_fixture.h"
#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "models/clip.h"
#include "models/error.h"
#include "models/checkpoints/hf_folder.h"
#include "models/image_preprocess.h"
#include "models/checkpoints/safetensors.h"
#include "models/json_io.h"

namespace vitscope {
namespace {

using test::TempDir;
namespace F = torch::nn::functional;

TensorMap hfTensors(Clip &model)
{
    TensorMap m;
    for (auto &p : model->named_parameters(true))
        m[ClipImpl::hfName(p.key())] = p.value().detach().clone();
    return m;
}

// ------------------------------------------------------------------ reference (by HF name)

torch::Tensor refLayerNorm(const torch::Tensor &x, const TensorMap &t, const std::string &name, double eps)
{
    auto mean = x.mean(-1, true);
    auto var = (x - mean).pow(2).mean(-1, true); // biased, as LayerNorm
    return (x - mean) / torch::sqrt(var + eps) * t.at(name + ".weight") + t.at(name + ".bias");
}

torch::Tensor refLinear(const torch::Tensor &x, const TensorMap &t, const std::string &name)
{
    auto y = torch::matmul(x, t.at(name + ".weight").t());
    return t.count(name + ".bias") ? y + t.at(name + ".bias") : y;
}

torch::Tensor refBlock(torch::Tensor x, const TensorMap &t, const std::string &p, int64_t heads, bool causal,
                       double eps, bool quickGelu)
{
    const int64_t B = x.size(0), N = x.size(1), D = x.size(2), hd = D / heads;
    auto h = refLayerNorm(x, t, p + "layer_norm1", eps);
    std::vector<torch::Tensor> outs;
    for (int64_t head = 0; head < heads; ++head) {
        auto sl = [&](const std::string &w) { return refLinear(h, t, p + "self_attn." + w).slice(2, head * hd, (head + 1) * hd); };
        auto q = sl("q_proj"), k = sl("k_proj"), v = sl("v_proj");
        auto s = torch::bmm(q, k.transpose(1, 2)) / std::sqrt(double(hd));
        if (causal)
            for (int64_t i = 0; i < N; ++i)
                for (int64_t j = i + 1; j < N; ++j)
                    s.select(1, i).select(1, j).fill_(-1e30);
        outs.push_back(torch::bmm(torch::softmax(s, -1), v));
    }
    x = x + refLinear(torch::cat(outs, 2).reshape({B, N, D}), t, p + "self_attn.out_proj");
    auto m = refLinear(refLayerNorm(x, t, p + "layer_norm2", eps), t, p + "mlp.fc1");
    m = quickGelu ? m * torch::sigmoid(1.702 * m) : 0.5 * m * (1 + torch::erf(m / std::sqrt(2.0)));
    return x + refLinear(m, t, p + "mlp.fc2");
}

torch::Tensor refImageFeatures(const TensorMap &t, const ClipConfig &c, const torch::Tensor &pixels)
{
    const auto &v = c.vision;
    const int64_t B = pixels.size(0), p = v.patchSize;
    // Patches in the conv weight's (C, row, col) order, row-major over the grid.
    auto patches = pixels.unfold(2, p, p).unfold(3, p, p).permute({0, 2, 3, 1, 4, 5}).reshape({B, v.patchCount(), -1});
    auto x = torch::matmul(patches, t.at("vision_model.embeddings.patch_embedding.weight").reshape({v.hiddenSize, -1}).t());
    auto cls = t.at("vision_model.embeddings.class_embedding").view({1, 1, -1}).expand({B, 1, v.hiddenSize});
    x = torch::cat({cls, x}, 1) + t.at("vision_model.embeddings.position_embedding.weight");
    x = refLayerNorm(x, t, "vision_model.pre_layrnorm", v.layerNormEps);
    for (int64_t l = 0; l < v.numHiddenLayers; ++l)
        x = refBlock(x, t, "vision_model.encoder.layers." + std::to_string(l) + ".", v.numAttentionHeads, false,
                     v.layerNormEps, v.hiddenAct == "quick_gelu");
    auto pooled = refLayerNorm(x.select(1, 0), t, "vision_model.post_layernorm", v.layerNormEps);
    return refLinear(pooled, t, "visual_projection");
}

torch::Tensor refTextFeatures(const TensorMap &t, const ClipConfig &c, const std::vector<int64_t> &ids, int64_t eos)
{
    const auto &tc = c.text;
    const int64_t N = int64_t(ids.size());
    auto x = t.at("text_model.embeddings.token_embedding.weight").index_select(0, torch::tensor(ids)) +
             t.at("text_model.embeddings.position_embedding.weight").slice(0, 0, N);
    x = x.unsqueeze(0);
    for (int64_t l = 0; l < tc.numHiddenLayers; ++l)
        x = refBlock(x, t, "text_model.encoder.layers." + std::to_string(l) + ".", tc.numAttentionHeads, true,
                     tc.layerNormEps, tc.hiddenAct == "quick_gelu");
    x = refLayerNorm(x, t, "text_model.final_layer_norm", tc.layerNormEps);
    return refLinear(x[0][eos].unsqueeze(0), t, "text_projection")[0];
}

// ------------------------------------------------------------------ tests

TEST(Clip, TowersMatchAReferenceWrittenFromTheHfNames)
{
    torch::manual_seed(3);
    const auto tok = test::smallTokenizer(test::promptMerges());
    for (const char *act : {"quick_gelu", "gelu"}) {
        auto cfg = test::tinyClipConfig(tok);
        cfg.vision.hiddenAct = cfg.text.hiddenAct = act;
        Clip model(cfg);
        model->eval();
        const TensorMap t = hfTensors(model);
        torch::NoGradGuard g;
        auto pixels = torch::randn({3, 3, 16, 16});
        EXPECT_TRUE(torch::allclose(model->imageFeatures(pixels), refImageFeatures(t, cfg, pixels), 1e-5, 1e-5)) << act;
        const auto ids = tok.encode("a photo of a boot");
        auto ours = model->textFeatures(std::vector<std::vector<int64_t>>{ids});
        auto ref = refTextFeatures(t, cfg, ids, int64_t(ids.size()) - 1);
        EXPECT_TRUE(torch::allclose(ours[0], ref, 1e-5, 1e-5)) << act << "\n" << ours[0] << ref;
    }
}

TEST(Clip, TrueLengthPromptsEqualPaddedTo77)
{
    torch::manual_seed(4);
    const auto tok = test::smallTokenizer(test::promptMerges());
    Clip model(test::tinyClipConfig(tok));
    model->eval();
    torch::NoGradGuard g;
    std::vector<std::vector<int64_t>> prompts;
    for (const char *text : {"a photo of a boot", "cat", "a photo of a cat.", "a blurry photo of a boot, seen from far away"})
        prompts.push_back(tok.encode(text));
    auto trueLength = model->textFeatures(prompts);
    auto padded = model->textFeatures(prompts, 77);
    EXPECT_LT((trueLength - padded).abs().max().item<float>(), 1e-5);
    // One at a time (each its own length) equals the grouped batch.
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        auto single = model->textFeatures(std::vector<std::vector<int64_t>>{prompts[i]});
        EXPECT_LT((single[0] - trueLength[int64_t(i)]).abs().max().item<float>(), 1e-5) << i;
    }
}

TEST(Clip, EndOfTextPositionFollowsTheConfigRule)
{
    auto cfg = ClipConfig::preset("vit-b32");
    cfg.text.numHiddenLayers = 0;
    ClipText first(cfg.text); // eos_token_id 49407: first occurrence
    auto ids = torch::tensor({5, 49407, 9, 49407, 49407, 3}, torch::kLong).view({1, -1});
    EXPECT_EQ(first->eosPositions(ids).item<int64_t>(), 1);
    auto none = torch::tensor({5, 6, 7}, torch::kLong).view({1, -1});
    EXPECT_EQ(first->eosPositions(none).item<int64_t>(), 2); // no eos: the last position
    cfg.text.eosTokenId = 2; // OpenAI's configs: the largest id
    ClipText argmax(cfg.text);
    auto ids2 = torch::tensor({{49406, 320, 49407, 0, 0}, {49406, 49407, 2, 2, 2}}, torch::kLong);
    auto pos = argmax->eosPositions(ids2);
    EXPECT_EQ(pos[0].item<int64_t>(), 2);
    EXPECT_EQ(pos[1].item<int64_t>(), 1);
}

TEST(Clip, ContrastiveLossMatchesAHandWorkedExample)
{
    // Unit features I = [[1,0],[0,1]], T = [[1,0],[0.6,0.8]], scale 10:
    // logits = 10 I T^T = [[10, 6], [0, 8]].
    // rows:    log(1 + e^-4), log(1 + e^-8);   columns: [10, 0] -> log(1 + e^-10), [6, 8] -> log(1 + e^-2)
    auto img = torch::tensor({{2.0f, 0.0f}, {0.0f, 0.5f}}); // normalized inside
    auto txt = torch::tensor({{3.0f, 0.0f}, {0.6f, 0.8f}});
    auto res = clipLoss(img, txt, torch::tensor(std::log(10.0f)));
    const double rows = (std::log1p(std::exp(-4.0)) + std::log1p(std::exp(-8.0))) / 2;
    const double cols = (std::log1p(std::exp(-10.0)) + std::log1p(std::exp(-2.0))) / 2;
    EXPECT_NEAR(res.loss.item<double>(), (rows + cols) / 2, 1e-6);
    EXPECT_NEAR(res.logitsPerImage[0][1].item<double>(), 6.0, 1e-5);
    EXPECT_NEAR(res.logitsPerImage[1][0].item<double>(), 0.0, 1e-5);
    // The scale is clamped at 100: a temperature of 1/1000 acts as 1/100.
    auto clamped = clipLoss(img, txt, torch::tensor(std::log(1000.0f)));
    auto at100 = clipLoss(img, txt, torch::tensor(std::log(100.0f)));
    EXPECT_NEAR(clamped.loss.item<double>(), at100.loss.item<double>(), 1e-7);
    EXPECT_NEAR(clamped.logitsPerImage[0][0].item<double>(), 100.0, 1e-3);
    // The loss trains the temperature: its gradient reaches logit_scale.
    auto t = torch::tensor(std::log(10.0f)).requires_grad_(true);
    clipLoss(img, txt, t).loss.backward();
    ASSERT_TRUE(t.grad().defined());
    EXPECT_LT(t.grad().item<float>(), 0.0f); // matched pairs already win: a sharper scale lowers the loss
}

TEST(Clip, InitialisedLikeTransformers)
{
    torch::manual_seed(5);
    auto cfg = ClipConfig::preset("vit-b32");
    cfg.vision.numHiddenLayers = cfg.text.numHiddenLayers = 2;
    Clip model(cfg);
    EXPECT_NEAR(model->logitScale.item<double>(), std::log(1 / 0.07), 1e-3);
    EXPECT_NEAR(model->visionModel->classEmbedding.std().item<double>(), std::pow(768.0, -0.5), 0.01);
    EXPECT_NEAR(model->textModel->tokenEmbedding->weight.std().item<double>(), 0.02, 0.001);
    EXPECT_NEAR(model->visualProjection->weight.std().item<double>(), std::pow(768.0, -0.5), 0.002);
    EXPECT_FALSE(model->visualProjection->bias.defined());
    EXPECT_FALSE(model->visionModel->patchEmbedding->bias.defined());
}

TEST(ClipFolder, SavesTheHubLayoutAndLoadsItBack)
{
    TempDir dir;
    torch::manual_seed(6);
    const auto tok = test::smallTokenizer(test::promptMerges());
    Clip model(test::tinyClipConfig(tok));
    saveClipFolder(model, tok, ImageProcessorConfig::clip(16), dir.path().string());
    for (const char *f : {"config.json", "model.safetensors", "preprocessor_config.json", "vocab.json", "merges.txt",
                          "tokenizer_config.json", "special_tokens_map.json"})
        EXPECT_TRUE(std::filesystem::exists(dir.path() / f)) << f;
    const TensorMap file = readSafetensors(dir.file("model.safetensors"));
    for (const char *name : {"vision_model.embeddings.patch_embedding.weight", "vision_model.embeddings.class_embedding",
                             "vision_model.embeddings.position_embedding.weight", "vision_model.pre_layrnorm.weight",
                             "vision_model.encoder.layers.1.self_attn.out_proj.bias",
                             "vision_model.encoder.layers.0.mlp.fc2.weight", "vision_model.post_layernorm.bias",
                             "text_model.embeddings.token_embedding.weight", "text_model.encoder.layers.1.layer_norm2.weight",
                             "text_model.final_layer_norm.weight", "visual_projection.weight", "text_projection.weight"})
        EXPECT_TRUE(file.count(name)) << name;
    ASSERT_TRUE(file.count("logit_scale"));
    EXPECT_EQ(file.at("logit_scale").dim(), 0);
    const auto config = readJsonFile(dir.file("config.json"));
    EXPECT_EQ(config["model_type"], "clip");
    EXPECT_EQ(config["text_config"]["eos_token_id"], tok.endId());
    EXPECT_EQ(readJsonFile(dir.file("preprocessor_config.json"))["size"]["shortest_edge"], 16);

    LoadedClip loaded = loadClip(dir.path().string());
    torch::NoGradGuard g;
    model->eval();
    auto pixels = torch::randn({2, 3, 16, 16});
    EXPECT_TRUE(torch::equal(loaded.model->imageFeatures(pixels), model->imageFeatures(pixels)));
    const auto ids = loaded.tokenizer->encode("a photo of a cat");
    EXPECT_EQ(ids, tok.encode("a photo of a cat"));
    EXPECT_TRUE(torch::equal(loaded.model->textFeatures(std::vector<std::vector<int64_t>>{ids}),
                             model->textFeatures(std::vector<std::vector<int64_t>>{ids})));
    EXPECT_NEAR(loaded.processor.imageMean[0], 0.48145466f, 1e-7);
}

TEST(ClipFolder, HubStyleFilesLoad)
{
    // What openai/clip-vit-base-patch32 looks like: text_config plus text_config_dict,
    // eos_token_id 2, integer sizes in preprocessor_config.json, position_ids buffers.
    TempDir dir;
    const auto tok = test::smallTokenizer(test::promptMerges());
    auto cfg = test::tinyClipConfig(tok);
    Clip model(cfg);
    TensorMap t = hfTensors(model);
    t["text_model.embeddings.position_ids"] = torch::arange(77).unsqueeze(0);
    t["vision_model.embeddings.position_ids"] = torch::arange(5).unsqueeze(0);
    writeSafetensors(dir.file("model.safetensors"), t);
    auto j = cfg.toJson();
    j["text_config"]["eos_token_id"] = 2;
    j["text_config_dict"] = {{"hidden_act", "quick_gelu"}};
    j["vision_config"].erase("hidden_act"); // default: quick_gelu
    writeJsonFile(dir.file("config.json"), j);
    test::writeBytes(dir.file("preprocessor_config.json"),
                     R"({"crop_size": 16, "do_center_crop": true, "do_normalize": true, "do_resize": true,
                         "feature_extractor_type": "CLIPFeatureExtractor", "image_mean": [0.48145466, 0.4578275, 0.40821073],
                         "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 16})");
    tok.save(dir.file("vocab.json"), dir.file("merges.txt"));
    LoadedClip loaded = loadClip(dir.path().string());
    EXPECT_EQ(loaded.model->config.text.eosTokenId, 2);
    EXPECT_EQ(loaded.model->config.vision.hiddenAct, "quick_gelu");
    EXPECT_EQ(loaded.processor.size, 16);
    EXPECT_EQ(loaded.processor.cropSize, 16);
    // argmax rule: the end token is the largest id of the tokenizer's vocabulary.
    auto ids = torch::tensor(loaded.tokenizer->encode("a cat"), torch::kLong).unsqueeze(0);
    EXPECT_EQ(loaded.model->textModel->eosPositions(ids).item<int64_t>(), ids.size(1) - 1);
}

TEST(ClipFolder, WrongFilesAreNamedWithWhatWasExpected)
{
    TempDir dir;
    const auto tok = test::smallTokenizer(test::promptMerges());
    auto cfg = test::tinyClipConfig(tok);
    Clip model(cfg);
    const std::string d = dir.path().string();
    saveClipFolder(model, tok, ImageProcessorConfig::clip(16), d);

    // A config that does not match the weights: every mismatch listed.
    auto wider = cfg;
    wider.vision.hiddenSize = 32;
    writeJsonFile(dir.file("config.json"), wider.toJson());
    test::expectFileError([&] { loadClip(d); }, dir.file("model.safetensors"),
                          "`vision_model.embeddings.class_embedding` expected [32] found [16]");
    writeJsonFile(dir.file("config.json"), cfg.toJson());

    // Not a CLIP folder.
    auto j = cfg.toJson();
    j["model_type"] = "vit_mae";
    writeJsonFile(dir.file("config.json"), j);
    test::expectFileError([&] { loadClip(d); }, dir.file("config.json"), "expected \"clip\"");
    writeJsonFile(dir.file("config.json"), cfg.toJson());

    // The tokenizer is part of the model.
    std::filesystem::rename(dir.file("merges.txt"), dir.file("merges.bak"));
    test::expectFileError([&] { loadClip(d); }, dir.file("merges.txt"), "missing");
    std::filesystem::rename(dir.file("merges.bak"), dir.file("merges.txt"));

    // eos_token_id must be <|endoftext|>.
    j = cfg.toJson();
    j["text_config"]["eos_token_id"] = 5;
    writeJsonFile(dir.file("config.json"), j);
    test::expectFileError([&] { loadClip(d); }, dir.file("config.json"), "eos_token_id 5");
    writeJsonFile(dir.file("config.json"), cfg.toJson());

    // A pytorch_model.bin is read as a PyTorch archive (never unpickled by Python's rules):
    // safetensors bytes under that name are no archive.
    std::filesystem::rename(dir.file("model.safetensors"), dir.file("pytorch_model.bin"));
    test::expectFileError([&] { loadClip(d); }, dir.file("pytorch_model.bin"), "not a PyTorch checkpoint");
    std::filesystem::rename(dir.file("pytorch_model.bin"), dir.file("model.safetensors"));

    // A bad config value names the field.
    j = cfg.toJson();
    j["vision_config"]["patch_size"] = 5;
    writeJsonFile(dir.file("config.json"), j);
    test::expectFileError([&] { loadClip(d); }, dir.file("config.json"), "patch_size 5");
}

// ------------------------------------------------------------------ preprocessing

torch::Tensor image(int64_t h, int64_t w, int64_t c, const std::function<int(int64_t, int64_t, int64_t)> &f)
{
    auto t = torch::empty({h, w, c}, torch::kByte);
    auto a = t.accessor<uint8_t, 3>();
    for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
            for (int64_t k = 0; k < c; ++k)
                a[y][x][k] = uint8_t(f(y, x, k));
    return t;
}

TEST(ClipPreprocess, ShortestSideThenCenterCropThenNormalize)
{
    auto proc = ImageProcessorConfig::clip(2);
    // 2 x 6, already 2 on the short side: no resize; the crop keeps columns 2 and 3.
    auto img = image(2, 6, 3, [](int64_t, int64_t x, int64_t k) { return int(x * 40 + k); });
    auto out = preprocessImage(img, proc, 3);
    ASSERT_EQ(out.sizes(), (torch::IntArrayRef{3, 2, 2}));
    for (int64_t k = 0; k < 3; ++k)
        for (int64_t x = 0; x < 2; ++x) {
            const double expected = ((double(x + 2) * 40 + double(k)) / 255.0 - proc.imageMean[std::size_t(k)]) /
                                    proc.imageStd[std::size_t(k)];
            EXPECT_NEAR(out[k][0][x].item<double>(), expected, 1e-5);
        }
    // A flat 300 x 200 image: resized to 336 x 224 then cropped; stays flat.
    auto flat = preprocessImage(image(300, 200, 3, [](int64_t, int64_t, int64_t k) { return 100 + k; }),
                                ImageProcessorConfig::clip(224), 3);
    ASSERT_EQ(flat.sizes(), (torch::IntArrayRef{3, 224, 224}));
    EXPECT_NEAR(flat[2].min().item<double>(), ((102 / 255.0) - 0.40821073) / 0.27577711, 1e-5);
    EXPECT_NEAR(flat[2].max().item<double>(), ((102 / 255.0) - 0.40821073) / 0.27577711, 1e-5);
    EXPECT_EQ(shortestSideSize(300, 200, 224), (std::pair<int64_t, int64_t>{336, 224}));
    EXPECT_EQ(shortestSideSize(480, 640, 224), (std::pair<int64_t, int64_t>{224, 298})); // int(224 * 640 / 480)
}

TEST(ClipPreprocess, GreyIsReplicatedAlphaDroppedLumaForGreyModels)
{
    auto proc = ImageProcessorConfig::clip(2);
    proc.doNormalize = false;
    auto grey = preprocessImage(image(2, 2, 1, [](int64_t y, int64_t x, int64_t) { return int(y * 2 + x) * 50; }), proc, 3);
    EXPECT_TRUE(torch::equal(grey[0], grey[1]) && torch::equal(grey[1], grey[2]));
    EXPECT_NEAR(grey[0][1][1].item<double>(), 150 / 255.0, 1e-6);
    auto rgba = preprocessImage(image(2, 2, 4, [](int64_t, int64_t, int64_t k) { return k == 3 ? 0 : 60 * int(k + 1); }), proc, 3);
    EXPECT_NEAR(rgba[0][0][0].item<double>(), 60 / 255.0, 1e-6); // a fully transparent pixel keeps its colour
    EXPECT_NEAR(rgba[2][0][0].item<double>(), 180 / 255.0, 1e-6);
    auto proc1 = ImageProcessorConfig::clip(2, 1);
    proc1.doNormalize = false;
    auto luma = preprocessImage(image(2, 2, 3, [](int64_t, int64_t, int64_t k) { return k == 0 ? 200 : k == 1 ? 100 : 50; }), proc1, 1);
    ASSERT_EQ(luma.size(0), 1);
    EXPECT_NEAR(luma[0][0][0].item<double>(), std::round(200 * 0.299 + 100 * 0.587 + 50 * 0.114) / 255.0, 1e-6);
    EXPECT_THROW(preprocessImage(torch::zeros({2, 2, 2}, torch::kByte), proc, 3), Error);
}

TEST(ClipPreprocess, PadSmallerZeroPadsInsteadOfResizing)
{
    auto proc = ImageProcessorConfig::clip(32, 1);
    proc.doNormalize = false;
    proc.padSmaller = true;
    auto out = preprocessImage(torch::full({28, 28, 1}, 255, torch::kByte), proc, 1);
    ASSERT_EQ(out.sizes(), (torch::IntArrayRef{1, 32, 32}));
    EXPECT_EQ(out.sum().item<double>(), 28.0 * 28.0); // the image, unscaled, and zeros around it
    EXPECT_EQ(out[0][1][1].item<float>(), 0.0f);
    EXPECT_EQ(out[0][2][2].item<float>(), 1.0f);
    EXPECT_EQ(out[0][29][29].item<float>(), 1.0f);
    EXPECT_EQ(out[0][30][30].item<float>(), 0.0f);
    // Larger images are resized as usual; the flag survives the JSON round trip.
    EXPECT_EQ(preprocessImage(torch::zeros({64, 48, 1}, torch::kByte), proc, 1).sizes(), (torch::IntArrayRef{1, 32, 32}));
    EXPECT_TRUE(ImageProcessorConfig::fromJson(proc.toJson(), "x").padSmaller);
    EXPECT_FALSE(ImageProcessorConfig::fromJson(ImageProcessorConfig::clip(32).toJson(), "x").padSmaller);
}

} // namespace
} // namespace vitscope

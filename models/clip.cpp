#include "models/clip.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>

#include <nlohmann/json.hpp>

#include "models/error.h"
#include "models/json_io.h"
#include "models/kernels/linear.h"
#include "models/runtime/tuning.h"

namespace vitscope {

using nlohmann::json;

// ---------------------------------------------------------------------------- config

void ClipConfig::validate() const
{
    auto fail = [](const std::string &what) { throw Error("CLIP config: " + what); };
    const auto &v = vision;
    if (v.patchSize <= 0 || v.imageSize <= 0 || v.imageSize % v.patchSize != 0)
        fail("vision_config.image_size " + std::to_string(v.imageSize) + " must be a positive multiple of patch_size " +
             std::to_string(v.patchSize));
    if (v.numChannels != 1 && v.numChannels != 3)
        fail("vision_config.num_channels must be 1 or 3, got " + std::to_string(v.numChannels));
    for (const auto &[name, dim, heads] :
         {std::tuple{"vision_config", v.hiddenSize, v.numAttentionHeads},
          std::tuple{"text_config", text.hiddenSize, text.numAttentionHeads}}) {
        if (dim <= 0 || heads <= 0 || dim % heads != 0)
            fail(std::string(name) + ".hidden_size " + std::to_string(dim) +
                 " must be divisible by num_attention_heads " + std::to_string(heads));
    }
    if (v.numHiddenLayers < 0 || text.numHiddenLayers < 0 || v.intermediateSize <= 0 || text.intermediateSize <= 0)
        fail("layer counts must be >= 0 and intermediate sizes positive");
    if (text.vocabSize <= 2 || text.vocabSize > 10'000'000)
        fail("text_config.vocab_size " + std::to_string(text.vocabSize) + " is outside 3..10000000");
    if (text.maxPositionEmbeddings < 2 || text.maxPositionEmbeddings > 100'000)
        fail("text_config.max_position_embeddings " + std::to_string(text.maxPositionEmbeddings) +
             " is outside 2..100000");
    if (text.eosTokenId < 0 || text.eosTokenId >= text.vocabSize)
        fail("text_config.eos_token_id " + std::to_string(text.eosTokenId) + " is outside the vocabulary");
    if (projectionDim <= 0)
        fail("projection_dim must be positive");
    if (!(v.layerNormEps > 0) || !(text.layerNormEps > 0))
        fail("layer_norm_eps must be positive");
    parseActivation(v.hiddenAct);
    parseActivation(text.hiddenAct);
}

std::vector<std::string> ClipConfig::presetNames()
{
    return {"vit-b32", "vit-b16", "vit-l14", "fmnist"};
}

ClipConfig ClipConfig::preset(const std::string &name)
{
    ClipConfig c; // ViT-B/32 (openai/clip-vit-base-patch32)
    if (name == "vit-b32")
        return c;
    if (name == "vit-b16") {
        c.vision.patchSize = 16;
        return c;
    }
    if (name == "vit-l14") {
        c.vision.hiddenSize = 1024, c.vision.intermediateSize = 4096, c.vision.numHiddenLayers = 24;
        c.vision.numAttentionHeads = 16, c.vision.patchSize = 14;
        c.text.hiddenSize = 768, c.text.intermediateSize = 3072, c.text.numAttentionHeads = 12;
        c.projectionDim = 768;
        return c;
    }
    if (name == "fmnist") {
        // 28 x 28 padded to 32 x 32, patch 4 (an 8 x 8 grid), grey; captions are short.
        c.vision.imageSize = 32, c.vision.patchSize = 4, c.vision.numChannels = 1;
        c.vision.hiddenSize = 128, c.vision.intermediateSize = 512, c.vision.numHiddenLayers = 6;
        c.vision.numAttentionHeads = 4, c.vision.hiddenAct = "gelu";
        c.text.hiddenSize = 128, c.text.intermediateSize = 512, c.text.numHiddenLayers = 4;
        c.text.numAttentionHeads = 4, c.text.maxPositionEmbeddings = 32, c.text.vocabSize = 1024;
        c.text.hiddenAct = "gelu", c.text.eosTokenId = 1023, c.text.bosTokenId = 1022, c.text.padTokenId = 1023;
        c.projectionDim = 128;
        return c;
    }
    std::string names;
    for (const auto &n : presetNames())
        names += (names.empty() ? "" : ", ") + n;
    throw Error("unknown CLIP preset '" + name + "': expected one of " + names);
}

namespace {

json towerJson(const ClipTowerConfig &c, const char *modelType, int64_t projectionDim)
{
    return {{"model_type", modelType},
            {"hidden_size", c.hiddenSize},
            {"intermediate_size", c.intermediateSize},
            {"num_hidden_layers", c.numHiddenLayers},
            {"num_attention_heads", c.numAttentionHeads},
            {"hidden_act", c.hiddenAct},
            {"layer_norm_eps", c.layerNormEps},
            {"projection_dim", projectionDim}};
}

} // namespace

json ClipConfig::toJson() const
{
    json t = towerJson(text, "clip_text_model", projectionDim);
    t.update({{"vocab_size", text.vocabSize},
              {"max_position_embeddings", text.maxPositionEmbeddings},
              {"pad_token_id", text.padTokenId},
              {"bos_token_id", text.bosTokenId},
              {"eos_token_id", text.eosTokenId}});
    json v = towerJson(vision, "clip_vision_model", projectionDim);
    v.update({{"num_channels", vision.numChannels}, {"image_size", vision.imageSize}, {"patch_size", vision.patchSize}});
    return json{{"architectures", {"CLIPModel"}},
                {"model_type", "clip"},
                {"projection_dim", projectionDim},
                {"logit_scale_init_value", logitScaleInitValue},
                {"text_config", t},
                {"vision_config", v}};
}

namespace {

// The sub-config: `key` overlaid with `key`_dict (older transformers wrote both).
json subConfig(const json &j, const std::string &key)
{
    json out = json::object();
    if (j.contains(key) && j[key].is_object())
        out = j[key];
    if (j.contains(key + "_dict") && j[key + "_dict"].is_object())
        for (auto it = j[key + "_dict"].begin(); it != j[key + "_dict"].end(); ++it)
            out[it.key()] = it.value();
    return out;
}

template <typename T>
void read(const json &j, const std::string &source, const char *key, T &field)
{
    readJsonField(j, key, field, source);
}

void readTower(const json &j, const std::string &source, ClipTowerConfig &c)
{
    read(j, source, "hidden_size", c.hiddenSize);
    read(j, source, "intermediate_size", c.intermediateSize);
    read(j, source, "num_hidden_layers", c.numHiddenLayers);
    read(j, source, "num_attention_heads", c.numAttentionHeads);
    read(j, source, "hidden_act", c.hiddenAct);
    read(j, source, "layer_norm_eps", c.layerNormEps);
}

} // namespace

ClipConfig ClipConfig::fromJson(const json &j, const std::string &source)
{
    if (!j.is_object())
        throw FileError(source, "expected a JSON object");
    if (j.contains("model_type") && j["model_type"] != "clip")
        throw FileError(source, "model_type is " + j["model_type"].dump() + ", expected \"clip\"");
    ClipConfig c;
    try {
        const json t = subConfig(j, "text_config"), v = subConfig(j, "vision_config");
        readTower(t, source, c.text);
        read(t, source, "vocab_size", c.text.vocabSize);
        read(t, source, "max_position_embeddings", c.text.maxPositionEmbeddings);
        read(t, source, "pad_token_id", c.text.padTokenId);
        read(t, source, "bos_token_id", c.text.bosTokenId);
        read(t, source, "eos_token_id", c.text.eosTokenId);
        readTower(v, source, c.vision);
        read(v, source, "num_channels", c.vision.numChannels);
        read(v, source, "image_size", c.vision.imageSize);
        read(v, source, "patch_size", c.vision.patchSize);
        read(j, source, "projection_dim", c.projectionDim);
        read(j, source, "logit_scale_init_value", c.logitScaleInitValue);
    } catch (const json::exception &e) {
        throw FileError(source, std::string("unexpected field type: ") + e.what());
    }
    checkFile(source, [&] { c.validate(); });
    return c;
}

// ---------------------------------------------------------------------------- towers

BlockConfig ClipTowerConfig::block() const
{
    BlockConfig b;
    b.dim = hiddenSize, b.heads = numAttentionHeads, b.mlpDim = intermediateSize, b.layerNormEps = layerNormEps;
    b.qkvBias = true;
    b.activation = parseActivation(hiddenAct);
    return b;
}

namespace {

torch::nn::LayerNorm layerNorm(int64_t dim, double eps)
{
    return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(eps));
}

torch::Tensor runBlocks(torch::nn::ModuleList &list, torch::Tensor x, const torch::Tensor &mask = {},
                        bool causal = false, std::vector<torch::Tensor> *attention = nullptr)
{
    for (auto &m : *list) {
        auto *block = m->as<TransformerBlockImpl>();
        if (!attention) {
            x = block->forward(x, mask, causal);
            continue;
        }
        torch::Tensor probs;
        x = block->forwardWithAttention(x, &probs, mask, causal);
        attention->push_back(probs);
    }
    return x;
}

const std::vector<std::pair<std::string, std::string>> kClipBlockNames = {
    {"norm1", "layer_norm1"},  {"q", "self_attn.q_proj"}, {"k", "self_attn.k_proj"},
    {"v", "self_attn.v_proj"}, {"proj", "self_attn.out_proj"}, {"norm2", "layer_norm2"},
    {"fc1", "mlp.fc1"},        {"fc2", "mlp.fc2"},
};

} // namespace

ClipVisionImpl::ClipVisionImpl(const ClipVisionConfig &cfg) : config(cfg)
{
    const int64_t D = cfg.hiddenSize;
    patchEmbedding = register_module(
        "patch_embedding", torch::nn::Conv2d(torch::nn::Conv2dOptions(cfg.numChannels, D, cfg.patchSize)
                                                 .stride(cfg.patchSize)
                                                 .bias(false)));
    classEmbedding = register_parameter("class_embedding", torch::zeros({D}));
    positionEmbedding =
        register_module("position_embedding", torch::nn::Embedding(cfg.patchCount() + 1, D));
    preLayrnorm = register_module("pre_layrnorm", layerNorm(D, cfg.layerNormEps));
    blocks = register_module("blocks", torch::nn::ModuleList());
    auto block = cfg.block();
    block.bf16Tower = Bf16Tower::Image; // bf16-image may apply (models/kernels/fast_paths.h)
    for (int64_t i = 0; i < cfg.numHiddenLayers; ++i)
        blocks->push_back(TransformerBlock(block));
    postLayernorm = register_module("post_layernorm", layerNorm(D, cfg.layerNormEps));
}

namespace {

// What the first block would do now with an input of `like`'s type and device.
bool firstBlockUsesBf16(const torch::nn::ModuleList &blocks, const torch::Tensor &like)
{
    if (blocks->is_empty())
        return false;
    return blocks->ptr<TransformerBlockImpl>(0)->usesBf16Weights(
        torch::empty({0}, torch::TensorOptions().dtype(like.scalar_type()).device(like.device())));
}

} // namespace

bool ClipVisionImpl::usesBf16Weights() const
{
    return firstBlockUsesBf16(blocks, positionEmbedding->weight);
}

torch::Tensor ClipVisionImpl::forwardTokens(const torch::Tensor &pixels, std::vector<torch::Tensor> *attention)
{
    const int64_t B = pixels.size(0);
    auto x = patchEmbedding(pixels).flatten(2).transpose(1, 2); // (B, L, D)
    auto cls = classEmbedding.view({1, 1, -1}).expand({B, 1, x.size(2)});
    x = torch::cat({cls.to(x.dtype()), x}, 1) + positionEmbedding->weight.unsqueeze(0);
    return runBlocks(blocks, preLayrnorm(x), {}, false, attention);
}

torch::Tensor ClipVisionImpl::forward(const torch::Tensor &pixels)
{
    return postLayernorm(forwardTokens(pixels).select(1, 0));
}

ClipTextImpl::ClipTextImpl(const ClipTextConfig &cfg) : config(cfg)
{
    const int64_t D = cfg.hiddenSize;
    tokenEmbedding = register_module("token_embedding", torch::nn::Embedding(cfg.vocabSize, D));
    positionEmbedding = register_module("position_embedding", torch::nn::Embedding(cfg.maxPositionEmbeddings, D));
    blocks = register_module("blocks", torch::nn::ModuleList());
    auto block = cfg.block();
    block.bf16Tower = Bf16Tower::Text; // bf16-text may apply (models/kernels/fast_paths.h)
    for (int64_t i = 0; i < cfg.numHiddenLayers; ++i)
        blocks->push_back(TransformerBlock(block));
    finalLayerNorm = register_module("final_layer_norm", layerNorm(D, cfg.layerNormEps));
}

bool ClipTextImpl::usesBf16Weights() const
{
    return firstBlockUsesBf16(blocks, tokenEmbedding->weight);
}

torch::Tensor ClipTextImpl::eosPositions(const torch::Tensor &ids) const
{
    TORCH_CHECK(ids.dim() == 2, "token ids must be (B, N), got ", ids.sizes());
    if (config.eosTokenId == 2)
        return ids.argmax(1);
    // First position holding eos_token_id; rows without one point at their last position.
    const int64_t N = ids.size(1);
    auto isEos = ids.eq(config.eosTokenId);
    auto positions = torch::arange(N, ids.options()).unsqueeze(0).expand_as(ids);
    auto candidates = torch::where(isEos, positions, torch::full_like(positions, N - 1));
    return std::get<0>(candidates.min(1));
}

torch::Tensor ClipTextImpl::forward(const torch::Tensor &idsIn, const torch::Tensor &eosPos)
{
    TORCH_CHECK(idsIn.dim() == 2 && idsIn.scalar_type() == torch::kLong, "token ids must be int64 (B, N), got ",
                idsIn.sizes(), " ", idsIn.scalar_type());
    const int64_t N = idsIn.size(1);
    if (N > config.maxPositionEmbeddings || N < 1)
        throw Error("a prompt of " + std::to_string(N) + " tokens does not fit the text context of " +
                    std::to_string(config.maxPositionEmbeddings));
    // Checked where the ids are: on the host this costs no device synchronisation, which is
    // why the trainer passes host ids to a model on the GPU.
    if (idsIn.numel()) {
        const auto range = torch::stack({idsIn.min(), idsIn.max()}).cpu();
        if (range[0].item<int64_t>() < 0 || range[1].item<int64_t>() >= config.vocabSize)
            throw Error("token ids must lie in 0.." + std::to_string(config.vocabSize - 1) +
                        ": is the tokenizer from another model?");
    }
    const auto device = tokenEmbedding->weight.device();
    const auto ids = idsIn.to(device, /*non_blocking=*/true);
    auto x = tokenEmbedding(ids) + positionEmbedding->weight.slice(0, 0, N).unsqueeze(0);
    // Causal: position i sees positions <= i.
    x = finalLayerNorm(runBlocks(blocks, x, {}, /*causal=*/true));
    auto rows = torch::arange(ids.size(0), torch::TensorOptions().dtype(torch::kLong).device(device));
    return x.index({rows, eosPos.to(device, /*non_blocking=*/true)}); // (B, D)
}

ClipImpl::ClipImpl(const ClipConfig &cfg) : config(cfg)
{
    config.validate();
    visionModel = register_module("vision_model", ClipVision(cfg.vision));
    textModel = register_module("text_model", ClipText(cfg.text));
    visualProjection = register_module(
        "visual_projection", torch::nn::Linear(torch::nn::LinearOptions(cfg.vision.hiddenSize, cfg.projectionDim).bias(false)));
    textProjection = register_module(
        "text_projection", torch::nn::Linear(torch::nn::LinearOptions(cfg.text.hiddenSize, cfg.projectionDim).bias(false)));
    logitScale = register_parameter("logit_scale", torch::tensor(cfg.logitScaleInitValue, torch::kFloat32));
    initWeights();
}

void ClipImpl::initWeights()
{
    // transformers' CLIPPreTrainedModel._init_weights (initializer_factor 1).
    torch::NoGradGuard noGrad;
    const double range = 0.02;
    auto initTower = [](torch::nn::ModuleList &blocks, int64_t D, int64_t layers) {
        const double inStd = std::pow(double(D), -0.5) * std::pow(2.0 * double(std::max<int64_t>(layers, 1)), -0.5);
        const double outStd = std::pow(double(D), -0.5);
        const double fcStd = std::pow(2.0 * double(D), -0.5);
        for (auto &m : *blocks) {
            auto *b = m->as<TransformerBlockImpl>();
            for (auto *lin : {b->q.get(), b->k.get(), b->v.get()})
                lin->weight.normal_(0, inStd);
            b->proj->weight.normal_(0, outStd);
            b->fc1->weight.normal_(0, fcStd);
            b->fc2->weight.normal_(0, inStd);
            for (auto *lin : {b->q.get(), b->k.get(), b->v.get(), b->proj.get(), b->fc1.get(), b->fc2.get()})
                lin->bias.zero_();
        }
    };
    const int64_t Dv = config.vision.hiddenSize, Dt = config.text.hiddenSize;
    visionModel->classEmbedding.normal_(0, std::pow(double(Dv), -0.5));
    visionModel->patchEmbedding->weight.normal_(0, range);
    visionModel->positionEmbedding->weight.normal_(0, range);
    initTower(visionModel->blocks, Dv, config.vision.numHiddenLayers);
    textModel->tokenEmbedding->weight.normal_(0, range);
    textModel->positionEmbedding->weight.normal_(0, range);
    initTower(textModel->blocks, Dt, config.text.numHiddenLayers);
    visualProjection->weight.normal_(0, std::pow(double(Dv), -0.5));
    textProjection->weight.normal_(0, std::pow(double(Dt), -0.5));
}

void ClipImpl::checkPixels(const torch::Tensor &pixels) const
{
    const auto &v = config.vision;
    if (pixels.dim() != 4 || pixels.size(1) != v.numChannels || pixels.size(2) != v.imageSize ||
        pixels.size(3) != v.imageSize) {
        std::ostringstream os;
        os << "CLIP image tower expects (B, " << v.numChannels << ", " << v.imageSize << ", " << v.imageSize
           << ") pixels, got " << pixels.sizes();
        throw Error(os.str());
    }
}

namespace {

// The calling thread's count for one tower's call (models/runtime/tuning.h), chosen per
// shape, size class of the batch (and of the prompts' length) and weights read. Training
// and CUDA choose nothing.
WorkloadThreads towerThreads(const char *kind, int64_t width, int64_t layers, int64_t rows, int64_t tokens,
                             const torch::Tensor &weight, bool bf16)
{
    const bool on = weight.device().is_cpu() && !torch::GradMode::is_enabled();
    if (!on)
        return WorkloadThreads(kind, false);
    return WorkloadThreads(std::string(kind) + " " + std::to_string(width) + "x" + std::to_string(layers) +
                           (tokens > 0 ? " tokens " + sizeBucket(tokens) : std::string()) + " batch " +
                           sizeBucket(rows) + " " +
                           (bf16                                            ? std::string("bf16")
                            : weight.scalar_type() == torch::kFloat ? std::string("float32")
                                                                    : std::string(c10::toString(weight.scalar_type()))));
}

} // namespace

torch::Tensor ClipImpl::imageFeatures(const torch::Tensor &pixels)
{
    checkPixels(pixels);
    const auto threads = towerThreads("clip-image", config.vision.hiddenSize, config.vision.numHiddenLayers,
                                      pixels.size(0), 0, visionModel->positionEmbedding->weight,
                                      visionModel->usesBf16Weights());
    return linear(visionModel(pixels), visualProjection->weight, visualProjection->bias);
}

torch::Tensor ClipImpl::textFeatures(const torch::Tensor &ids, const torch::Tensor &eosPos)
{
    const auto threads = towerThreads("clip-text", config.text.hiddenSize, config.text.numHiddenLayers, ids.size(0),
                                      ids.dim() == 2 ? ids.size(1) : 0, textModel->tokenEmbedding->weight,
                                      textModel->usesBf16Weights());
    return linear(textModel(ids, eosPos), textProjection->weight, textProjection->bias);
}

torch::Tensor ClipImpl::textFeatures(const std::vector<std::vector<int64_t>> &prompts, int64_t padTo)
{
    // One choice for the whole call, by its longest prompt: its length groups below run
    // inside it and choose nothing.
    int64_t longest = padTo;
    for (const auto &p : prompts)
        longest = std::max(longest, int64_t(p.size()));
    const auto threads = towerThreads("clip-text", config.text.hiddenSize, config.text.numHiddenLayers,
                                      int64_t(prompts.size()), longest, textModel->tokenEmbedding->weight,
                                      textModel->usesBf16Weights());
    const auto device = logitScale.device();
    const auto longs = torch::TensorOptions().dtype(torch::kLong);
    auto out = torch::empty({int64_t(prompts.size()), config.projectionDim},
                            torch::TensorOptions().dtype(logitScale.dtype()).device(device));
    if (prompts.empty())
        return out;
    // Group by length (or one group padded to padTo): each group is one batch.
    std::map<int64_t, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < prompts.size(); ++i) {
        const int64_t n = int64_t(prompts[i].size());
        if (n < 1 || n > config.text.maxPositionEmbeddings)
            throw Error("prompt " + std::to_string(i) + " has " + std::to_string(n) +
                        " tokens; the text context holds 1.." + std::to_string(config.text.maxPositionEmbeddings));
        if (padTo > 0 && n > padTo)
            throw Error("prompt " + std::to_string(i) + " is longer than the padded length " + std::to_string(padTo));
        groups[padTo > 0 ? padTo : n].push_back(i);
    }
    const int64_t pad = config.text.eosTokenId == 2 ? 0 : config.text.eosTokenId; // never moves the eos position
    for (const auto &[length, members] : groups) {
        auto ids = torch::full({int64_t(members.size()), length}, pad, longs);
        auto eos = torch::empty({int64_t(members.size())}, longs);
        auto acc = ids.accessor<int64_t, 2>();
        auto eosAcc = eos.accessor<int64_t, 1>();
        for (std::size_t r = 0; r < members.size(); ++r) {
            const auto &p = prompts[members[r]];
            for (std::size_t c = 0; c < p.size(); ++c)
                acc[int64_t(r)][int64_t(c)] = p[c];
            // The eos rule on the prompt itself, so padding can never change it (computed on
            // the ids directly: this runs for every prompt a user types).
            int64_t at = int64_t(p.size()) - 1;
            if (config.text.eosTokenId == 2) {
                at = int64_t(std::max_element(p.begin(), p.end()) - p.begin()); // first maximum, as argmax
            } else if (auto it = std::find(p.begin(), p.end(), config.text.eosTokenId); it != p.end()) {
                at = int64_t(it - p.begin());
            }
            eosAcc[int64_t(r)] = at;
        }
        auto features = textFeatures(ids, eos); // host ids: checked without a device sync, then copied
        std::vector<int64_t> index(members.begin(), members.end());
        out.index_copy_(0, torch::tensor(index, longs).to(device), features);
    }
    return out;
}

torch::Tensor ClipImpl::scale() const
{
    return logitScale.exp().clamp_max(100.0);
}

std::string ClipImpl::hfName(const std::string &n)
{
    auto starts = [&](const std::string &p) { return n.rfind(p, 0) == 0; };
    auto inBlock = [&](const std::string &ours, const std::string &theirs) {
        const std::string rest = n.substr(ours.size());
        const auto dot = rest.find('.');
        return theirs + rest.substr(0, dot + 1) + renameBlockParameter(rest.substr(dot + 1), kClipBlockNames);
    };
    for (const char *tower : {"vision_model.", "text_model."}) {
        const std::string t = tower;
        if (starts(t + "blocks."))
            return inBlock(t + "blocks.", t + "encoder.layers.");
        for (const char *emb : {"patch_embedding", "class_embedding", "position_embedding", "token_embedding"})
            if (starts(t + emb))
                return t + "embeddings." + n.substr(t.size());
    }
    return n; // pre_layrnorm, post_layernorm, final_layer_norm, projections, logit_scale
}

ClipLoss clipLoss(const torch::Tensor &imageFeatures, const torch::Tensor &textFeatures,
                  const torch::Tensor &logitScale)
{
    TORCH_CHECK(imageFeatures.dim() == 2 && imageFeatures.sizes() == textFeatures.sizes(),
                "clipLoss expects two (N, P) feature matrices, got ", imageFeatures.sizes(), " and ",
                textFeatures.sizes());
    auto img = torch::nn::functional::normalize(imageFeatures, torch::nn::functional::NormalizeFuncOptions().dim(1));
    auto txt = torch::nn::functional::normalize(textFeatures, torch::nn::functional::NormalizeFuncOptions().dim(1));
    auto logits = logitScale.exp().clamp_max(100.0) * torch::matmul(img, txt.t());
    auto labels = torch::arange(logits.size(0), torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
    auto loss = (torch::nn::functional::cross_entropy(logits, labels) +
                 torch::nn::functional::cross_entropy(logits.t(), labels)) /
                2.0;
    return {loss, logits};
}

} // namespace vitscope

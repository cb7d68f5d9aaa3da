#include "models/mae.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "models/error.h"
#include "models/json_io.h"
#include "models/kernels/linear.h"
#include "models/runtime/tuning.h"

namespace vitscope {

using nlohmann::json;

// ---------------------------------------------------------------------------- config

void MaeConfig::validate() const
{
    auto fail = [](const std::string &what) { throw Error("MAE config: " + what); };
    if (patchSize <= 0 || imageSize <= 0 || imageSize % patchSize != 0)
        fail("image_size " + std::to_string(imageSize) + " must be a positive multiple of patch_size " +
             std::to_string(patchSize));
    if (numChannels <= 0)
        fail("num_channels must be positive");
    if (hiddenSize <= 0 || numAttentionHeads <= 0 || hiddenSize % numAttentionHeads != 0)
        fail("hidden_size " + std::to_string(hiddenSize) + " must be divisible by num_attention_heads " +
             std::to_string(numAttentionHeads));
    if (decoderHiddenSize <= 0 || decoderNumAttentionHeads <= 0 || decoderHiddenSize % decoderNumAttentionHeads != 0)
        fail("decoder_hidden_size " + std::to_string(decoderHiddenSize) +
             " must be divisible by decoder_num_attention_heads " + std::to_string(decoderNumAttentionHeads));
    if (hiddenSize % 4 != 0 || decoderHiddenSize % 4 != 0)
        fail("hidden sizes must be divisible by 4 (2D sin-cos position embeddings)");
    if (numHiddenLayers < 0 || decoderNumHiddenLayers < 0 || intermediateSize <= 0 || decoderIntermediateSize <= 0)
        fail("layer counts must be >= 0 and intermediate sizes positive");
    if (!(maskRatio >= 0 && maskRatio <= 0.95))
        fail("mask_ratio " + std::to_string(maskRatio) + " is outside [0, 0.95]");
    if (!(layerNormEps > 0))
        fail("layer_norm_eps must be positive");
    parseActivation(hiddenAct);
}

std::vector<std::string> MaeConfig::presetNames()
{
    return {"vit-b16", "vit-l16", "vit-h14", "fmnist"};
}

MaeConfig MaeConfig::preset(const std::string &name)
{
    MaeConfig c; // ViT-B/16 with the paper's decoder (512 wide, 8 blocks, 16 heads)
    if (name == "vit-b16")
        return c;
    if (name == "vit-l16") {
        c.hiddenSize = 1024, c.numHiddenLayers = 24, c.numAttentionHeads = 16, c.intermediateSize = 4096;
        return c;
    }
    if (name == "vit-h14") {
        c.hiddenSize = 1280, c.numHiddenLayers = 32, c.numAttentionHeads = 16, c.intermediateSize = 5120;
        c.patchSize = 14;
        return c;
    }
    if (name == "fmnist") {
        // 32 x 32 (28 padded by 2), patch 4: 8 x 8 = 64 patches, grid masking removes 75%.
        c.imageSize = 32, c.patchSize = 4, c.numChannels = 1;
        c.hiddenSize = 128, c.numHiddenLayers = 6, c.numAttentionHeads = 4, c.intermediateSize = 512;
        c.decoderHiddenSize = 64, c.decoderNumHiddenLayers = 2, c.decoderNumAttentionHeads = 4;
        c.decoderIntermediateSize = 256;
        return c;
    }
    std::string names;
    for (const auto &n : presetNames())
        names += (names.empty() ? "" : ", ") + n;
    throw Error("unknown MAE preset '" + name + "': expected one of " + names);
}

json MaeConfig::toJson() const
{
    return json{{"architectures", {"ViTMAEForPreTraining"}},
                {"model_type", "vit_mae"},
                {"hidden_size", hiddenSize},
                {"num_hidden_layers", numHiddenLayers},
                {"num_attention_heads", numAttentionHeads},
                {"intermediate_size", intermediateSize},
                {"hidden_act", hiddenAct},
                {"hidden_dropout_prob", hiddenDropoutProb},
                {"attention_probs_dropout_prob", attentionProbsDropoutProb},
                {"initializer_range", initializerRange},
                {"layer_norm_eps", layerNormEps},
                {"image_size", imageSize},
                {"patch_size", patchSize},
                {"num_channels", numChannels},
                {"qkv_bias", qkvBias},
                {"decoder_hidden_size", decoderHiddenSize},
                {"decoder_num_hidden_layers", decoderNumHiddenLayers},
                {"decoder_num_attention_heads", decoderNumAttentionHeads},
                {"decoder_intermediate_size", decoderIntermediateSize},
                {"mask_ratio", maskRatio},
                {"norm_pix_loss", normPixLoss},
                {"torch_dtype", "float32"}};
}

MaeConfig MaeConfig::fromJson(const json &j, const std::string &source)
{
    if (!j.is_object())
        throw FileError(source, "expected a JSON object");
    if (j.contains("model_type") && j["model_type"] != "vit_mae")
        throw FileError(source, "model_type is " + j["model_type"].dump() + ", expected \"vit_mae\"");
    MaeConfig c;
    auto get = [&](const char *key, auto &field) {
        if (!j.contains(key) || j[key].is_null())
            return; // transformers' defaults are ours (except layer_norm_eps, below)
        readJsonValue(j[key], field, source, key); // range-checked: no UB on 1e89
    };
    c.layerNormEps = 1e-12; // transformers' ViTMAEConfig default when the file omits it
    get("hidden_size", c.hiddenSize);
    get("num_hidden_layers", c.numHiddenLayers);
    get("num_attention_heads", c.numAttentionHeads);
    get("intermediate_size", c.intermediateSize);
    get("hidden_act", c.hiddenAct);
    get("hidden_dropout_prob", c.hiddenDropoutProb);
    get("attention_probs_dropout_prob", c.attentionProbsDropoutProb);
    get("initializer_range", c.initializerRange);
    get("layer_norm_eps", c.layerNormEps);
    get("image_size", c.imageSize);
    get("patch_size", c.patchSize);
    get("num_channels", c.numChannels);
    get("qkv_bias", c.qkvBias);
    get("decoder_hidden_size", c.decoderHiddenSize);
    get("decoder_num_hidden_layers", c.decoderNumHiddenLayers);
    get("decoder_num_attention_heads", c.decoderNumAttentionHeads);
    get("decoder_intermediate_size", c.decoderIntermediateSize);
    get("mask_ratio", c.maskRatio);
    get("norm_pix_loss", c.normPixLoss);
    checkFile(source, [&] { c.validate(); });
    return c;
}

// ---------------------------------------------------------------------------- model

namespace {

BlockConfig encoderBlock(const MaeConfig &c)
{
    return {c.hiddenSize, c.numAttentionHeads, c.intermediateSize, c.layerNormEps, c.qkvBias,
            parseActivation(c.hiddenAct)};
}

BlockConfig decoderBlock(const MaeConfig &c)
{
    return {c.decoderHiddenSize, c.decoderNumAttentionHeads, c.decoderIntermediateSize, c.layerNormEps, c.qkvBias,
            parseActivation(c.hiddenAct)};
}

const std::vector<std::pair<std::string, std::string>> kMaeBlockNames = {
    {"norm1", "layernorm_before"},       {"q", "attention.attention.query"},
    {"k", "attention.attention.key"},     {"v", "attention.attention.value"},
    {"proj", "attention.output.dense"},   {"norm2", "layernorm_after"},
    {"fc1", "intermediate.dense"},        {"fc2", "output.dense"},
};

} // namespace

std::string MaeImpl::hfName(const std::string &n)
{
    auto starts = [&](const std::string &p) { return n.rfind(p, 0) == 0; };
    auto inBlock = [&](const std::string &ours, const std::string &theirs) {
        // "blocks.3.norm1.weight" -> theirs + "3.layernorm_before.weight"
        const std::string rest = n.substr(ours.size());
        const auto dot = rest.find('.');
        return theirs + rest.substr(0, dot + 1) + renameBlockParameter(rest.substr(dot + 1), kMaeBlockNames);
    };
    if (n == "cls_token")
        return "vit.embeddings.cls_token";
    if (n == "pos_embed")
        return "vit.embeddings.position_embeddings";
    if (starts("patch_embed."))
        return "vit.embeddings.patch_embeddings.projection." + n.substr(12);
    if (starts("blocks."))
        return inBlock("blocks.", "vit.encoder.layer.");
    if (starts("norm."))
        return "vit.layernorm." + n.substr(5);
    if (starts("decoder_blocks."))
        return inBlock("decoder_blocks.", "decoder.decoder_layers.");
    if (starts("decoder_") || n == "mask_token")
        return "decoder." + n;
    return n; // encoder_mask_token (ablation only): no Hugging Face counterpart
}

MaeImpl::MaeImpl(const MaeConfig &cfg, bool maskTokensInEnc) : config(cfg), maskTokensInEncoder(maskTokensInEnc)
{
    config.validate();
    const int64_t D = cfg.hiddenSize, Dd = cfg.decoderHiddenSize, g = cfg.gridSize();
    patchEmbed = register_module(
        "patch_embed",
        torch::nn::Conv2d(torch::nn::Conv2dOptions(cfg.numChannels, D, cfg.patchSize).stride(cfg.patchSize)));
    clsToken = register_parameter("cls_token", torch::zeros({1, 1, D}));
    posEmbed = register_buffer("pos_embed", sincos2dPositionEmbedding(D, g, g, true).unsqueeze(0));
    if (maskTokensInEncoder)
        encoderMaskToken = register_parameter("encoder_mask_token", torch::zeros({1, 1, D}));
    blocks = register_module("blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < cfg.numHiddenLayers; ++i)
        blocks->push_back(TransformerBlock(encoderBlock(cfg)));
    norm = register_module("norm", torch::nn::LayerNorm(torch::nn::LayerNormOptions({D}).eps(cfg.layerNormEps)));

    decoderEmbed = register_module("decoder_embed", torch::nn::Linear(D, Dd));
    maskToken = register_parameter("mask_token", torch::zeros({1, 1, Dd}));
    decoderPosEmbed = register_buffer("decoder_pos_embed", sincos2dPositionEmbedding(Dd, g, g, true).unsqueeze(0));
    decoderBlocks = register_module("decoder_blocks", torch::nn::ModuleList());
    for (int64_t i = 0; i < cfg.decoderNumHiddenLayers; ++i)
        decoderBlocks->push_back(TransformerBlock(decoderBlock(cfg)));
    decoderNorm = register_module("decoder_norm",
                                  torch::nn::LayerNorm(torch::nn::LayerNormOptions({Dd}).eps(cfg.layerNormEps)));
    decoderPred = register_module("decoder_pred", torch::nn::Linear(Dd, cfg.patchDim()));
    initWeights();
}

void MaeImpl::initWeights()
{
    // As the official code: xavier-uniform for linear layers and the patch projection
    // (seen as a linear map), zero biases, LayerNorm 1/0, tokens N(0, 0.02).
    torch::NoGradGuard noGrad;
    auto w = patchEmbed->weight;
    torch::nn::init::xavier_uniform_(w.view({w.size(0), -1}));
    torch::nn::init::zeros_(patchEmbed->bias);
    torch::nn::init::normal_(clsToken, 0.0, 0.02);
    torch::nn::init::normal_(maskToken, 0.0, 0.02);
    if (encoderMaskToken.defined())
        torch::nn::init::normal_(encoderMaskToken, 0.0, 0.02);
    for (auto &m : modules(/*include_self=*/false)) {
        if (auto *lin = m->as<torch::nn::LinearImpl>()) {
            torch::nn::init::xavier_uniform_(lin->weight);
            if (lin->bias.defined())
                torch::nn::init::zeros_(lin->bias);
        } else if (auto *ln = m->as<torch::nn::LayerNormImpl>()) {
            torch::nn::init::ones_(ln->weight);
            torch::nn::init::zeros_(ln->bias);
        }
    }
}

torch::Tensor MaeImpl::runBlocks(torch::nn::ModuleList &list, torch::Tensor x, std::vector<torch::Tensor> *attention)
{
    for (auto &b : *list) {
        auto *block = b->as<TransformerBlockImpl>();
        if (!attention) {
            x = block->forward(x);
            continue;
        }
        torch::Tensor probs;
        x = block->forwardWithAttention(x, &probs);
        attention->push_back(probs);
    }
    return x;
}

torch::Tensor MaeImpl::forwardEncoder(const torch::Tensor &imgs, const Masking &masking,
                                      std::vector<torch::Tensor> *attention)
{
    const int64_t B = imgs.size(0), D = config.hiddenSize;
    auto x = patchEmbed(imgs).flatten(2).transpose(1, 2); // (B, L, D)
    const auto posPatches = posEmbed.narrow(1, 1, posEmbed.size(1) - 1);
    x = x + posPatches;
    if (maskTokensInEncoder) {
        // Table 1c variant: removed patches become mask tokens (+ their position).
        auto m = masking.mask.unsqueeze(-1).to(x.dtype()); // (B, L, 1)
        x = x * (1 - m) + (encoderMaskToken + posPatches) * m;
    } else {
        auto idx = masking.idsKeep.unsqueeze(-1).expand({B, masking.keepCount, D});
        x = torch::gather(x, 1, idx); // (B, keep, D): the encoder never sees mask tokens
    }
    auto cls = (clsToken + posEmbed.narrow(1, 0, 1)).expand({B, 1, D});
    x = torch::cat({cls, x}, 1); // (B, 1 + N, D)
    return norm(runBlocks(blocks, x, attention));
}

torch::Tensor MaeImpl::forwardDecoder(const torch::Tensor &latent, const Masking &masking)
{
    auto x = linear(latent, decoderEmbed->weight, decoderEmbed->bias); // (B, 1 + N, Dd)
    const int64_t B = x.size(0), Dd = x.size(2), L = masking.length();
    if (!maskTokensInEncoder) {
        auto tokens = maskToken.expand({B, L + 1 - x.size(1), Dd});
        auto rest = torch::cat({x.narrow(1, 1, x.size(1) - 1), tokens}, 1); // (B, L, Dd) shuffled order
        rest = torch::gather(rest, 1, masking.idsRestore.unsqueeze(-1).expand({B, L, Dd})); // unshuffle
        x = torch::cat({x.narrow(1, 0, 1), rest}, 1); // (B, 1 + L, Dd)
    }
    x = x + decoderPosEmbed;
    x = decoderNorm(runBlocks(decoderBlocks, x));
    x = linear(x, decoderPred->weight, decoderPred->bias); // (B, 1 + L, p*p*C)
    return x.narrow(1, 1, L);         // drop the class token
}

torch::Tensor MaeImpl::target(const torch::Tensor &imgs) const
{
    auto t = patchify(imgs, config.patchSize); // (B, L, p*p*C)
    if (config.normPixLoss) {
        auto mean = t.mean(-1, true);
        auto var = t.var(-1, /*unbiased=*/true, /*keepdim=*/true);
        t = (t - mean) / torch::sqrt(var + 1e-6);
    }
    return t;
}

namespace {

// perPatch: (B, L) squared errors; mean over removed patches only. A ratio of 0 removes
// nothing and has zero loss.
torch::Tensor meanOverRemoved(const torch::Tensor &perPatch, const torch::Tensor &mask)
{
    return (perPatch * mask).sum() / mask.sum().clamp_min(1.0);
}

} // namespace

torch::Tensor MaeImpl::loss(const torch::Tensor &imgs, const torch::Tensor &pred, const torch::Tensor &mask) const
{
    return meanOverRemoved((pred - target(imgs)).pow(2).mean(-1), mask);
}

void MaeImpl::checkInput(const torch::Tensor &imgs, const Masking &masking) const
{
    TORCH_CHECK(imgs.dim() == 4 && imgs.size(1) == config.numChannels && imgs.size(2) == config.imageSize &&
                    imgs.size(3) == config.imageSize,
                "MAE expects (B, ", config.numChannels, ", ", config.imageSize, ", ", config.imageSize, "), got ",
                imgs.sizes());
    TORCH_CHECK(masking.length() == config.patchCount(), "masking covers ", masking.length(), " patches, model has ",
                config.patchCount());
}

MaeOutput MaeImpl::forward(const torch::Tensor &imgs, const Masking &masking)
{
    checkInput(imgs, masking);
    MaeOutput out;
    out.latent = forwardEncoder(imgs, masking);
    out.pred = forwardDecoder(out.latent, masking);
    out.mask = masking.mask;
    out.idsRestore = masking.idsRestore;
    out.loss = loss(imgs, out.pred, masking.mask);
    return out;
}

torch::Tensor MaeImpl::encodeAll(const torch::Tensor &imgs)
{
    // Nothing removed: every patch kept, in order.
    return forwardEncoder(imgs, maskingFromMask(torch::zeros({imgs.size(0), config.patchCount()}, imgs.options())));
}

double maeForwardFlops(const MaeConfig &c, int64_t te)
{
    auto blocks = [](double layers, double T, double D, double M) {
        return layers * (8 * T * D * D + 4 * T * D * M + 4 * T * T * D);
    };
    const double L = double(c.patchCount()), P = double(c.patchDim()), D = double(c.hiddenSize);
    const double Dd = double(c.decoderHiddenSize), T = double(te);
    return 2 * L * P * D + blocks(double(c.numHiddenLayers), T, D, double(c.intermediateSize)) + 2 * T * D * Dd +
           blocks(double(c.decoderNumHiddenLayers), L + 1, Dd, double(c.decoderIntermediateSize)) +
           2 * (L + 1) * Dd * P;
}

std::string maeShapeName(const MaeConfig &c)
{
    return std::to_string(c.hiddenSize) + "x" + std::to_string(c.numHiddenLayers) + " decoder " +
           std::to_string(c.decoderHiddenSize) + "x" + std::to_string(c.decoderNumHiddenLayers) + " patches " +
           std::to_string(c.patchCount());
}

std::string maeTrainWorkload(const MaeConfig &c, int64_t batch, bool maskTokensInEncoder)
{
    return "mae-train " + maeShapeName(c) + " batch " + sizeBucket(batch) +
           (maskTokensInEncoder ? " mask tokens in encoder" : "");
}

// ---------------------------------------------------------------------------- views

MaeVisuals visualize(Mae &model, const torch::Tensor &imgs, const Masking &masking, const std::vector<float> &mean,
                     const std::vector<float> &stdev, PatchStats stats)
{
    torch::NoGradGuard noGrad;
    const MaeConfig &c = model->config;
    // The calling thread's count for this call, chosen per shape (models/runtime/tuning.h):
    // the explorer's redraw, where spinning OpenMP workers cost a second thread its gain.
    const bool cpu = imgs.device().is_cpu();
    const WorkloadThreads threads(cpu ? "mae-visualize " + maeShapeName(c) + " batch " + sizeBucket(imgs.size(0)) +
                                            (imgs.scalar_type() == torch::kFloat ? "" : " non-float32")
                                      : std::string("mae-visualize"),
                                  cpu);
    const int64_t C = c.numChannels, g = c.gridSize(), p = c.patchSize;
    TORCH_CHECK(int64_t(mean.size()) == C && int64_t(stdev.size()) == C, "image mean/std need ", C, " values");
    auto opts = imgs.options();
    auto m = torch::tensor(mean, opts).view({1, C, 1, 1});
    auto s = torch::tensor(stdev, opts).view({1, C, 1, 1});
    auto toPixels = [&](const torch::Tensor &x) { return (x * s + m).clamp(0.0, 1.0); };

    // One pass through the model; the target is computed once for the loss and the error map.
    model->checkInput(imgs, masking);
    const auto target = model->target(imgs);
    const auto raw = model->forwardDecoder(model->forwardEncoder(imgs, masking), masking);
    const auto perPatch = (raw - target).pow(2).mean(-1); // (B, L)
    auto maskP = masking.mask.unsqueeze(-1).to(imgs.dtype()); // (B, L, 1)
    auto patches = patchify(imgs, p);                         // (B, L, P) normalized-image space
    auto pred = raw;
    if (c.normPixLoss) {
        auto pm = patches.mean(-1, true), pv = patches.var(-1, true, true); // (B, L, 1)
        if (stats == PatchStats::Visible) {
            auto visible = (1 - maskP).sum(1, true).clamp_min(1.0); // (B, 1, 1)
            pm = ((pm * (1 - maskP)).sum(1, true) / visible).expand_as(pm);
            pv = ((pv * (1 - maskP)).sum(1, true) / visible).expand_as(pv);
        }
        pred = pred * torch::sqrt(pv + 1e-6) + pm;
    }
    MaeVisuals v;
    v.mask = masking.mask;
    v.patchError = perPatch;
    v.pred = raw;
    v.loss = meanOverRemoved(perPatch, masking.mask);
    v.original = toPixels(imgs);
    v.reconstruction = toPixels(unpatchify(pred, p, C, g, g));
    v.pasted = toPixels(unpatchify(patches * (1 - maskP) + pred * maskP, p, C, g, g));
    auto grey = patchify(v.original, p) * (1 - maskP) + 0.5 * maskP;
    v.masked = unpatchify(grey, p, C, g, g);
    return v;
}

} // namespace vitscope

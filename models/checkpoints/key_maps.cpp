#include "models/checkpoints/key_maps.h"

#include <cmath>
#include <regex>
#include <set>

#include "models/clip.h"
#include "models/error.h"
#include "models/mae.h"

namespace vitscope {
namespace {

bool has(const LazyTensorMap &t, const std::string &name)
{
    return t.count(name) > 0;
}

const LazyTensor &need(const LazyTensorMap &t, const std::string &name, const std::string &source)
{
    auto it = t.find(name);
    if (it == t.end())
        throw FileError(source, "tensor `" + name + "` is missing");
    return it->second;
}

int64_t dim(const LazyTensor &t, int i, const std::string &name, const std::string &source, std::size_t rank)
{
    if (t.shape.size() != rank)
        throw FileError(source, "tensor `" + name + "` has " + std::to_string(t.shape.size()) + " dimensions, expected " +
                                    std::to_string(rank));
    return t.shape[std::size_t(i < 0 ? int(rank) + i : i)];
}

// Number of blocks "PREFIX<N>." present: N = 0, 1, ... without gaps.
int64_t countBlocks(const LazyTensorMap &t, const std::string &prefix)
{
    std::set<int64_t> found;
    for (const auto &[name, _] : t) {
        if (name.rfind(prefix, 0) != 0)
            continue;
        const std::string rest = name.substr(prefix.size());
        const auto dot = rest.find('.');
        if (dot == std::string::npos || dot == 0 || dot > 6)
            continue;
        bool digits = true;
        for (std::size_t i = 0; i < dot; ++i)
            digits = digits && rest[i] >= '0' && rest[i] <= '9';
        if (digits)
            found.insert(std::stoll(rest.substr(0, dot)));
    }
    int64_t n = 0;
    while (found.count(n))
        ++n;
    return n;
}

int64_t squareRoot(int64_t n, const std::string &what, const std::string &source)
{
    const auto r = int64_t(std::llround(std::sqrt(double(n))));
    if (r * r != n)
        throw FileError(source, what + " holds " + std::to_string(n) + " positions, not a square grid");
    return r;
}

// One block: a fused in-projection split into three, the rest renamed.
struct Rename {
    const char *from, *to;
};

void mapBlock(const LazyTensorMap &in, LazyTensorMap &out, std::set<std::string> &used, const std::string &from,
              const std::string &to, const char *fused, const char *fusedBias, const char *const qkv[3],
              const std::vector<Rename> &renames, int64_t width, const std::string &source)
{
    auto split = [&](const std::string &name, const char *suffix) {
        auto it = in.find(from + name);
        if (it == in.end())
            return;
        if (it->second.shape.empty() || it->second.shape[0] != 3 * width)
            throw FileError(source, "tensor `" + from + name + "` should have " + std::to_string(3 * width) +
                                        " rows (q, k and v of width " + std::to_string(width) + ")");
        used.insert(from + name);
        for (int i = 0; i < 3; ++i)
            out[to + qkv[i] + suffix] = lazyRows(it->second, i * width, (i + 1) * width);
    };
    split(fused, "weight");
    split(fusedBias, "bias");
    for (const auto &r : renames)
        for (const char *leaf : {"weight", "bias"}) {
            auto it = in.find(from + r.from + "." + leaf);
            if (it == in.end())
                continue;
            used.insert(it->first);
            out[to + r.to + "." + leaf] = it->second;
        }
}

// Everything not mapped is an error (listed): a file from another model should not load
// half-way.
void requireAllUsed(const LazyTensorMap &in, const std::set<std::string> &used, const std::set<std::string> &ignored,
                    const std::string &source, const std::string &what)
{
    std::vector<std::string> extra;
    for (const auto &[name, _] : in)
        if (!used.count(name) && !ignored.count(name))
            extra.push_back(name);
    if (extra.empty())
        return;
    std::string list;
    for (std::size_t i = 0; i < extra.size() && i < 8; ++i)
        list += (i ? ", `" : "`") + extra[i] + "`";
    if (extra.size() > 8)
        list += " and " + std::to_string(extra.size() - 8) + " more";
    throw FileError(source, std::to_string(extra.size()) + " tensor(s) that " + what + " does not have: " + list);
}

} // namespace

bool hasFairMaeNames(const LazyTensorMap &t)
{
    return has(t, "patch_embed.proj.weight") && (has(t, "blocks.0.attn.qkv.weight") || has(t, "cls_token"));
}

bool hasOpenAiClipNames(const LazyTensorMap &t)
{
    return has(t, "token_embedding.weight") && (has(t, "visual.conv1.weight") || has(t, "visual.layer1.0.conv1.weight") ||
                                                 has(t, "visual.trunk.patch_embed.proj.weight"));
}

namespace {

// Heads are not in the tensors: FAIR's model definitions (models_mae.py) by the args'
// model name, else by the width; `source` says which.
int64_t fairHeads(int64_t hiddenSize, const std::string &arch, std::string &source)
{
    if (!arch.empty() && arch.find("vit_base") != std::string::npos) {
        source = "args.model " + arch;
        return 12;
    }
    if (!arch.empty() && (arch.find("vit_large") != std::string::npos || arch.find("vit_huge") != std::string::npos)) {
        source = "args.model " + arch;
        return 16;
    }
    if (hiddenSize == 768) {
        source = "FAIR's ViT-B/16 (width 768)";
        return 12;
    }
    if (hiddenSize == 1024 || hiddenSize == 1280) {
        source = std::string("FAIR's ") + (hiddenSize == 1024 ? "ViT-L/16" : "ViT-H/14") + " (width " +
                 std::to_string(hiddenSize) + ")";
        return 16;
    }
    source = "width / 64: not a FAIR release width, check it";
    return std::max<int64_t>(1, hiddenSize / 64);
}

} // namespace

MappedModel mapFairMae(const LazyTensorMap &in, const FairHints &hints, const std::string &source)
{
    if (has(in, "head.weight") || has(in, "fc_norm.weight"))
        throw FileError(source, "a fine-tuned MAE classifier (" +
                                    (has(in, "head.weight") ? std::to_string(in.at("head.weight").shape[0]) + "-class head"
                                                            : std::string("fc_norm")) +
                                    "): vitscope explores pretrained MAEs; take FAIR's pretraining release instead "
                                    "(mae_visualize_vit_*.pth to reconstruct, mae_pretrain_vit_*.pth for features)");
    MappedModel m;
    MaeConfig c;
    const auto &patch = need(in, "patch_embed.proj.weight", source);
    c.hiddenSize = dim(patch, 0, "patch_embed.proj.weight", source, 4);
    c.numChannels = patch.shape[1];
    c.patchSize = patch.shape[3];
    if (patch.shape[2] != patch.shape[3])
        throw FileError(source, "non-square patches are not supported");
    c.numHiddenLayers = countBlocks(in, "blocks.");
    if (c.numHiddenLayers == 0)
        throw FileError(source, "no encoder blocks (blocks.0.*)");
    c.intermediateSize = dim(need(in, "blocks.0.mlp.fc1.weight", source), 0, "blocks.0.mlp.fc1.weight", source, 2);
    c.qkvBias = has(in, "blocks.0.attn.qkv.bias");
    c.layerNormEps = 1e-6;
    c.hiddenAct = "gelu";
    int64_t grid = 0;
    std::string gridSource;
    if (has(in, "pos_embed")) {
        grid = squareRoot(dim(in.at("pos_embed"), 1, "pos_embed", source, 3) - 1, "pos_embed", source);
        gridSource = "pos_embed " + std::to_string(grid * grid + 1) + " positions";
    } else if (has(in, "decoder_pos_embed")) {
        grid = squareRoot(dim(in.at("decoder_pos_embed"), 1, "decoder_pos_embed", source, 3) - 1, "decoder_pos_embed",
                          source);
        gridSource = "decoder_pos_embed";
    } else {
        grid = 224 / c.patchSize;
        gridSource = "no position table: 224 px assumed";
    }
    c.imageSize = grid * c.patchSize;

    std::string headsSource;
    c.numAttentionHeads = fairHeads(c.hiddenSize, hints.argsModel, headsSource);

    m.hasDecoder = has(in, "decoder_embed.weight");
    if (m.hasDecoder) {
        c.decoderHiddenSize = dim(in.at("decoder_embed.weight"), 0, "decoder_embed.weight", source, 2);
        c.decoderNumHiddenLayers = countBlocks(in, "decoder_blocks.");
        c.decoderIntermediateSize =
            dim(need(in, "decoder_blocks.0.mlp.fc1.weight", source), 0, "decoder_blocks.0.mlp.fc1.weight", source, 2);
        c.decoderNumAttentionHeads = c.decoderHiddenSize == 512 ? 16 : std::max<int64_t>(1, c.decoderHiddenSize / 32);
    }
    // norm_pix_loss: the args when present; FAIR's visualize files predict pixels.
    std::string normSource;
    if (hints.normPixLoss >= 0) {
        c.normPixLoss = hints.normPixLoss == 1, normSource = "args.norm_pix_loss";
    } else if (hints.fileName.find("visualize") != std::string::npos) {
        c.normPixLoss = false, normSource = "FAIR's visualize release (pixel targets)";
    } else {
        c.normPixLoss = true, normSource = "FAIR's pretraining default (no args in the file)";
    }
    if (hints.maskRatio > 0 && hints.maskRatio < 1)
        c.maskRatio = hints.maskRatio;
    c.validate();

    static const char *const hfQkv[3] = {"attention.attention.query.", "attention.attention.key.",
                                          "attention.attention.value."};
    const std::vector<Rename> blockRenames = {{"norm1", "layernorm_before"}, {"attn.proj", "attention.output.dense"},
                                              {"norm2", "layernorm_after"},  {"mlp.fc1", "intermediate.dense"},
                                              {"mlp.fc2", "output.dense"}};
    std::set<std::string> used;
    for (int64_t i = 0; i < c.numHiddenLayers; ++i)
        mapBlock(in, m.tensors, used, "blocks." + std::to_string(i) + ".", "vit.encoder.layer." + std::to_string(i) + ".",
                 "attn.qkv.weight", "attn.qkv.bias", hfQkv, blockRenames, c.hiddenSize, source);
    for (int64_t i = 0; i < (m.hasDecoder ? c.decoderNumHiddenLayers : 0); ++i)
        mapBlock(in, m.tensors, used, "decoder_blocks." + std::to_string(i) + ".",
                 "decoder.decoder_layers." + std::to_string(i) + ".", "attn.qkv.weight", "attn.qkv.bias", hfQkv,
                 blockRenames, c.decoderHiddenSize, source);
    const std::vector<std::pair<std::string, std::string>> plain = {
        {"cls_token", "vit.embeddings.cls_token"},
        {"pos_embed", "vit.embeddings.position_embeddings"},
        {"patch_embed.proj.weight", "vit.embeddings.patch_embeddings.projection.weight"},
        {"patch_embed.proj.bias", "vit.embeddings.patch_embeddings.projection.bias"},
        {"norm.weight", "vit.layernorm.weight"},
        {"norm.bias", "vit.layernorm.bias"},
        {"mask_token", "decoder.mask_token"},
        {"decoder_embed.weight", "decoder.decoder_embed.weight"},
        {"decoder_embed.bias", "decoder.decoder_embed.bias"},
        {"decoder_pos_embed", "decoder.decoder_pos_embed"},
        {"decoder_norm.weight", "decoder.decoder_norm.weight"},
        {"decoder_norm.bias", "decoder.decoder_norm.bias"},
        {"decoder_pred.weight", "decoder.decoder_pred.weight"},
        {"decoder_pred.bias", "decoder.decoder_pred.bias"},
    };
    for (const auto &[from, to] : plain)
        if (has(in, from)) {
            m.tensors[to] = in.at(from);
            used.insert(from);
        }
    requireAllUsed(in, used, {}, source, "a FAIR MAE of these shapes");
    m.config = c.toJson();
    auto add = [&](const std::string &n, const std::string &v, const std::string &s) {
        m.settings.push_back({n, v, s});
    };
    add("hidden_size, patch_size, num_channels", std::to_string(c.hiddenSize) + ", " + std::to_string(c.patchSize) + ", " +
                                                     std::to_string(c.numChannels),
        "patch_embed.proj.weight shape");
    add("image_size", std::to_string(c.imageSize), gridSource);
    add("num_hidden_layers", std::to_string(c.numHiddenLayers), "count of blocks.N");
    add("num_attention_heads", std::to_string(c.numAttentionHeads), headsSource);
    if (m.hasDecoder)
        add("decoder", std::to_string(c.decoderHiddenSize) + " wide, " + std::to_string(c.decoderNumHiddenLayers) +
                           " blocks, " + std::to_string(c.decoderNumAttentionHeads) + " heads",
            "decoder tensor shapes; heads from FAIR's decoder (512 wide, 16 heads)");
    else
        add("decoder", "none", "encoder-only file (FAIR's pretrain release): features and probes only");
    add("norm_pix_loss", c.normPixLoss ? "true" : "false", normSource);
    add("layer_norm_eps", "1e-6", "FAIR's models_mae.py");
    return m;
}

MappedModel mapOpenAiClip(const LazyTensorMap &in, const nlohmann::json &modelCfg, const std::string &activationSource,
                          const std::string &source)
{
    if (has(in, "visual.layer1.0.conv1.weight"))
        throw FileError(source, "a CLIP with a ResNet image tower (RN50, RN101, ...): vitscope supports the ViT "
                                "models (ViT-B/32, ViT-B/16, ViT-L/14)");
    if (has(in, "visual.trunk.patch_embed.proj.weight"))
        throw FileError(source, "an open_clip model with a timm image tower: vitscope supports CLIP's own ViT towers");
    MappedModel m;
    ClipConfig c;
    auto &v = c.vision;
    auto &t = c.text;
    const auto &conv = need(in, "visual.conv1.weight", source);
    v.hiddenSize = dim(conv, 0, "visual.conv1.weight", source, 4);
    v.numChannels = conv.shape[1];
    v.patchSize = conv.shape[3];
    v.numHiddenLayers = countBlocks(in, "visual.transformer.resblocks.");
    v.intermediateSize = dim(need(in, "visual.transformer.resblocks.0.mlp.c_fc.weight", source), 0,
                             "visual.transformer.resblocks.0.mlp.c_fc.weight", source, 2);
    const int64_t grid = squareRoot(
        dim(need(in, "visual.positional_embedding", source), 0, "visual.positional_embedding", source, 2) - 1,
        "visual.positional_embedding", source);
    v.imageSize = grid * v.patchSize;
    v.numAttentionHeads = std::max<int64_t>(1, v.hiddenSize / 64);
    t.hiddenSize = dim(need(in, "ln_final.weight", source), 0, "ln_final.weight", source, 1);
    t.numHiddenLayers = countBlocks(in, "transformer.resblocks.");
    t.intermediateSize = dim(need(in, "transformer.resblocks.0.mlp.c_fc.weight", source), 0,
                             "transformer.resblocks.0.mlp.c_fc.weight", source, 2);
    t.numAttentionHeads = std::max<int64_t>(1, t.hiddenSize / 64);
    std::string textHeadsSource = "width / 64 (OpenAI's build_model)";
    if (modelCfg.is_object() && modelCfg.contains("text_cfg") && modelCfg["text_cfg"].contains("heads") &&
        modelCfg["text_cfg"]["heads"].is_number_integer()) {
        t.numAttentionHeads = modelCfg["text_cfg"]["heads"].get<int64_t>();
        textHeadsSource = "open_clip_config.json text_cfg.heads";
    }
    std::string visionHeadsSource = "width / 64 (OpenAI's build_model)";
    if (modelCfg.is_object() && modelCfg.contains("vision_cfg") && modelCfg["vision_cfg"].contains("head_width") &&
        modelCfg["vision_cfg"]["head_width"].is_number_integer() && modelCfg["vision_cfg"]["head_width"].get<int64_t>() > 0) {
        v.numAttentionHeads = v.hiddenSize / modelCfg["vision_cfg"]["head_width"].get<int64_t>();
        visionHeadsSource = "open_clip_config.json vision_cfg.head_width";
    }
    t.maxPositionEmbeddings =
        dim(need(in, "positional_embedding", source), 0, "positional_embedding", source, 2);
    t.vocabSize = dim(need(in, "token_embedding.weight", source), 0, "token_embedding.weight", source, 2);
    c.projectionDim = dim(need(in, "text_projection", source), 1, "text_projection", source, 2);
    // OpenAI's rule: end-of-text is the largest id (HF configs say so with eos_token_id 2).
    t.eosTokenId = 2, t.bosTokenId = 0, t.padTokenId = 1;
    const bool quick = !modelCfg.is_object() || (modelCfg.contains("quick_gelu") && modelCfg["quick_gelu"].is_boolean() &&
                                                 modelCfg["quick_gelu"].get<bool>());
    v.hiddenAct = t.hiddenAct = quick ? "quick_gelu" : "gelu";
    v.layerNormEps = t.layerNormEps = 1e-5;
    c.validate();

    static const char *const hfQkv[3] = {"self_attn.q_proj.", "self_attn.k_proj.", "self_attn.v_proj."};
    const std::vector<Rename> renames = {{"attn.out_proj", "self_attn.out_proj"},
                                         {"ln_1", "layer_norm1"},
                                         {"ln_2", "layer_norm2"},
                                         {"mlp.c_fc", "mlp.fc1"},
                                         {"mlp.c_proj", "mlp.fc2"}};
    std::set<std::string> used;
    for (int64_t i = 0; i < v.numHiddenLayers; ++i)
        mapBlock(in, m.tensors, used, "visual.transformer.resblocks." + std::to_string(i) + ".",
                 "vision_model.encoder.layers." + std::to_string(i) + ".", "attn.in_proj_weight", "attn.in_proj_bias",
                 hfQkv, renames, v.hiddenSize, source);
    for (int64_t i = 0; i < t.numHiddenLayers; ++i)
        mapBlock(in, m.tensors, used, "transformer.resblocks." + std::to_string(i) + ".",
                 "text_model.encoder.layers." + std::to_string(i) + ".", "attn.in_proj_weight", "attn.in_proj_bias",
                 hfQkv, renames, t.hiddenSize, source);
    const std::vector<std::pair<std::string, std::string>> plain = {
        {"visual.conv1.weight", "vision_model.embeddings.patch_embedding.weight"},
        {"visual.class_embedding", "vision_model.embeddings.class_embedding"},
        {"visual.positional_embedding", "vision_model.embeddings.position_embedding.weight"},
        {"visual.ln_pre.weight", "vision_model.pre_layrnorm.weight"},
        {"visual.ln_pre.bias", "vision_model.pre_layrnorm.bias"},
        {"visual.ln_post.weight", "vision_model.post_layernorm.weight"},
        {"visual.ln_post.bias", "vision_model.post_layernorm.bias"},
        {"token_embedding.weight", "text_model.embeddings.token_embedding.weight"},
        {"positional_embedding", "text_model.embeddings.position_embedding.weight"},
        {"ln_final.weight", "text_model.final_layer_norm.weight"},
        {"ln_final.bias", "text_model.final_layer_norm.bias"},
        {"logit_scale", "logit_scale"},
    };
    for (const auto &[from, to] : plain)
        if (has(in, from)) {
            m.tensors[to] = in.at(from);
            used.insert(from);
        }
    for (const auto &[from, to] : {std::pair<std::string, std::string>{"visual.proj", "visual_projection.weight"},
                                   {"text_projection", "text_projection.weight"}})
        if (has(in, from)) {
            m.tensors[to] = lazyTransposed(in.at(from));
            used.insert(from);
        }
    // TorchScript archives keep a few non-weights: the sizes OpenAI's build_model deletes,
    // and the text tower's causal mask (rebuilt here).
    std::set<std::string> ignored = {"input_resolution", "context_length", "vocab_size"};
    for (const auto &[name, _] : in)
        if (name.size() >= 9 && name.compare(name.size() - 9, 9, "attn_mask") == 0)
            ignored.insert(name);
    requireAllUsed(in, used, ignored, source, "a CLIP ViT of these shapes");
    m.config = c.toJson();
    auto add = [&](const std::string &n, const std::string &val, const std::string &s) {
        m.settings.push_back({n, val, s});
    };
    add("vision: width, patch, layers", std::to_string(v.hiddenSize) + ", " + std::to_string(v.patchSize) + ", " +
                                            std::to_string(v.numHiddenLayers),
        "visual.conv1.weight shape, count of visual.transformer.resblocks.N");
    add("vision: image_size", std::to_string(v.imageSize), "visual.positional_embedding " + std::to_string(grid * grid + 1) + " positions");
    add("vision: heads", std::to_string(v.numAttentionHeads), visionHeadsSource);
    add("text: width, layers, context, vocabulary",
        std::to_string(t.hiddenSize) + ", " + std::to_string(t.numHiddenLayers) + ", " +
            std::to_string(t.maxPositionEmbeddings) + ", " + std::to_string(t.vocabSize),
        "ln_final, transformer.resblocks.N, positional_embedding, token_embedding shapes");
    add("text: heads", std::to_string(t.numAttentionHeads), textHeadsSource);
    add("projection_dim", std::to_string(c.projectionDim), "text_projection shape");
    add("hidden_act", v.hiddenAct, activationSource);
    add("end of text", "the largest id (eos_token_id 2)", "OpenAI's rule (argmax of the token ids)");
    return m;
}

} // namespace vitscope

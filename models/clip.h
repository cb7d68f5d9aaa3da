#pragma once
// CLIP (Radford et al. 2021), matching OpenAI's code and Hugging Face's CLIPModel
// (REFERENCE.md, CLIP):
//   image: patch conv (no bias) -> prepend class embedding -> + learned positions ->
//          pre_layrnorm -> pre-LN blocks -> post_layernorm of the class token ->
//          visual_projection (no bias)
//   text:  token + learned position embeddings -> pre-LN blocks with a causal mask ->
//          final_layer_norm -> the feature at end-of-text -> text_projection (no bias)
//   logit_scale: log of the temperature's inverse, exp() clamped at 100.
// Because the text mask is causal, the text tower runs on each prompt's true length: the
// feature at end-of-text does not depend on anything after it.
// Not thread-safe: one model per thread, or guard it.

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

#include "models/vit.h"

namespace vitscope {

// What both towers have (Hugging Face names in comments). Text and vision differ in their
// defaults only: each sets its own in its constructor.
struct ClipTowerConfig {
    int64_t hiddenSize;                   // hidden_size
    int64_t intermediateSize;             // intermediate_size
    int64_t numHiddenLayers;              // num_hidden_layers
    int64_t numAttentionHeads;            // num_attention_heads
    std::string hiddenAct = "quick_gelu"; // hidden_act
    double layerNormEps = 1e-5;           // layer_norm_eps

    BlockConfig block() const; // one pre-LN block of this tower
};

// Hugging Face CLIPTextConfig (defaults are transformers').
struct ClipTextConfig : ClipTowerConfig {
    ClipTextConfig() : ClipTowerConfig{512, 2048, 12, 8} {}
    int64_t vocabSize = 49408;          // vocab_size
    int64_t maxPositionEmbeddings = 77; // max_position_embeddings (the context length)
    int64_t padTokenId = 1;             // pad_token_id
    int64_t bosTokenId = 49406;         // bos_token_id
    int64_t eosTokenId = 49407;         // eos_token_id: 2 means "end-of-text is the largest id"
};

// Hugging Face CLIPVisionConfig.
struct ClipVisionConfig : ClipTowerConfig {
    ClipVisionConfig() : ClipTowerConfig{768, 3072, 12, 12} {}
    int64_t numChannels = 3; // num_channels
    int64_t imageSize = 224; // image_size
    int64_t patchSize = 32;  // patch_size

    int64_t gridSize() const { return imageSize / patchSize; }
    int64_t patchCount() const { return gridSize() * gridSize(); }
};

struct ClipConfig {
    ClipTextConfig text;                  // text_config
    ClipVisionConfig vision;              // vision_config
    int64_t projectionDim = 512;          // projection_dim
    double logitScaleInitValue = 2.6592;  // logit_scale_init_value: log(1 / 0.07)

    // Throws vitscope::Error naming the inconsistent field.
    void validate() const;

    // "vit-b32", "vit-b16", "vit-l14" (OpenAI's shapes) and "fmnist" (32 x 32 grey
    // Fashion-MNIST, patch 4, small towers; its vocabulary size is set by the trainer).
    static ClipConfig preset(const std::string &name);
    static std::vector<std::string> presetNames();

    nlohmann::json toJson() const; // HF config.json (model_type clip)
    static ClipConfig fromJson(const nlohmann::json &j, const std::string &source);
};

struct ClipVisionImpl : torch::nn::Module {
    explicit ClipVisionImpl(const ClipVisionConfig &config);
    // pixels (B, C, S, S) normalized -> the last hidden states (B, 1 + L, D). With
    // `attention`, each block's attention weights (B, H, 1 + L, 1 + L) are appended to it.
    torch::Tensor forwardTokens(const torch::Tensor &pixels, std::vector<torch::Tensor> *attention = nullptr);
    // -> post_layernorm(class token): (B, D)
    torch::Tensor forward(const torch::Tensor &pixels);
    // Whether a forward pass now would run on bfloat16 copies of the weights (the opt-in
    // fast path bf16-image: inference, float32 weights on a CPU with native bfloat16).
    bool usesBf16Weights() const;

    ClipVisionConfig config;
    torch::nn::Conv2d patchEmbedding{nullptr};
    torch::Tensor classEmbedding; // (D)
    torch::nn::Embedding positionEmbedding{nullptr};
    torch::nn::LayerNorm preLayrnorm{nullptr}, postLayernorm{nullptr};
    torch::nn::ModuleList blocks{nullptr};
};
TORCH_MODULE(ClipVision);

struct ClipTextImpl : torch::nn::Module {
    explicit ClipTextImpl(const ClipTextConfig &config);
    // ids (B, N) int64, N <= max_position_embeddings; eosPositions (B) int64 ->
    // final_layer_norm(hidden)[b, eosPositions[b]]: (B, D)
    torch::Tensor forward(const torch::Tensor &ids, const torch::Tensor &eosPositions);
    // The end-of-text position of each row by the config's rule: argmax of the ids when
    // eos_token_id is 2 (OpenAI's configs), else the first position holding eos_token_id
    // (the last position when there is none).
    torch::Tensor eosPositions(const torch::Tensor &ids) const;
    // Whether a forward pass now would run on bfloat16 copies of the weights (the opt-in
    // fast path bf16-text: inference, float32 weights on a CPU with native bfloat16).
    bool usesBf16Weights() const;

    ClipTextConfig config;
    torch::nn::Embedding tokenEmbedding{nullptr}, positionEmbedding{nullptr};
    torch::nn::ModuleList blocks{nullptr};
    torch::nn::LayerNorm finalLayerNorm{nullptr};
};
TORCH_MODULE(ClipText);

struct ClipImpl : torch::nn::Module {
    explicit ClipImpl(const ClipConfig &config);

    // Projected features before L2 normalization (transformers' get_image_features /
    // get_text_features). pixels (B, C, S, S); ids (B, N) with eos positions (B).
    torch::Tensor imageFeatures(const torch::Tensor &pixels);
    torch::Tensor textFeatures(const torch::Tensor &ids, const torch::Tensor &eosPositions);
    // Prompts of any lengths, each run on its true length (prompts of equal length share a
    // batch); padTo > 0 pads every prompt to that many positions instead (the slow way,
    // for comparison). Returns (count, projection_dim), in input order.
    torch::Tensor textFeatures(const std::vector<std::vector<int64_t>> &ids, int64_t padTo = 0);
    // exp(logit_scale) clamped at 100.
    torch::Tensor scale() const;
    void checkPixels(const torch::Tensor &pixels) const;

    // The Hugging Face name of each parameter (clip layout).
    static std::string hfName(const std::string &ourName);

    ClipConfig config;
    ClipVision visionModel{nullptr};
    ClipText textModel{nullptr};
    torch::nn::Linear visualProjection{nullptr}, textProjection{nullptr};
    torch::Tensor logitScale; // 0-dim

private:
    void initWeights();
};
TORCH_MODULE(Clip);

struct ClipLoss {
    torch::Tensor loss;            // scalar: (CE over rows + CE over columns) / 2
    torch::Tensor logitsPerImage;  // (N, N) = scale * normalize(I) . normalize(T)^T
};

// The symmetric contrastive loss of the paper. imageFeatures and textFeatures (N, P) are
// L2-normalized here; scale = exp(logitScale) clamped at 100; labels are 0..N-1.
ClipLoss clipLoss(const torch::Tensor &imageFeatures, const torch::Tensor &textFeatures,
                  const torch::Tensor &logitScale);

} // namespace vitscope

#pragma once
// Masked autoencoder (He et al. 2021), matching the official code and Hugging Face's
// ViTMAEForPreTraining (REFERENCE.md, MAE):
//   encoder: patch conv (with bias) + fixed sin-cos pos -> keep visible patches only ->
//            prepend class token (+ its zero pos) -> pre-LN blocks -> LayerNorm
//   decoder: linear to decoder width -> append (L - keep) mask tokens -> unshuffle with
//            ids_restore -> re-prepend class token -> + decoder pos -> blocks ->
//            LayerNorm -> linear to p*p*C -> drop class token
//   loss:    per-patch MSE, averaged over removed patches only; with normPixLoss the
//            target patch is (t - mean) / sqrt(var + 1e-6), unbiased variance.
// Not thread-safe: one model per thread, or guard it.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

#include "models/masking.h"
#include "models/vit.h"

namespace vitscope {

// One to one with the Hugging Face `vit_mae` config.json fields (names in comments).
struct MaeConfig {
    int64_t hiddenSize = 768;               // hidden_size
    int64_t numHiddenLayers = 12;           // num_hidden_layers
    int64_t numAttentionHeads = 12;         // num_attention_heads
    int64_t intermediateSize = 3072;        // intermediate_size
    std::string hiddenAct = "gelu";         // hidden_act
    double hiddenDropoutProb = 0.0;         // hidden_dropout_prob (kept for round trips; unused)
    double attentionProbsDropoutProb = 0.0; // attention_probs_dropout_prob (likewise)
    double initializerRange = 0.02;         // initializer_range
    double layerNormEps = 1e-6;             // layer_norm_eps (official MAE: 1e-6; HF files: 1e-12)
    int64_t imageSize = 224;                // image_size
    int64_t patchSize = 16;                 // patch_size
    int64_t numChannels = 3;                // num_channels
    bool qkvBias = true;                    // qkv_bias
    int64_t decoderHiddenSize = 512;        // decoder_hidden_size
    int64_t decoderNumHiddenLayers = 8;     // decoder_num_hidden_layers
    int64_t decoderNumAttentionHeads = 16;  // decoder_num_attention_heads
    int64_t decoderIntermediateSize = 2048; // decoder_intermediate_size
    double maskRatio = 0.75;                // mask_ratio
    bool normPixLoss = false;               // norm_pix_loss

    int64_t gridSize() const { return imageSize / patchSize; }
    int64_t patchCount() const { return gridSize() * gridSize(); }
    int64_t patchDim() const { return patchSize * patchSize * numChannels; }

    // Throws vitscope::Error naming the field that is inconsistent.
    void validate() const;

    // "vit-b16", "vit-l16", "vit-h14" (the paper's encoders with the 512-wide, 8-block
    // decoder) and "fmnist" (28 x 28 Fashion-MNIST padded to 32 x 32, patch 4: an 8 x 8
    // grid, 1 channel). Throws for other names, listing these.
    static MaeConfig preset(const std::string &name);
    static std::vector<std::string> presetNames();

    nlohmann::json toJson() const;                  // HF config.json (model_type vit_mae)
    static MaeConfig fromJson(const nlohmann::json &j, const std::string &source);
};

struct MaeOutput {
    torch::Tensor loss;       // scalar
    torch::Tensor pred;       // (B, L, p*p*C): in target space (normalized patches if normPixLoss)
    torch::Tensor mask;       // (B, L): 1 removed
    torch::Tensor idsRestore; // (B, L)
    torch::Tensor latent;     // (B, 1 + encoder tokens, D)
};

struct MaeImpl : torch::nn::Module {
    // maskTokensInEncoder: the Table 1c ablation, where the encoder sees all L tokens with
    // removed ones replaced by a learned encoder mask token (more FLOPs, worse features).
    explicit MaeImpl(const MaeConfig &config, bool maskTokensInEncoder = false);

    // imgs: (B, C, H, W), normalized with the model's image mean/std.
    MaeOutput forward(const torch::Tensor &imgs, const Masking &masking);
    // (B, 1 + keep, D), or (B, 1 + L, D) in the mask-tokens-in-encoder variant; the kept
    // tokens in masking.idsKeep's order. With `attention`, each block's attention weights
    // (B, H, tokens, tokens) are appended to it.
    torch::Tensor forwardEncoder(const torch::Tensor &imgs, const Masking &masking,
                                 std::vector<torch::Tensor> *attention = nullptr);
    // latent from forwardEncoder -> (B, L, p*p*C)
    torch::Tensor forwardDecoder(const torch::Tensor &latent, const Masking &masking);
    // The training target: patchify(imgs), normalized per patch when normPixLoss.
    torch::Tensor target(const torch::Tensor &imgs) const;
    torch::Tensor loss(const torch::Tensor &imgs, const torch::Tensor &pred, const torch::Tensor &mask) const;
    // Throws (c10::Error) unless imgs is (B, C, S, S) for this config and masking covers L.
    void checkInput(const torch::Tensor &imgs, const Masking &masking) const;
    // Encoder on every patch, no masking: (B, 1 + L, D); features for probes.
    torch::Tensor encodeAll(const torch::Tensor &imgs);

    // The Hugging Face name of each parameter and buffer (vit_mae layout).
    static std::string hfName(const std::string &ourName);

    MaeConfig config;
    bool maskTokensInEncoder = false;
    torch::nn::Conv2d patchEmbed{nullptr};
    torch::Tensor clsToken, posEmbed; // (1, 1, D), buffer (1, 1 + L, D)
    torch::Tensor encoderMaskToken;   // (1, 1, D), only with maskTokensInEncoder
    torch::nn::ModuleList blocks{nullptr};
    torch::nn::LayerNorm norm{nullptr};
    torch::nn::Linear decoderEmbed{nullptr};
    torch::Tensor maskToken, decoderPosEmbed; // (1, 1, Dd), buffer (1, 1 + L, Dd)
    torch::nn::ModuleList decoderBlocks{nullptr};
    torch::nn::LayerNorm decoderNorm{nullptr};
    torch::nn::Linear decoderPred{nullptr};

private:
    torch::Tensor runBlocks(torch::nn::ModuleList &list, torch::Tensor x, std::vector<torch::Tensor> *attention = nullptr);
    void initWeights();
};
TORCH_MODULE(Mae);

// Matrix-product FLOPs of one forward pass per image (2 per multiply-add): patch
// embedding, encoder blocks on `encoderTokens` tokens (class token included), decoder
// embedding, decoder blocks and prediction on 1 + L tokens. A training step is about 3x.
double maeForwardFlops(const MaeConfig &config, int64_t encoderTokens);
// The model's shape in the thread choice's workload names (models/runtime/tuning.h):
// "768x12 decoder 512x8 patches 196".
std::string maeShapeName(const MaeConfig &config);
// One pretraining step's name there (the trainer's and `bench mae-train`'s).
std::string maeTrainWorkload(const MaeConfig &config, int64_t batch, bool maskTokensInEncoder);

// How predicted patches of a normPixLoss model become pixels.
enum class PatchStats {
    // Each patch's true mean and variance from the original image. This flatters the
    // reconstruction: the mean and contrast of every removed patch leak from the hidden
    // image, so the picture looks far better than what the model inferred by itself.
    True,
    // One mean and variance pooled over the visible patches only: no information from the
    // removed patches; an honest, blurrier picture.
    Visible,
};

struct MaeVisuals {
    // All (B, C, H, W) in pixel space [0, 1] (the image normalization undone).
    torch::Tensor original, masked, reconstruction, pasted;
    torch::Tensor patchError; // (B, L): MSE per patch in target space
    torch::Tensor mask;       // (B, L)
    torch::Tensor pred;       // (B, L, p*p*C): the model's raw output (before un-normalization)
    torch::Tensor loss;       // scalar: the training loss for this masking
};

// Everything the MAE views draw. imgs are normalized with mean/std (per channel);
// removed patches are mid-grey in `masked`; `pasted` is the reconstruction with the
// visible patches of the original put back. Runs under NoGradGuard.
MaeVisuals visualize(Mae &model, const torch::Tensor &imgs, const Masking &masking, const std::vector<float> &mean,
                     const std::vector<float> &std, PatchStats stats = PatchStats::True);

} // namespace vitscope

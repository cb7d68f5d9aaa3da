#pragma once
// The official releases' tensor names, mapped onto the Hugging Face names the models use,
// with the architecture read from the tensor shapes (none of these files carries a
// config):
//   - FAIR's MAE (.pth: timm names, fused qkv, LayerNorm eps 1e-6): mapped to vit_mae.
//   - OpenAI's CLIP (.pt TorchScript archives) and open_clip's ViT models (same names):
//     mapped to clip, as OpenAI's build_model reads them.
// Lazy throughout: a fused qkv becomes three row slices of the same stored tensor.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/model_origin.h"
#include "models/checkpoints/safetensors.h"

namespace vitscope {

struct MappedModel {
    nlohmann::json config;         // a Hugging Face config.json
    LazyTensorMap tensors;         // Hugging Face names
    bool hasDecoder = true;        // MAE: false for encoder-only files (FAIR's "pretrain")
    std::vector<InferredSetting> settings;
};

// Hints for FAIR files: `args.model` ("mae_vit_large_patch16") and `args.norm_pix_loss`
// when the checkpoint carries them, and the file name.
struct FairHints {
    std::string argsModel;
    int normPixLoss = -1; // -1 unknown, 0, 1
    double maskRatio = -1;
    std::string fileName;
};

// True when the names are FAIR's (timm) MAE names / OpenAI's CLIP names.
bool hasFairMaeNames(const LazyTensorMap &t);
bool hasOpenAiClipNames(const LazyTensorMap &t);

// FileError(source) for fine-tuned classifiers, ResNet towers, missing or inconsistent tensors.
MappedModel mapFairMae(const LazyTensorMap &fair, const FairHints &hints, const std::string &source);
// `openClipModelCfg`: open_clip_config.json's "model_cfg" (null for OpenAI's files: QuickGELU).
MappedModel mapOpenAiClip(const LazyTensorMap &openai, const nlohmann::json &openClipModelCfg,
                          const std::string &activationSource, const std::string &source);

} // namespace vitscope

#pragma once
// The sessions' insides (LibTorch types), shared by the engine's own files only:
// sessions.cpp (loading, exploring, embedding) and inspect.cpp (attention, maps).

#include <memory>

#include <torch/torch.h>

#include "models/checkpoints/hf_folder.h"
#include "models/masking.h"
#include "models/zero_shot.h"
#include "src/engine/sessions.h"

namespace vitscope::engine {

struct MaeSession::Impl {
    LoadedMae loaded;
    torch::Device device = torch::kCPU;
};

struct ClipSession::Impl {
    LoadedClip loaded;
    torch::Device device = torch::kCPU;
    std::unique_ptr<ZeroShotClassifier> classifier;
};

// One image's masking for a request (throws when it keeps no patch).
Masking maskingFor(const MaskRequest &request, const MaeConfig &config, torch::Device device);

// The model input for an image of any size, as the model's processor says: (C, S, S).
torch::Tensor pixelsFor(const RgbImage &image, const ImageProcessorConfig &processor, std::int64_t channels);

} // namespace vitscope::engine

#pragma once
// preprocessor_config.json (ImageProcessorConfig) and what it says, done to an image.
// Image preprocessing in LibTorch alone (the core has no OpenCV): what transformers'
// CLIPImageProcessor does, with PIL's resampling: convert to the model's channels (RGB:
// grey replicated, alpha dropped; grey: ITU-R 601 luma), resize the shortest side to
// `size` (bicubic with antialiasing, as PIL; the long side is floor(size * long /
// short)), round to 8 bits, center crop `cropSize` (top = (h - crop) / 2, rounded down),
// scale to [0, 1], normalize with mean and std. With the processor's padSmaller, an image
// no larger than the crop is zero-padded to it (centered) instead of resized.

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

namespace vitscope {

// preprocessor_config.json: what an image goes through before the model.
struct ImageProcessorConfig {
    int64_t size = 224;            // "size": int, {"height", "width"} or {"shortest_edge"}
    int64_t cropSize = 224;        // "crop_size" (CLIP); equals size for ViT processors
    std::vector<float> imageMean = {0.485f, 0.456f, 0.406f};
    std::vector<float> imageStd = {0.229f, 0.224f, 0.225f};
    bool doNormalize = true;
    bool doCenterCrop = false;     // CLIP: resize the shortest side to `size`, then crop `cropSize`
    // "vitscope_pad_smaller" (ours; transformers ignores it): an image no larger than the
    // crop is zero-padded to it, centered, instead of resized: how the Fashion-MNIST models
    // were trained (28 x 28 padded to 32 x 32).
    bool padSmaller = false;
    int resample = 3;              // PIL's bicubic
    std::string processorType = "ViTImageProcessor";

    nlohmann::json toJson() const;
    static ImageProcessorConfig fromJson(const nlohmann::json &j, const std::string &source);
    // CLIPImageProcessor's settings for a model of this input size: shortest side to
    // `imageSize` (bicubic), center crop, OpenAI's mean and std (one value when grey).
    static ImageProcessorConfig clip(int64_t imageSize, int64_t channels = 3);

private:
    nlohmann::json jsonWithoutExtensions() const;
};

// hwc: (H, W, C) uint8 with C = 1, 3 or 4. Returns (channels, crop, crop) float32.
torch::Tensor preprocessImage(const torch::Tensor &hwc, const ImageProcessorConfig &processor, int64_t channels);

// The resized size (height, width) for a shortest side of `size`.
std::pair<int64_t, int64_t> shortestSideSize(int64_t height, int64_t width, int64_t size);

} // namespace vitscope

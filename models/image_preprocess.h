#pragma once
// Image preprocessing in LibTorch alone (the core has no OpenCV): what transformers'
// CLIPImageProcessor does, with PIL's resampling: convert to the model's channels (RGB:
// grey replicated, alpha dropped; grey: ITU-R 601 luma), resize the shortest side to
// `size` (bicubic with antialiasing, as PIL; the long side is floor(size * long /
// short)), round to 8 bits, center crop `cropSize` (top = (h - crop) / 2, rounded down),
// scale to [0, 1], normalize with mean and std. With the processor's padSmaller, an image
// no larger than the crop is zero-padded to it (centered) instead of resized.

#include <torch/torch.h>

#include "models/hf_folder.h"

namespace vitscope {

// hwc: (H, W, C) uint8 with C = 1, 3 or 4. Returns (channels, crop, crop) float32.
torch::Tensor preprocessImage(const torch::Tensor &hwc, const ImageProcessorConfig &processor, int64_t channels);

// The resized size (height, width) for a shortest side of `size`.
std::pair<int64_t, int64_t> shortestSideSize(int64_t height, int64_t width, int64_t size);

} // namespace vitscope

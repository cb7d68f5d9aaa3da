#pragma once
// Image transforms for training and evaluation, on (H, W, C) uint8 images in and
// normalized (channels, size, size) float32 out. Training uses the MAE paper's minimal
// augmentation: random resized crop (scale 0.2 to 1, aspect 3/4 to 4/3) and horizontal
// flip, each switchable; Fashion-MNIST's 28 x 28 images are zero-padded to 32 x 32 first.
// Randomness comes only from the generator passed in, so a sample's augmentation is fixed
// by its seed whichever thread makes it.

#include <array>
#include <cstdint>
#include <random>
#include <vector>

#include <torch/torch.h>

namespace vitscope::data {

struct ImageTransform {
    int64_t size = 32;                // model input, square
    int64_t channels = 1;             // model channels: 1 (luma) or 3 (grey replicated)
    std::vector<float> mean = {0.5f}; // per model channel
    std::vector<float> std = {0.5f};
    bool pad = true;                  // zero-pad smaller images to `size` (Fashion-MNIST 28 -> 32)
    bool randomResizedCrop = true;    // training only
    double cropScaleMin = 0.2;
    bool flip = true;                 // training only
};

// Augmented sample (training).
torch::Tensor trainTransform(const torch::Tensor &hwc, const ImageTransform &t, std::mt19937_64 &rng);
// Deterministic sample (evaluation, feature extraction): pad, or shortest side to `size`
// (bicubic, antialiased) and center crop; no augmentation.
torch::Tensor evalTransform(const torch::Tensor &hwc, const ImageTransform &t);

// torchvision's RandomResizedCrop parameters for an h x w image: (top, left, height, width).
std::array<int64_t, 4> randomResizedCropBox(int64_t h, int64_t w, double scaleMin, double scaleMax, std::mt19937_64 &rng);

// A 64-bit seed mixed from several values (splitmix64), for per-sample generators.
uint64_t mixSeed(std::initializer_list<uint64_t> values);

} // namespace vitscope::data

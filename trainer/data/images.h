#pragma once
// Image files in, model tensors out (OpenCV). Every image becomes RGB: grey is
// replicated, alpha dropped, 16-bit scaled to 8. Errors name the file.

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "models/image_preprocess.h"
#include "trainer/data/rgb_image.h"

namespace vitscope::data {

// Reads PNG, JPEG, BMP, WebP, TIFF, ... Throws vitscope::FileError when the file is
// missing or is not an image OpenCV can decode.
RgbImage loadImageRgb(const std::string &path);

// (H, W, 3) uint8 tensor holding a copy of the pixels (for models/image_preprocess.h).
torch::Tensor rgbToTensor(const RgbImage &image);

// The image files under `dir` (by extension: png, jpg, jpeg, bmp, webp, tif, tiff; any
// case), in subfolders too when `recursive`, sorted by path. FileError when `dir` is not
// a readable folder.
std::vector<std::string> listImageFiles(const std::string &dir, bool recursive = true);

// Writes an RGB image (PNG by the extension); FileError when it cannot.
void saveImageRgb(const std::string &path, const RgbImage &image);

// (C, H, W) float in [0, 1] (C = 1 or 3) -> RGB8.
RgbImage tensorToRgb(const torch::Tensor &chw);
// A model input (C, H, W) normalized with per-channel mean and std -> its pixels, the
// normalization undone (what the model saw, after resizing and cropping).
RgbImage normalizedToRgb(const torch::Tensor &chw, const std::vector<float> &mean, const std::vector<float> &std);

// Images side by side, top-aligned, with `gap` pixels of `background` between them.
RgbImage hconcat(const std::vector<RgbImage> &images, int gap = 4, std::uint8_t background = 255);

// Nearest-neighbour enlargement by an integer factor (keeps patches crisp).
RgbImage scaleNearest(const RgbImage &image, int factor);

} // namespace vitscope::data

#pragma once
// Distribution shifts for the robustness experiment (`vitscope-cli eval shift`, in the
// spirit of the CLIP paper's section 3.3): each is a fixed, documented change to an
// (H, W, C) uint8 image before the model's own preprocessing.
//   none          the image as it is
//   inverted      255 - x
//   edges         Sobel gradient magnitude of the luma (replicated border), scaled so the
//                 strongest edge is 255, in every channel: outlines only
//   blur          Gaussian blur, sigma = min(H, W) / 20 (1.4 px on 28 x 28), kernel radius
//                 ceil(3 sigma), replicated border
//   noise         additive Gaussian noise, standard deviation 50 (of 255), clamped; the
//                 noise is a function of (seed, image index)
//   rotation      rotated 90 degrees counter-clockwise
//   low-contrast  m + (x - m) / 4 per channel, m the channel's mean
//   cut-out       a centred square of half the shorter side filled with the channel means
// Results are rounded to the nearest integer.

#include <cstdint>
#include <string>
#include <vector>

#include <memory>

#include <torch/torch.h>

#include "trainer/data/sources.h"

namespace vitscope::data {

enum class Shift { None, Inverted, Edges, Blur, Noise, Rotation, LowContrast, CutOut };

std::vector<Shift> allShifts();               // in the order above
std::string shiftName(Shift shift);           // "none", "inverted", ...
Shift parseShift(const std::string &name);    // throws vitscope::Error listing the names
std::string shiftDescription(Shift shift);    // one line for tables and tooltips

// hwc: (H, W, C) uint8 with C 1 or 3 -> the shifted image, same shape and type.
torch::Tensor applyShift(const torch::Tensor &hwc, Shift shift, uint64_t seed = 0, int64_t index = 0);

// `source` with every image shifted (image i with applyShift(.., seed, i)); labels,
// captions and class names unchanged.
std::shared_ptr<SampleSource> shiftedSource(std::shared_ptr<const SampleSource> source, Shift shift, uint64_t seed = 0);

} // namespace vitscope::data

#include "models/image_preprocess.h"

#include <string>

#include "models/error.h"

namespace vitscope {

std::pair<int64_t, int64_t> shortestSideSize(int64_t h, int64_t w, int64_t size)
{
    if (h <= w)
        return {size, int64_t(double(size) * double(w) / double(h))};
    return {int64_t(double(size) * double(h) / double(w)), size};
}

torch::Tensor preprocessImage(const torch::Tensor &hwc, const ImageProcessorConfig &proc, int64_t channels)
{
    if (hwc.dim() != 3 || hwc.scalar_type() != torch::kByte || hwc.size(0) < 1 || hwc.size(1) < 1)
        throw Error("an image must be (H, W, C) uint8");
    const int64_t C = hwc.size(2);
    if (C != 1 && C != 3 && C != 4)
        throw Error("an image must have 1, 3 or 4 channels, got " + std::to_string(C));
    if (channels != 1 && channels != 3)
        throw Error("a model takes 1 or 3 channels, got " + std::to_string(channels));
    if (int64_t(proc.imageMean.size()) != channels || int64_t(proc.imageStd.size()) != channels)
        throw Error("image_mean and image_std need " + std::to_string(channels) + " values");
    auto img = hwc.permute({2, 0, 1}).to(torch::kFloat32); // (C, H, W), 0..255
    if (C == 4)
        img = img.slice(0, 0, 3); // alpha dropped, as PIL's convert("RGB")
    if (img.size(0) == 1 && channels == 3)
        img = img.expand({3, img.size(1), img.size(2)});
    else if (img.size(0) == 3 && channels == 1) // PIL's convert("L"): L = R 299/1000 + G 587/1000 + B 114/1000
        img = (img[0] * 0.299f + img[1] * 0.587f + img[2] * 0.114f).round().unsqueeze(0);
    const int64_t crop = proc.cropSize;
    if (proc.padSmaller && img.size(1) <= crop && img.size(2) <= crop) {
        const int64_t top = (crop - img.size(1)) / 2, left = (crop - img.size(2)) / 2;
        auto padded = torch::zeros({img.size(0), crop, crop});
        padded.slice(1, top, top + img.size(1)).slice(2, left, left + img.size(2)).copy_(img);
        img = padded / 255.0f;
        if (proc.doNormalize)
            img = (img - torch::tensor(proc.imageMean).view({channels, 1, 1})) /
                  torch::tensor(proc.imageStd).view({channels, 1, 1});
        return img.contiguous();
    }
    const auto [h, w] = shortestSideSize(img.size(1), img.size(2), proc.size);
    if (h != img.size(1) || w != img.size(2)) {
        namespace F = torch::nn::functional;
        img = F::interpolate(img.unsqueeze(0), F::InterpolateFuncOptions()
                                                    .size(std::vector<int64_t>{h, w})
                                                    .mode(torch::kBicubic)
                                                    .align_corners(false)
                                                    .antialias(true))
                  .squeeze(0)
                  .round()
                  .clamp(0, 255);
    }
    if (crop > h || crop > w) { // transformers pads with zeros around a too-small image
        auto padded = torch::zeros({img.size(0), std::max(h, crop), std::max(w, crop)});
        const int64_t top = (padded.size(1) - h) / 2, left = (padded.size(2) - w) / 2;
        padded.slice(1, top, top + h).slice(2, left, left + w).copy_(img);
        img = padded;
    }
    const int64_t top = (img.size(1) - crop) / 2, left = (img.size(2) - crop) / 2;
    img = img.slice(1, top, top + crop).slice(2, left, left + crop) / 255.0f;
    if (proc.doNormalize) {
        auto mean = torch::tensor(proc.imageMean).view({channels, 1, 1});
        auto std = torch::tensor(proc.imageStd).view({channels, 1, 1});
        img = (img - mean) / std;
    }
    return img.contiguous();
}

} // namespace vitscope

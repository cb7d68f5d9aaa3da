#include "trainer/data/transforms.h"

#include <cmath>

#include "models/error.h"

namespace vitscope::data {

namespace F = torch::nn::functional;

uint64_t mixSeed(std::initializer_list<uint64_t> values)
{
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (uint64_t v : values) {
        uint64_t z = (h ^ v) + 0x9E3779B97F4A7C15ull;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        h = z ^ (z >> 31);
    }
    return h;
}

std::array<int64_t, 4> randomResizedCropBox(int64_t h, int64_t w, double scaleMin, double scaleMax, std::mt19937_64 &rng)
{
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const double area = double(h * w);
    const double logLo = std::log(3.0 / 4.0), logHi = std::log(4.0 / 3.0);
    for (int attempt = 0; attempt < 10; ++attempt) {
        const double target = area * (scaleMin + (scaleMax - scaleMin) * unit(rng));
        const double ratio = std::exp(logLo + (logHi - logLo) * unit(rng));
        const auto cw = int64_t(std::llround(std::sqrt(target * ratio)));
        const auto ch = int64_t(std::llround(std::sqrt(target / ratio)));
        if (cw > 0 && ch > 0 && cw <= w && ch <= h) {
            const int64_t top = std::uniform_int_distribution<int64_t>(0, h - ch)(rng);
            const int64_t left = std::uniform_int_distribution<int64_t>(0, w - cw)(rng);
            return {top, left, ch, cw};
        }
    }
    // Fallback: the whole image, center-cropped to the nearest allowed aspect ratio.
    const double inRatio = double(w) / double(h);
    int64_t cw = w, ch = h;
    if (inRatio < 3.0 / 4.0)
        ch = int64_t(std::llround(double(w) / (3.0 / 4.0)));
    else if (inRatio > 4.0 / 3.0)
        cw = int64_t(std::llround(double(h) * (4.0 / 3.0)));
    return {(h - ch) / 2, (w - cw) / 2, ch, cw};
}

namespace {

// (C, H, W) float 0..255 with C = 1 or 3 -> the model's channels.
torch::Tensor toChannels(torch::Tensor img, int64_t channels)
{
    if (img.size(0) == channels)
        return img;
    if (channels == 3)
        return img.expand({3, img.size(1), img.size(2)});
    return (img[0] * 0.299f + img[1] * 0.587f + img[2] * 0.114f).unsqueeze(0);
}

torch::Tensor toFloat(const torch::Tensor &hwc, const ImageTransform &t)
{
    if (hwc.dim() != 3 || hwc.scalar_type() != torch::kByte || (hwc.size(2) != 1 && hwc.size(2) != 3))
        throw Error("transform: expected an (H, W, 1 or 3) uint8 image");
    if (int64_t(t.mean.size()) != t.channels || int64_t(t.std.size()) != t.channels)
        throw Error("transform: mean and std need one value per model channel");
    return toChannels(hwc.permute({2, 0, 1}).to(torch::kFloat32), t.channels);
}

torch::Tensor padTo(const torch::Tensor &img, int64_t size)
{
    const int64_t h = img.size(1), w = img.size(2);
    if (h >= size && w >= size)
        return img;
    const int64_t top = std::max<int64_t>(0, (size - h) / 2), left = std::max<int64_t>(0, (size - w) / 2);
    const int64_t bottom = std::max<int64_t>(0, size - h - top), right = std::max<int64_t>(0, size - w - left);
    return F::pad(img, F::PadFuncOptions({left, right, top, bottom}));
}

torch::Tensor resize(const torch::Tensor &img, int64_t h, int64_t w, bool bicubicAntialias)
{
    auto opts = F::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).align_corners(false);
    if (bicubicAntialias)
        opts = opts.mode(torch::kBicubic).antialias(true);
    else
        opts = opts.mode(torch::kBilinear);
    return F::interpolate(img.unsqueeze(0), opts).squeeze(0);
}

torch::Tensor normalize(const torch::Tensor &img, const ImageTransform &t)
{
    auto mean = torch::tensor(t.mean).view({t.channels, 1, 1});
    auto std = torch::tensor(t.std).view({t.channels, 1, 1});
    return ((img / 255.0f - mean) / std).contiguous();
}

torch::Tensor centerFit(torch::Tensor img, const ImageTransform &t)
{
    if (t.pad)
        img = padTo(img, t.size);
    int64_t h = img.size(1), w = img.size(2);
    if (h != t.size || w != t.size) {
        if (std::min(h, w) != t.size) {
            const double s = double(t.size) / double(std::min(h, w));
            const int64_t nh = h <= w ? t.size : int64_t(double(h) * s), nw = h <= w ? int64_t(double(w) * s) : t.size;
            img = resize(img, nh, nw, true).clamp(0, 255);
            h = nh, w = nw;
        }
        const int64_t top = (h - t.size) / 2, left = (w - t.size) / 2;
        img = img.slice(1, top, top + t.size).slice(2, left, left + t.size);
    }
    return img;
}

} // namespace

torch::Tensor trainTransform(const torch::Tensor &hwc, const ImageTransform &t, std::mt19937_64 &rng)
{
    auto img = toFloat(hwc, t);
    if (t.randomResizedCrop) {
        if (t.pad)
            img = padTo(img, t.size);
        const auto [top, left, ch, cw] = randomResizedCropBox(img.size(1), img.size(2), t.cropScaleMin, 1.0, rng);
        img = resize(img.slice(1, top, top + ch).slice(2, left, left + cw), t.size, t.size, false);
    } else {
        img = centerFit(img, t);
    }
    if (t.flip && std::uniform_int_distribution<int>(0, 1)(rng) == 1)
        img = img.flip({2});
    return normalize(img, t);
}

torch::Tensor evalTransform(const torch::Tensor &hwc, const ImageTransform &t)
{
    return normalize(centerFit(toFloat(hwc, t), t), t);
}

} // namespace vitscope::data

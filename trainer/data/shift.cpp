#include "trainer/data/shift.h"

#include <cmath>

#include <ATen/CPUGeneratorImpl.h>

#include "models/error.h"
#include "trainer/data/transforms.h"

namespace vitscope::data {

namespace {

struct ShiftInfo {
    Shift shift;
    const char *name;
    const char *description;
};

constexpr ShiftInfo kShifts[] = {
    {Shift::None, "none", "the test images as they are"},
    {Shift::Inverted, "inverted", "255 - x: dark and light swapped"},
    {Shift::Edges, "edges", "Sobel edge magnitude of the luma, strongest edge white: outlines only"},
    {Shift::Blur, "blur", "Gaussian blur, sigma = 1/20 of the shorter side"},
    {Shift::Noise, "noise", "additive Gaussian noise, standard deviation 50 of 255"},
    {Shift::Rotation, "rotation", "rotated 90 degrees counter-clockwise"},
    {Shift::LowContrast, "low-contrast", "contrast divided by 4 around each channel's mean"},
    {Shift::CutOut, "cut-out", "a centred square of half the side filled with the mean colour"},
};

torch::Tensor toUint8(const torch::Tensor &x)
{
    return x.round().clamp(0, 255).to(torch::kUInt8);
}

// (H, W, C) float with the border replicated by r pixels -> (H + 2r, W + 2r, C).
torch::Tensor padReplicate(const torch::Tensor &hwc, int64_t r)
{
    namespace F = torch::nn::functional;
    auto chw = hwc.permute({2, 0, 1}).unsqueeze(0); // (1, C, H, W)
    auto padded = F::pad(chw, F::PadFuncOptions({r, r, r, r}).mode(torch::kReplicate));
    return padded.squeeze(0).permute({1, 2, 0});
}

// Correlates each channel of (H, W, C) float with a (k, k) kernel, replicated border.
torch::Tensor filter(const torch::Tensor &hwc, const torch::Tensor &kernel)
{
    const int64_t r = kernel.size(0) / 2;
    auto x = padReplicate(hwc, r).permute({2, 0, 1}).unsqueeze(1); // (C, 1, H + 2r, W + 2r)
    auto w = kernel.to(torch::kFloat64).view({1, 1, kernel.size(0), kernel.size(1)});
    auto y = torch::conv2d(x, w); // (C, 1, H, W)
    return y.squeeze(1).permute({1, 2, 0});
}

torch::Tensor edges(const torch::Tensor &x)
{
    const int64_t C = x.size(2);
    auto luma = C == 3 ? (x.select(2, 0) * 0.299 + x.select(2, 1) * 0.587 + x.select(2, 2) * 0.114).unsqueeze(2) : x;
    auto sx = torch::tensor({-1.0, 0.0, 1.0, -2.0, 0.0, 2.0, -1.0, 0.0, 1.0}, torch::kFloat64).view({3, 3});
    auto gx = filter(luma, sx), gy = filter(luma, sx.t().contiguous());
    auto mag = torch::sqrt(gx * gx + gy * gy);
    const double top = mag.max().item<double>();
    auto out = top > 0 ? mag * (255.0 / top) : mag;
    return out.expand({x.size(0), x.size(1), C});
}

torch::Tensor blur(const torch::Tensor &x)
{
    const double sigma = double(std::min(x.size(0), x.size(1))) / 20.0;
    const int64_t r = int64_t(std::ceil(3 * sigma));
    auto d = torch::arange(-r, r + 1, torch::kFloat64);
    auto g = torch::exp(-(d * d) / (2 * sigma * sigma));
    g = g / g.sum();
    return filter(x, torch::outer(g, g));
}

class ShiftedSource : public SampleSource {
public:
    ShiftedSource(std::shared_ptr<const SampleSource> inner, Shift shift, uint64_t seed)
        : m_inner(std::move(inner)), m_shift(shift), m_seed(seed)
    {
    }
    int64_t size() const override { return m_inner->size(); }
    torch::Tensor image(int64_t i) const override { return applyShift(m_inner->image(i), m_shift, m_seed, i); }
    int64_t label(int64_t i) const override { return m_inner->label(i); }
    std::string caption(int64_t i) const override { return m_inner->caption(i); }
    const std::vector<std::string> &classNames() const override { return m_inner->classNames(); }
    std::string describe() const override { return m_inner->describe() + " (" + shiftName(m_shift) + ")"; }

private:
    std::shared_ptr<const SampleSource> m_inner;
    Shift m_shift;
    uint64_t m_seed;
};

} // namespace

std::shared_ptr<SampleSource> shiftedSource(std::shared_ptr<const SampleSource> source, Shift shift, uint64_t seed)
{
    return std::make_shared<ShiftedSource>(std::move(source), shift, seed);
}

std::vector<Shift> allShifts()
{
    std::vector<Shift> out;
    for (const auto &s : kShifts)
        out.push_back(s.shift);
    return out;
}

std::string shiftName(Shift shift)
{
    for (const auto &s : kShifts)
        if (s.shift == shift)
            return s.name;
    return "none";
}

std::string shiftDescription(Shift shift)
{
    for (const auto &s : kShifts)
        if (s.shift == shift)
            return s.description;
    return {};
}

Shift parseShift(const std::string &name)
{
    std::string names;
    for (const auto &s : kShifts) {
        if (name == s.name)
            return s.shift;
        names += std::string(names.empty() ? "" : ", ") + s.name;
    }
    throw Error("unknown shift '" + name + "': expected one of " + names);
}

torch::Tensor applyShift(const torch::Tensor &hwc, Shift shift, uint64_t seed, int64_t index)
{
    if (hwc.dim() != 3 || (hwc.size(2) != 1 && hwc.size(2) != 3) || hwc.scalar_type() != torch::kUInt8)
        throw Error("a shift needs an (H, W, 1 or 3) 8-bit image");
    torch::NoGradGuard noGrad;
    const auto x = hwc.to(torch::kFloat64);
    const int64_t H = hwc.size(0), W = hwc.size(1);
    switch (shift) {
    case Shift::None:
        return hwc.clone();
    case Shift::Inverted:
        return toUint8(255.0 - x);
    case Shift::Edges:
        return toUint8(edges(x));
    case Shift::Blur:
        return toUint8(blur(x));
    case Shift::Noise: {
        auto gen = at::detail::createCPUGenerator(mixSeed({seed, uint64_t(index), 0x6e6f697365ULL}));
        auto noise = at::normal(0.0, 50.0, x.sizes(), gen, torch::TensorOptions().dtype(torch::kFloat64));
        return toUint8(x + noise);
    }
    case Shift::Rotation:
        return torch::rot90(hwc, 1, {0, 1}).contiguous();
    case Shift::LowContrast: {
        auto m = x.mean(std::vector<int64_t>{0, 1}, true);
        return toUint8(m + (x - m) / 4.0);
    }
    case Shift::CutOut: {
        const int64_t side = std::min(H, W) / 2, top = (H - side) / 2, left = (W - side) / 2;
        auto out = x.clone();
        out.slice(0, top, top + side).slice(1, left, left + side).copy_(x.mean(std::vector<int64_t>{0, 1}, true).expand({side, side, x.size(2)}));
        return toUint8(out);
    }
    }
    return hwc.clone();
}

} // namespace vitscope::data

#include "models/masking.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <set>

#include "models/error.h"

namespace vitscope {

MaskStrategy parseMaskStrategy(const std::string &name)
{
    if (name == "random")
        return MaskStrategy::Random;
    if (name == "block")
        return MaskStrategy::Block;
    if (name == "grid")
        return MaskStrategy::Grid;
    if (name == "custom")
        return MaskStrategy::Custom;
    throw Error("unknown mask strategy '" + name + "': expected random, block, grid or custom");
}

std::string maskStrategyName(MaskStrategy s)
{
    switch (s) {
    case MaskStrategy::Random: return "random";
    case MaskStrategy::Block: return "block";
    case MaskStrategy::Grid: return "grid";
    case MaskStrategy::Custom: return "custom";
    }
    return "random";
}

int64_t keepCountFor(int64_t L, double ratio)
{
    return static_cast<int64_t>(std::floor(double(L) * (1.0 - ratio) + 1e-9));
}

namespace {

// BEiT-style block mask for one sample: `removeCount` of the h x w cells set to 1.
std::vector<std::uint8_t> blockMask(int64_t h, int64_t w, int64_t removeCount, std::mt19937_64 &rng)
{
    const int64_t L = h * w;
    std::vector<std::uint8_t> m(static_cast<std::size_t>(L), 0);
    int64_t removed = 0;
    const int64_t minArea = std::max<int64_t>(1, std::min<int64_t>(16, L / 16));
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const double logLo = std::log(0.3), logHi = std::log(1.0 / 0.3);
    int failures = 0;
    while (removed < removeCount) {
        const int64_t remaining = removeCount - removed;
        const int64_t lo = std::min(minArea, remaining);
        const double area = lo + unit(rng) * double(remaining - lo);
        const double aspect = std::exp(logLo + unit(rng) * (logHi - logLo));
        const int64_t bh = std::clamp<int64_t>(std::llround(std::sqrt(area * aspect)), 1, h);
        const int64_t bw = std::clamp<int64_t>(std::llround(std::sqrt(area / aspect)), 1, w);
        const int64_t top = std::uniform_int_distribution<int64_t>(0, h - bh)(rng);
        const int64_t left = std::uniform_int_distribution<int64_t>(0, w - bw)(rng);
        int64_t added = 0;
        // Raster order inside the rectangle: a cut-short rectangle stays one piece.
        for (int64_t r = top; r < top + bh && removed < removeCount; ++r)
            for (int64_t c = left; c < left + bw && removed < removeCount; ++c) {
                auto &cell = m[static_cast<std::size_t>(r * w + c)];
                if (!cell) {
                    cell = 1;
                    ++removed;
                    ++added;
                }
            }
        if (added == 0 && ++failures > 1000) {
            // Practically unreachable; guarantees termination: remove the first kept cell.
            for (auto &cell : m)
                if (!cell) {
                    cell = 1;
                    ++removed;
                    break;
                }
        }
    }
    return m;
}

} // namespace

Masking maskingFromMask(const torch::Tensor &maskIn)
{
    TORCH_CHECK(maskIn.dim() == 2, "mask must be (B, L), got ", maskIn.sizes());
    if (maskIn.size(0) < 1 || maskIn.size(1) < 1)
        throw Error("a mask needs at least one sample and one patch");
    auto mask = maskIn.to(torch::kFloat32);
    const int64_t L = mask.size(1);
    auto removedPerRow = mask.sum(1);
    const int64_t removed = static_cast<int64_t>(removedPerRow[0].item<float>());
    if (!torch::all(removedPerRow == double(removed)).item<bool>())
        throw Error("masks in one batch must remove the same number of patches");
    // Kept first, each group in original order: sort key = mask * L + index (stable, exact).
    auto index = torch::arange(L, torch::TensorOptions().dtype(torch::kFloat64).device(mask.device()));
    auto key = mask.to(torch::kFloat64) * double(L) + index.unsqueeze(0);
    Masking m;
    m.idsShuffle = std::get<1>(key.sort(1));
    m.idsRestore = m.idsShuffle.argsort(/*dim=*/1, /*descending=*/false);
    m.keepCount = L - removed;
    m.idsKeep = m.idsShuffle.narrow(1, 0, m.keepCount);
    m.mask = mask.contiguous();
    return m;
}

Masking makeMasking(const MaskSpec &spec, int64_t batch, int64_t gridH, int64_t gridW, torch::Device device)
{
    if (batch < 1 || gridH < 1 || gridW < 1)
        throw Error("makeMasking: batch and grid must be positive");
    const int64_t L = gridH * gridW;
    if (spec.strategy != MaskStrategy::Grid && spec.strategy != MaskStrategy::Custom &&
        !(spec.ratio >= 0.0 && spec.ratio <= 0.95))
        throw Error("mask ratio " + std::to_string(spec.ratio) + " is outside [0, 0.95]");

    if (spec.strategy == MaskStrategy::Random) {
        // The paper's algorithm exactly: argsort of uniform noise, small noise kept.
        auto gen = at::make_generator<at::CPUGeneratorImpl>(spec.seed);
        auto noise = at::rand({batch, L}, gen, torch::TensorOptions().dtype(torch::kFloat32)); // (B, L)
        Masking m;
        m.keepCount = keepCountFor(L, spec.ratio);
        m.idsShuffle = noise.argsort(/*dim=*/1, /*descending=*/false).to(device, /*non_blocking=*/true);
        m.idsRestore = m.idsShuffle.argsort(/*dim=*/1, /*descending=*/false);
        m.idsKeep = m.idsShuffle.narrow(1, 0, m.keepCount);
        auto mask = torch::ones({batch, L}, torch::TensorOptions().device(device));
        mask.narrow(1, 0, m.keepCount).zero_();
        m.mask = torch::gather(mask, 1, m.idsRestore); // back to the original patch order
        return m;
    }

    auto mask = torch::zeros({batch, L}, torch::kFloat32); // CPU, filled below
    auto acc = mask.accessor<float, 2>();
    std::mt19937_64 rng(spec.seed ^ 0x9e3779b97f4a7c15ull);
    switch (spec.strategy) {
    case MaskStrategy::Block: {
        const int64_t removeCount = L - keepCountFor(L, spec.ratio);
        for (int64_t b = 0; b < batch; ++b) {
            const auto cells = blockMask(gridH, gridW, removeCount, rng);
            for (int64_t i = 0; i < L; ++i)
                acc[b][i] = cells[static_cast<std::size_t>(i)];
        }
        break;
    }
    case MaskStrategy::Grid: {
        const int64_t k = spec.gridCell;
        if (k < 1 || k > std::max(gridH, gridW))
            throw Error("grid cell " + std::to_string(k) + " must be in 1.." + std::to_string(std::max(gridH, gridW)));
        // One offset per sample. When k does not divide the grid, offsets are limited so
        // that every sample keeps the same number of patches (the encoder batches them).
        const int64_t offH = gridH % k == 0 ? k : gridH % k;
        const int64_t offW = gridW % k == 0 ? k : gridW % k;
        std::uniform_int_distribution<int64_t> dh(0, offH - 1), dw(0, offW - 1);
        for (int64_t b = 0; b < batch; ++b) {
            const int64_t oh = dh(rng), ow = dw(rng);
            for (int64_t r = 0; r < gridH; ++r)
                for (int64_t c = 0; c < gridW; ++c)
                    acc[b][r * gridW + c] = (r % k == oh && c % k == ow) ? 0.0f : 1.0f;
        }
        break;
    }
    case MaskStrategy::Custom: {
        std::set<int64_t> seen;
        for (int64_t i : spec.keep) {
            if (i < 0 || i >= L)
                throw Error("kept patch index " + std::to_string(i) + " is outside 0.." + std::to_string(L - 1));
            if (!seen.insert(i).second)
                throw Error("kept patch index " + std::to_string(i) + " is given twice");
        }
        mask.fill_(1.0f);
        for (int64_t b = 0; b < batch; ++b)
            for (int64_t i : spec.keep)
                acc[b][i] = 0.0f;
        break;
    }
    case MaskStrategy::Random: break;
    }
    // Sorted where the mask was built (CPU), then moved without waiting for the device.
    Masking m = maskingFromMask(mask);
    m.idsShuffle = m.idsShuffle.to(device, /*non_blocking=*/true);
    m.idsRestore = m.idsRestore.to(device, /*non_blocking=*/true);
    m.idsKeep = m.idsKeep.to(device, /*non_blocking=*/true);
    m.mask = m.mask.to(device, /*non_blocking=*/true);
    return m;
}

} // namespace vitscope

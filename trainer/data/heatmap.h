#pragma once
// Heat maps over a patch grid as plain data (no LibTorch, no Qt, no OpenCV): the CLI's
// PNGs and the GUI's overlays colour patches the same way.

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "trainer/data/rgb_image.h"

namespace vitscope::data {

// Perceptually ordered colour map (viridis' end points and three inner stops, linearly
// interpolated): t in [0, 1] -> dark violet .. yellow.
inline std::array<std::uint8_t, 3> heatColor(double t)
{
    static const double stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
    t = std::clamp(std::isfinite(t) ? t : 0.0, 0.0, 1.0) * 4.0;
    const int i = std::min(3, int(t));
    const double f = t - i;
    std::array<std::uint8_t, 3> c{};
    for (int k = 0; k < 3; ++k)
        c[k] = std::uint8_t(std::lround(stops[i][k] + (stops[i + 1][k] - stops[i][k]) * f));
    return c;
}

// Scales the finite values of a grid to [0, 1] (min to max); NaN stays NaN. A constant
// grid becomes 0.5 everywhere.
inline std::vector<float> normalizeGrid(const std::vector<float> &values)
{
    float lo = INFINITY, hi = -INFINITY;
    for (float v : values)
        if (std::isfinite(v))
            lo = std::min(lo, v), hi = std::max(hi, v);
    std::vector<float> out(values.size(), NAN);
    for (size_t i = 0; i < values.size(); ++i)
        if (std::isfinite(values[i]))
            out[i] = hi > lo ? (values[i] - lo) / (hi - lo) : 0.5f;
    return out;
}

// `values` (grid x grid, row-major, NaN: the patch has no token) over `base` (any size):
// each pixel is the base image's grey level blended with its patch's colour; patches
// without a value are drawn dark and hatched. The values are normalized min to max.
// alpha 0 keeps the image's colours (only the hatching is drawn).
inline RgbImage overlayHeatmap(const RgbImage &base, const std::vector<float> &values, int grid, double alpha = 0.6)
{
    const auto norm = normalizeGrid(values);
    RgbImage out = base;
    for (int y = 0; y < base.height; ++y)
        for (int x = 0; x < base.width; ++x) {
            const int row = std::min(grid - 1, y * grid / std::max(1, base.height));
            const int col = std::min(grid - 1, x * grid / std::max(1, base.width));
            const float v = norm[size_t(row * grid + col)];
            std::uint8_t *px = &out.rgb[size_t(y * base.width + x) * 3];
            const double g = 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2];
            if (!std::isfinite(v)) {
                const std::uint8_t shade = ((x + y) / 3) % 2 ? 40 : 70;
                px[0] = px[1] = px[2] = shade;
                continue;
            }
            if (alpha <= 0)
                continue; // the image itself, only the patches without a value hatched
            const auto c = heatColor(v);
            for (int k = 0; k < 3; ++k)
                px[k] = std::uint8_t(std::lround((1 - alpha) * g + alpha * c[k]));
        }
    return out;
}

// Ten distinct colours for classes (Tableau's categorical palette), cycled beyond ten.
inline std::array<std::uint8_t, 3> classColor(int index)
{
    static const std::uint8_t palette[10][3] = {{31, 119, 180}, {255, 127, 14}, {44, 160, 44}, {214, 39, 40},
                                                {148, 103, 189}, {140, 86, 75},  {227, 119, 194}, {127, 127, 127},
                                                {188, 189, 34},  {23, 190, 207}};
    const auto *p = palette[((index % 10) + 10) % 10];
    return {p[0], p[1], p[2]};
}

} // namespace vitscope::data

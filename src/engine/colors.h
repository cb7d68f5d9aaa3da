#pragma once
// The colours both front ends paint with, so the app's overlays and the CLI's PNGs agree:
// the heat-map colour map and the class palette (their one definition is the data
// library's trainer/data/heatmap.h; the GUI reaches it through the engine). Pure and
// thread-safe.

#include <array>
#include <cstdint>

namespace vitscope::engine {

using Rgb8 = std::array<std::uint8_t, 3>;

// t in [0, 1] -> dark violet .. yellow (viridis' end points and three inner stops);
// NaN and values outside [0, 1] are clamped.
Rgb8 heatColor(double t);

// Ten distinct colours for classes (Tableau's categorical palette), cycled beyond ten.
Rgb8 classColor(int index);

} // namespace vitscope::engine

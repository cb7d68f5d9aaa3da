#pragma once
// Charts written as PNG files by the CLI (OpenCV drawing): the embedding map and the
// robustness bars. The app draws the same data with QCustomPlot.

#include <string>
#include <vector>

#include "trainer/data/rgb_image.h"

namespace vitscope::data {

struct ScatterPoint {
    double x = 0, y = 0;
    int colorIndex = 0;  // class colour (heatmap.h classColor); -1: grey
    bool text = false;   // a text embedding: drawn as a larger outlined diamond
    std::string label;   // written next to text points
};

// A square scatter plot with axes labelled `xLabel`, `yLabel`, a title and a legend of
// class names (colour index i -> legend[i]).
RgbImage scatterPlot(const std::vector<ScatterPoint> &points, const std::string &title, const std::string &xLabel,
                     const std::string &yLabel, const std::vector<std::string> &legend, int size = 900);

struct BarGroup {
    std::string label;          // e.g. "blur"
    std::vector<double> values; // one per series, in [0, 1]
};

// Grouped bars (accuracy per shift, one bar per series), with the series' names in a legend.
RgbImage barChart(const std::vector<BarGroup> &groups, const std::vector<std::string> &series, const std::string &title,
                  int width = 1100, int height = 520);

} // namespace vitscope::data

#include "trainer/data/plots.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#ifdef VITSCOPE_HAVE_OPENCV
#include <opencv2/imgproc.hpp>
#endif

#include "models/error.h"
#include "trainer/data/heatmap.h"

namespace vitscope::data {

#ifndef VITSCOPE_HAVE_OPENCV

RgbImage scatterPlot(const std::vector<ScatterPoint> &, const std::string &, const std::string &, const std::string &,
                     const std::vector<std::string> &, int)
{
    throw Error("drawing charts needs OpenCV; this build has none");
}

RgbImage barChart(const std::vector<BarGroup> &, const std::vector<std::string> &, const std::string &, int, int)
{
    throw Error("drawing charts needs OpenCV; this build has none");
}

#else

namespace {

cv::Scalar rgb(const std::array<std::uint8_t, 3> &c)
{
    return cv::Scalar(c[0], c[1], c[2]);
}

const cv::Scalar kInk(40, 40, 40), kGrid(225, 225, 225), kGreyPoint(150, 150, 150);

void text(cv::Mat &m, const std::string &s, cv::Point at, double scale = 0.5, const cv::Scalar &color = kInk)
{
    cv::putText(m, s, at, cv::FONT_HERSHEY_SIMPLEX, scale, color, 1, cv::LINE_AA);
}

RgbImage toRgbImage(const cv::Mat &m)
{
    RgbImage out;
    out.width = m.cols, out.height = m.rows;
    out.rgb.assign(m.data, m.data + m.total() * 3); // drawn in RGB order already
    return out;
}

std::string shortNumber(double v)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2g", v);
    return buf;
}

} // namespace

RgbImage scatterPlot(const std::vector<ScatterPoint> &points, const std::string &title, const std::string &xLabel,
                     const std::string &yLabel, const std::vector<std::string> &legend, int size)
{
    const int left = 70, top = 50, legendWidth = 190, plot = size - left - 40;
    cv::Mat m(size, size + legendWidth, CV_8UC3, cv::Scalar(255, 255, 255));
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (const auto &p : points)
        x0 = std::min(x0, p.x), x1 = std::max(x1, p.x), y0 = std::min(y0, p.y), y1 = std::max(y1, p.y);
    if (points.empty())
        x0 = y0 = -1, x1 = y1 = 1;
    // Equal scales on both axes (distances in the map are distances in the data).
    const double span = std::max({x1 - x0, y1 - y0, 1e-9}) * 1.08;
    const double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
    auto px = [&](double x, double y) {
        return cv::Point(left + int((x - cx) / span * plot + plot / 2.0), top + int((cy - y) / span * plot + plot / 2.0));
    };
    cv::rectangle(m, cv::Point(left, top), cv::Point(left + plot, top + plot), kInk, 1);
    for (int i = 1; i < 4; ++i) {
        cv::line(m, cv::Point(left + plot * i / 4, top + 1), cv::Point(left + plot * i / 4, top + plot - 1), kGrid, 1);
        cv::line(m, cv::Point(left + 1, top + plot * i / 4), cv::Point(left + plot - 1, top + plot * i / 4), kGrid, 1);
    }
    text(m, shortNumber(cx - span / 2), cv::Point(left - 10, top + plot + 18), 0.4);
    text(m, shortNumber(cx + span / 2), cv::Point(left + plot - 30, top + plot + 18), 0.4);
    text(m, xLabel, cv::Point(left + plot / 2 - 4 * int(xLabel.size()), top + plot + 38), 0.5);
    text(m, yLabel, cv::Point(8, top + plot / 2), 0.5);
    text(m, title, cv::Point(left, 30), 0.6);
    for (const auto &p : points)
        if (!p.text)
            cv::circle(m, px(p.x, p.y), 3, p.colorIndex < 0 ? kGreyPoint : rgb(classColor(p.colorIndex)), cv::FILLED,
                       cv::LINE_AA);
    for (const auto &p : points) // text embeddings on top
        if (p.text) {
            const auto c = px(p.x, p.y);
            std::vector<cv::Point> diamond = {c + cv::Point(0, -9), c + cv::Point(9, 0), c + cv::Point(0, 9),
                                              c + cv::Point(-9, 0)};
            cv::fillConvexPoly(m, diamond, p.colorIndex < 0 ? kGreyPoint : rgb(classColor(p.colorIndex)), cv::LINE_AA);
            cv::polylines(m, diamond, true, kInk, 1, cv::LINE_AA);
            if (!p.label.empty())
                text(m, p.label, c + cv::Point(11, 4), 0.45);
        }
    for (size_t i = 0; i < legend.size(); ++i) {
        const cv::Point at(size + 10, top + 10 + int(i) * 22);
        cv::circle(m, at, 6, rgb(classColor(int(i))), cv::FILLED, cv::LINE_AA);
        text(m, legend[i], at + cv::Point(14, 5), 0.45);
    }
    const int ly = top + 20 + int(legend.size()) * 22;
    std::vector<cv::Point> diamond = {cv::Point(size + 10, ly - 7), cv::Point(size + 17, ly), cv::Point(size + 10, ly + 7),
                                      cv::Point(size + 3, ly)};
    cv::polylines(m, diamond, true, kInk, 1, cv::LINE_AA);
    text(m, "text embedding", cv::Point(size + 24, ly + 5), 0.45);
    return toRgbImage(m);
}

RgbImage barChart(const std::vector<BarGroup> &groups, const std::vector<std::string> &series, const std::string &title,
                  int width, int height)
{
    const int left = 60, right = 20, top = 70, bottom = 60;
    const int plotW = width - left - right, plotH = height - top - bottom;
    cv::Mat m(height, width, CV_8UC3, cv::Scalar(255, 255, 255));
    text(m, title, cv::Point(left, 28), 0.6);
    for (int i = 0; i <= 4; ++i) {
        const int y = top + plotH - plotH * i / 4;
        cv::line(m, cv::Point(left, y), cv::Point(left + plotW, y), i == 0 ? kInk : kGrid, 1);
        text(m, std::to_string(25 * i) + "%", cv::Point(12, y + 5), 0.45);
    }
    const int n = std::max<int>(1, int(groups.size()));
    const int slot = plotW / n, s = std::max<int>(1, int(series.size()));
    const int barW = std::max(4, (slot - 16) / s);
    for (int g = 0; g < int(groups.size()); ++g) {
        const int x0 = left + g * slot + (slot - barW * s) / 2;
        for (int k = 0; k < int(groups[g].values.size()) && k < s; ++k) {
            const double v = std::clamp(groups[g].values[k], 0.0, 1.0);
            const int h = int(v * plotH);
            cv::rectangle(m, cv::Point(x0 + k * barW, top + plotH - h), cv::Point(x0 + (k + 1) * barW - 2, top + plotH),
                          rgb(classColor(k)), cv::FILLED);
            text(m, std::to_string(int(std::lround(v * 100))), cv::Point(x0 + k * barW, top + plotH - h - 4), 0.38);
        }
        text(m, groups[g].label, cv::Point(left + g * slot + 4, top + plotH + 22), 0.45);
    }
    for (int k = 0; k < s; ++k) {
        const cv::Point at(width - right - 470 + k * 200, 48);
        cv::rectangle(m, at + cv::Point(0, -10), at + cv::Point(14, 2), rgb(classColor(k)), cv::FILLED);
        text(m, series[k], at + cv::Point(20, 0), 0.45);
    }
    return toRgbImage(m);
}

#endif

} // namespace vitscope::data

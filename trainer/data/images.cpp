#include "trainer/data/images.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <filesystem>
#include <set>

#ifdef VITSCOPE_HAVE_OPENCV
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#endif

#include "models/error.h"

namespace vitscope::data {

#ifndef VITSCOPE_HAVE_OPENCV
// A headless build without OpenCV (-DVITSCOPE_WITH_OPENCV=OFF, e.g. on a GPU machine with no
// package access): Fashion-MNIST works, image files are refused with this message.
static const char *kNoOpenCv = "this build has no image decoder (configured with VITSCOPE_WITH_OPENCV=OFF)";
#endif

RgbImage loadImageRgb(const std::string &path)
{
    if (!std::filesystem::exists(path))
        throw FileError(path, "missing");
#ifndef VITSCOPE_HAVE_OPENCV
    throw FileError(path, kNoOpenCv);
#else
    cv::Mat m;
    try {
        m = cv::imread(path, cv::IMREAD_UNCHANGED);
    } catch (const cv::Exception &e) {
        throw FileError(path, std::string("cannot decode image: ") + e.what());
    }
    if (m.empty())
        throw FileError(path, "not an image this build can read (PNG, JPEG, BMP, WebP, TIFF, ...)");
    if (m.depth() == CV_16U)
        m.convertTo(m, CV_8U, 1.0 / 257.0);
    else if (m.depth() != CV_8U) {
        double lo, hi;
        cv::minMaxLoc(m.reshape(1), &lo, &hi);
        m.convertTo(m, CV_8U, hi > lo ? 255.0 / (hi - lo) : 1.0, hi > lo ? -lo * 255.0 / (hi - lo) : 0.0);
    }
    cv::Mat rgb;
    switch (m.channels()) {
    case 1: cv::cvtColor(m, rgb, cv::COLOR_GRAY2RGB); break;
    case 3: cv::cvtColor(m, rgb, cv::COLOR_BGR2RGB); break;
    case 4: cv::cvtColor(m, rgb, cv::COLOR_BGRA2RGB); break;
    default: throw FileError(path, "unsupported channel count " + std::to_string(m.channels()));
    }
    RgbImage out;
    out.width = rgb.cols;
    out.height = rgb.rows;
    out.rgb.resize(static_cast<std::size_t>(rgb.cols) * rgb.rows * 3);
    for (int y = 0; y < rgb.rows; ++y)
        std::memcpy(out.rgb.data() + static_cast<std::size_t>(y) * rgb.cols * 3, rgb.ptr(y),
                    static_cast<std::size_t>(rgb.cols) * 3);
    return out;
#endif
}

torch::Tensor rgbToTensor(const RgbImage &image)
{
    if (image.width <= 0 || image.height <= 0 ||
        image.rgb.size() != static_cast<std::size_t>(image.width) * std::size_t(image.height) * 3)
        throw Error("rgbToTensor: image buffer does not match its size");
    return torch::from_blob(const_cast<std::uint8_t *>(image.rgb.data()), {image.height, image.width, 3}, torch::kByte)
        .clone();
}

std::vector<std::string> listImageFiles(const std::string &dir, bool recursive)
{
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        throw FileError(dir, fs::exists(dir) ? "not a folder" : "missing");
    static const std::set<std::string> exts = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff"};
    std::vector<std::string> files;
    auto consider = [&](const fs::directory_entry &e) {
        std::error_code fe;
        if (!e.is_regular_file(fe))
            return;
        std::string ext = e.path().extension().string();
        for (auto &ch : ext)
            ch = char(std::tolower(static_cast<unsigned char>(ch)));
        if (exts.count(ext))
            files.push_back(e.path().string());
    };
    try {
        if (recursive)
            for (const auto &e : fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied))
                consider(e);
        else
            for (const auto &e : fs::directory_iterator(dir))
                consider(e);
    } catch (const fs::filesystem_error &e) {
        throw FileError(dir, std::string("cannot list: ") + e.code().message());
    }
    std::sort(files.begin(), files.end());
    return files;
}

void saveImageRgb(const std::string &path, const RgbImage &image)
{
#ifndef VITSCOPE_HAVE_OPENCV
    (void)image;
    throw FileError(path, kNoOpenCv);
#else
    cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<std::uint8_t *>(image.rgb.data()));
    cv::Mat bgr;
    cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
    bool ok = false;
    try {
        ok = cv::imwrite(path, bgr);
    } catch (const cv::Exception &e) {
        throw FileError(path, std::string("cannot write image: ") + e.what());
    }
    if (!ok)
        throw FileError(path, "cannot write image (unknown extension or unwritable folder)");
#endif
}

RgbImage normalizedToRgb(const torch::Tensor &chw, const std::vector<float> &mean, const std::vector<float> &stdev)
{
    TORCH_CHECK(chw.dim() == 3 && int64_t(mean.size()) == chw.size(0) && int64_t(stdev.size()) == chw.size(0),
                "normalizedToRgb expects (C, H, W) with C means and stds");
    const int64_t C = chw.size(0);
    auto m = torch::tensor(mean, torch::kFloat32).view({C, 1, 1});
    auto s = torch::tensor(stdev, torch::kFloat32).view({C, 1, 1});
    return tensorToRgb(chw.detach().to(torch::kCPU, torch::kFloat32) * s + m);
}

RgbImage tensorToRgb(const torch::Tensor &chw)
{
    TORCH_CHECK(chw.dim() == 3 && (chw.size(0) == 1 || chw.size(0) == 3), "tensorToRgb expects (1|3, H, W)");
    auto t = chw.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1).mul(255).round().to(torch::kUInt8);
    if (t.size(0) == 1)
        t = t.expand({3, t.size(1), t.size(2)});
    t = t.permute({1, 2, 0}).contiguous();
    RgbImage out;
    out.height = int(t.size(0));
    out.width = int(t.size(1));
    out.rgb.assign(t.data_ptr<std::uint8_t>(), t.data_ptr<std::uint8_t>() + t.numel());
    return out;
}

RgbImage hconcat(const std::vector<RgbImage> &images, int gap, std::uint8_t background)
{
    RgbImage out;
    for (const auto &im : images) {
        out.width += im.width;
        out.height = std::max(out.height, im.height);
    }
    out.width += gap * std::max<int>(0, int(images.size()) - 1);
    out.rgb.assign(static_cast<std::size_t>(out.width) * out.height * 3, background);
    int x0 = 0;
    for (const auto &im : images) {
        for (int y = 0; y < im.height; ++y)
            std::memcpy(out.rgb.data() + (static_cast<std::size_t>(y) * out.width + x0) * 3,
                        im.rgb.data() + static_cast<std::size_t>(y) * im.width * 3, static_cast<std::size_t>(im.width) * 3);
        x0 += im.width + gap;
    }
    return out;
}

RgbImage scaleNearest(const RgbImage &image, int f)
{
    RgbImage out;
    out.width = image.width * f;
    out.height = image.height * f;
    out.rgb.resize(static_cast<std::size_t>(out.width) * out.height * 3);
    for (int y = 0; y < out.height; ++y)
        for (int x = 0; x < out.width; ++x)
            for (int c = 0; c < 3; ++c)
                out.rgb[(static_cast<std::size_t>(y) * out.width + x) * 3 + c] =
                    image.rgb[(static_cast<std::size_t>(y / f) * image.width + x / f) * 3 + c];
    return out;
}

} // namespace vitscope::data

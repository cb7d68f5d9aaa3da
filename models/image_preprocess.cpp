#include "models/image_preprocess.h"

#include <string>

#include "models/error.h"
#include "models/json_io.h"

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

using nlohmann::json;

ImageProcessorConfig ImageProcessorConfig::clip(int64_t imageSize, int64_t channels)
{
    ImageProcessorConfig c;
    c.size = c.cropSize = imageSize;
    c.doCenterCrop = true;
    c.processorType = "CLIPImageProcessor";
    if (channels == 1) {
        // The luma of OpenAI's RGB mean and std (ITU-R 601 weights).
        c.imageMean = {0.299f * 0.48145466f + 0.587f * 0.4578275f + 0.114f * 0.40821073f};
        c.imageStd = {0.299f * 0.26862954f + 0.587f * 0.26130258f + 0.114f * 0.27577711f};
    } else {
        c.imageMean = {0.48145466f, 0.4578275f, 0.40821073f};
        c.imageStd = {0.26862954f, 0.26130258f, 0.27577711f};
    }
    return c;
}

json ImageProcessorConfig::toJson() const
{
    json j = jsonWithoutExtensions();
    if (padSmaller)
        j["vitscope_pad_smaller"] = true;
    return j;
}

json ImageProcessorConfig::jsonWithoutExtensions() const
{
    if (doCenterCrop)
        return json{{"image_processor_type", processorType},
                    {"do_resize", true},
                    {"size", {{"shortest_edge", size}}},
                    {"do_center_crop", true},
                    {"crop_size", {{"height", cropSize}, {"width", cropSize}}},
                    {"resample", resample},
                    {"do_normalize", doNormalize},
                    {"image_mean", imageMean},
                    {"image_std", imageStd},
                    {"do_rescale", true},
                    {"rescale_factor", 1.0 / 255.0},
                    {"do_convert_rgb", true}};
    return json{{"image_processor_type", processorType},
                {"do_resize", true},
                {"size", {{"height", size}, {"width", size}}},
                {"resample", resample},
                {"do_normalize", doNormalize},
                {"image_mean", imageMean},
                {"image_std", imageStd},
                {"do_rescale", true},
                {"rescale_factor", 1.0 / 255.0}};
}

ImageProcessorConfig ImageProcessorConfig::fromJson(const json &j, const std::string &source)
{
    ImageProcessorConfig c;
    try {
        auto readSize = [&](const json &s) -> int64_t {
            int64_t value = 0;
            if (s.is_number()) {
                readJsonValue(s, value, source, "size");
                return value;
            }
            if (s.is_object() && s.contains("shortest_edge")) {
                readJsonValue(s["shortest_edge"], value, source, "shortest_edge");
                return value;
            }
            if (s.is_object() && s.contains("height")) {
                if (s.contains("width") && s["width"] != s["height"])
                    throw FileError(source, "non-square size " + s.dump() + " is not supported");
                readJsonValue(s["height"], value, source, "height");
                return value;
            }
            throw FileError(source, "cannot read size " + s.dump());
        };
        if (j.contains("size"))
            c.size = readSize(j["size"]);
        c.cropSize = j.contains("crop_size") ? readSize(j["crop_size"]) : c.size;
        c.doCenterCrop = j.contains("crop_size");
        readJsonField(j, "do_center_crop", c.doCenterCrop, source);
        readJsonField(j, "image_mean", c.imageMean, source);
        readJsonField(j, "image_std", c.imageStd, source);
        readJsonField(j, "do_normalize", c.doNormalize, source);
        readJsonField(j, "vitscope_pad_smaller", c.padSmaller, source);
        readJsonField(j, "resample", c.resample, source);
        if (j.contains("image_processor_type"))
            c.processorType = j["image_processor_type"].get<std::string>();
        else if (j.contains("feature_extractor_type"))
            c.processorType = j["feature_extractor_type"].get<std::string>();
    } catch (const json::exception &e) {
        throw FileError(source, std::string("unexpected field type: ") + e.what());
    }
    if (c.size <= 0 || c.cropSize <= 0 || c.size > 8192 || c.cropSize > 8192)
        throw FileError(source, "image size " + std::to_string(c.size) + " is outside 1..8192");
    if (c.imageMean.size() != c.imageStd.size() || c.imageMean.empty())
        throw FileError(source, "image_mean and image_std must have one value per channel");
    for (float s : c.imageStd)
        if (!(s > 0))
            throw FileError(source, "image_std values must be positive");
    return c;
}

} // namespace vitscope

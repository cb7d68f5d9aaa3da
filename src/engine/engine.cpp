#include "src/engine/engine.h"

#include <ctime>
#include <filesystem>

#include "models/runtime/allocator.h"
#include "models/runtime/device.h"
#include "models/error.h"
#include "models/runtime/data_files.h"
#include "trainer/data/datasets.h"
#include "vitscope/version.h"

namespace vitscope::engine {

BuildInfo buildInfo()
{
    BuildInfo info;
    info.version = VITSCOPE_VERSION;
    info.torchVersion = torchVersion();
    info.torchCuda = torchHasCuda();
    info.device = deviceDescription();
    return info;
}

std::string prepareProcess()
{
    return configureAllocator().description;
}

std::string defaultFashionMnistDir()
{
    return data::resolveFashionMnistDir("");
}

SampleGrid loadFashionMnistSamples(const std::string &dir, int perClass)
{
    if (perClass <= 0)
        throw Error("loadFashionMnistSamples: perClass must be positive, got " + std::to_string(perClass));
    const data::ImageSet set = data::loadFashionMnist(data::resolveFashionMnistDir(dir), data::Split::Test);

    SampleGrid grid;
    grid.source = set.source;
    grid.classNames = set.classNames;
    const auto classes = grid.classNames.size();
    std::vector<std::vector<std::int64_t>> picked(classes);
    for (std::int64_t i = 0; i < set.count; ++i) {
        auto &bucket = picked[static_cast<std::size_t>(set.labels[static_cast<std::size_t>(i)])];
        if (static_cast<int>(bucket.size()) < perClass)
            bucket.push_back(i);
    }
    for (std::size_t c = 0; c < classes; ++c) {
        for (std::int64_t i : picked[c]) {
            LabeledImage item;
            item.index = i;
            item.label = static_cast<int>(c);
            item.className = grid.classNames[c];
            item.image.width = static_cast<int>(set.width);
            item.image.height = static_cast<int>(set.height);
            item.image.rgb.resize(static_cast<std::size_t>(set.width * set.height * 3));
            const std::uint8_t *src = set.image(i);
            for (std::int64_t p = 0; p < set.width * set.height; ++p) {
                const std::uint8_t v = src[p]; // Fashion-MNIST is grey: one channel
                item.image.rgb[3 * p] = item.image.rgb[3 * p + 1] = item.image.rgb[3 * p + 2] = v;
            }
            grid.samples.push_back(std::move(item));
        }
    }
    return grid;
}

std::string experimentsDir()
{
    namespace fs = std::filesystem;
    std::error_code ec;
    for (const auto &d : dataDirs())
        if (fs::is_directory(fs::path(d) / "experiments", ec))
            return (fs::path(d) / "experiments").string();
    const fs::path source = fs::path(VITSCOPE_SOURCE_DOCS_DIR) / "experiments";
    return fs::is_directory(source, ec) ? source.string() : std::string();
}

std::string newRunDir(const std::string &parent, const std::string &kind)
{
    namespace fs = std::filesystem;
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
    const std::string base = (fs::path(parent) / (kind + "-" + stamp)).string();
    std::string dir = base;
    std::error_code ec;
    for (int n = 2; fs::exists(dir, ec); ++n)
        dir = base + "-" + std::to_string(n);
    return dir;
}

} // namespace vitscope::engine

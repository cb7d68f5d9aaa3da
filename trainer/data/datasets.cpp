#include "trainer/data/datasets.h"

#include <cstdlib>
#include <filesystem>

#include "models/error.h"
#include "trainer/data/idx.h"
#include "vitscope/version.h"

namespace fs = std::filesystem;

namespace vitscope::data {

const char *splitName(Split split)
{
    return split == Split::Train ? "train" : "test";
}

const std::vector<std::string> &fashionMnistClassNames()
{
    static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                   "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    return names;
}

std::string resolveFashionMnistDir(const std::string &spec)
{
    if (!spec.empty() && spec != "fashion-mnist")
        return spec;
    if (const char *env = std::getenv("VITSCOPE_FASHION_MNIST_DIR"); env && *env)
        return env;
    return VITSCOPE_DEFAULT_FASHION_MNIST_DIR;
}

IdxPair fashionMnistFiles(const std::string &dir, Split split)
{
    const std::string prefix = split == Split::Train ? "train" : "t10k";
    auto pick = [&](const std::string &stem) {
        for (const std::string &name : {stem + ".gz", stem}) {
            const fs::path p = fs::path(dir) / name;
            if (fs::exists(p))
                return p.string();
        }
        const std::string hint = dir == VITSCOPE_DEFAULT_FASHION_MNIST_DIR
                                     ? " (install Debian's dataset-fashion-mnist: packaging/install-deps.sh)"
                                     : "";
        throw FileError((fs::path(dir) / (stem + ".gz")).string(),
                        "missing: expected the Fashion-MNIST " + std::string(splitName(split)) + " split here" + hint);
    };
    return {pick(prefix + "-images-idx3-ubyte"), pick(prefix + "-labels-idx1-ubyte")};
}

ImageSet loadFashionMnist(const std::string &dir, Split split)
{
    const IdxPair files = fashionMnistFiles(dir, split);
    IdxArray images = readIdx(files.images);
    if (images.dims.size() != 3)
        throw FileError(files.images, "expected 3 dimensions (count, height, width), found " +
                                          std::to_string(images.dims.size()) + ": is this a labels file?");
    IdxArray labels = readIdx(files.labels);
    if (labels.dims.size() != 1)
        throw FileError(files.labels, "expected 1 dimension (count), found " + std::to_string(labels.dims.size()) +
                                          ": is this an images file?");
    if (images.count() != labels.count())
        throw FileError(files.labels, "count mismatch: " + std::to_string(labels.count()) + " labels for " +
                                          std::to_string(images.count()) + " images in " + files.images);

    ImageSet set;
    set.source = dir;
    set.count = images.count();
    set.height = images.dims[1];
    set.width = images.dims[2];
    set.channels = 1;
    set.pixels = std::move(images.values);
    set.classNames = fashionMnistClassNames();
    set.labels.reserve(static_cast<std::size_t>(set.count));
    const auto classes = static_cast<std::int64_t>(set.classNames.size());
    for (std::int64_t i = 0; i < set.count; ++i) {
        const std::int64_t label = labels.values[static_cast<std::size_t>(i)];
        if (label >= classes)
            throw FileError(files.labels, "label " + std::to_string(label) + " at index " + std::to_string(i) +
                                              " is outside the class range 0.." + std::to_string(classes - 1));
        set.labels.push_back(label);
    }
    return set;
}

} // namespace vitscope::data

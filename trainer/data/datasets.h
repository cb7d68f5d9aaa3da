#pragma once
// Datasets as plain image sets (no LibTorch types): what the engine, the CLI and the
// training loops read. Fashion-MNIST comes from Debian's dataset-fashion-mnist package.

#include <cstdint>
#include <string>
#include <vector>

namespace vitscope::data {

enum class Split { Train, Test };
const char *splitName(Split split);

// `count` images of height x width x channels bytes each, stored image after image,
// row-major, channels fastest (HWC). labels[i] indexes classNames.
struct ImageSet {
    std::string source; // where it was read from, for messages
    std::int64_t count = 0;
    std::int64_t height = 0;
    std::int64_t width = 0;
    std::int64_t channels = 0;
    std::vector<std::uint8_t> pixels;
    std::vector<std::int64_t> labels;
    std::vector<std::string> classNames;

    std::int64_t imageBytes() const { return height * width * channels; }
    const std::uint8_t *image(std::int64_t i) const { return pixels.data() + i * imageBytes(); }
};

// Fashion-MNIST's 28 x 28 padded to 32 x 32 (how the bundled models see it): mean and std
// of the padded training set.
constexpr float kFashionMnistMean = 0.2190f; // 0.2860 * 784 / 1024
constexpr float kFashionMnistStd = 0.3318f;  // from the unpadded 0.3530 the same way

// The ten Fashion-MNIST classes, in label order (T-shirt/top ... Ankle boot).
const std::vector<std::string> &fashionMnistClassNames();

// Resolves a --data argument: "fashion-mnist" (or empty) means the default folder
// (Debian's /usr/share/datasets/fashion-mnist, or $VITSCOPE_FASHION_MNIST_DIR when set);
// anything else is taken as a folder path.
std::string resolveFashionMnistDir(const std::string &spec);

// The images and labels files of one split in `dir`: the gzip names first
// (t10k-images-idx3-ubyte.gz), then the uncompressed ones. Throws vitscope::FileError
// naming the expected file when neither exists.
struct IdxPair {
    std::string images;
    std::string labels;
};
IdxPair fashionMnistFiles(const std::string &dir, Split split);

// Reads one split. Checks: images are N x 28 x 28 (any N x H x W is accepted), labels
// are N values within the class range, and the two files agree on N. Each failure is a
// vitscope::FileError naming the file at fault.
ImageSet loadFashionMnist(const std::string &dir, Split split);

} // namespace vitscope::data

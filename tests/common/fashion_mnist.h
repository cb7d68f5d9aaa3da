#pragma once
// Whether Fashion-MNIST is on this machine (Debian's dataset-fashion-mnist, or a folder
// named by VITSCOPE_FASHION_MNIST_DIR): the tests that train on it skip without it.
#include <cstdlib>
#include <filesystem>

namespace vitscope::test {

inline bool haveFashionMnist()
{
    return std::filesystem::exists("/usr/share/datasets/fashion-mnist") || std::getenv("VITSCOPE_FASHION_MNIST_DIR");
}

} // namespace vitscope::test

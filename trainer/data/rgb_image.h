#pragma once
// An 8-bit RGB image as plain data (no LibTorch, no Qt, no OpenCV): what crosses from
// the core to the engine and on to the GUI thread.
#include <cstdint>
#include <vector>

namespace vitscope::data {

struct RgbImage {
    int width = 0;
    int height = 0;
    std::vector<std::uint8_t> rgb; // width * height * 3, rows top to bottom, no padding
};

} // namespace vitscope::data

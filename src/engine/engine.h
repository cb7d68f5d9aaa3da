#pragma once
// The engine: the GUI's only door to the core. Plain C++ types only (no LibTorch, no
// Qt), so GUI translation units stay quick to compile and only plain data crosses
// threads. Functions here are thread-safe unless noted; failures throw
// std::runtime_error (vitscope::Error) whose what() is ready to show to the user.

#include <cstdint>
#include <string>
#include <vector>

#include "trainer/data/rgb_image.h"

namespace vitscope::engine {

// An 8-bit RGB image, rows top to bottom, 3 bytes per pixel, no padding.
using RgbImage = data::RgbImage;

struct LabeledImage {
    RgbImage image;
    int label = -1;
    std::string className;
    std::int64_t index = -1; // position in its split
};

struct SampleGrid {
    std::string source; // folder the images came from
    std::vector<std::string> classNames;
    std::vector<LabeledImage> samples; // grouped by class, classes in label order
};

struct BuildInfo {
    std::string version;      // vitscope's
    std::string torchVersion; // LibTorch's
    bool torchCuda = false;   // LibTorch built with CUDA
    std::string device;       // e.g. "CPU (2 threads)"
};

BuildInfo buildInfo();

// Sets up the process for tensors before any thread starts: glibc's malloc keeps its heaps
// for the next pass instead of faulting fresh pages in (models/runtime/allocator.h).
// Call it first thing in main. Returns what was set, for logs.
std::string prepareProcess();

// The folder the app reads Fashion-MNIST from when nothing else is given.
std::string defaultFashionMnistDir();

// The first `perClass` test images of each Fashion-MNIST class, in file order, grouped
// by class. `dir` empty means the default folder. Blocks for the read (~0.1 s): call it
// from a worker thread.
SampleGrid loadFashionMnistSamples(const std::string &dir, int perClass);

// The folder with the experiment tables (docs/experiments/*.csv): the installed copy
// (share/vitscope/experiments) or the source tree's. Empty when there is none.
std::string experimentsDir();

// The folder where the app writes training runs unless told otherwise is chosen by the
// GUI (QStandardPaths); this names a fresh run folder inside `parent`:
// "<kind>-YYYYMMDD-HHMMSS" (with a suffix when taken).
std::string newRunDir(const std::string &parent, const std::string &kind);

} // namespace vitscope::engine

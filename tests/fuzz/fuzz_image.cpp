// The image loading path: decode (OpenCV), convert to RGB, preprocess for a model.
#include <exception>

#include "fuzz_common.h"
#include "models/image_preprocess.h"
#include "trainer/data/images.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const std::string path = vitscope::fuzz::writeInput(data, size, ".img");
    try {
        const auto image = vitscope::data::loadImageRgb(path);
        const auto proc = vitscope::ImageProcessorConfig::clip(32, 1);
        (void)vitscope::preprocessImage(vitscope::data::rgbToTensor(image), proc, 1);
    } catch (const std::exception &) {
    }
    return 0;
}

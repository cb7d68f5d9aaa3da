// The caption CSV reader (open_clip's convention), tab- or comma-separated.
#include <exception>

#include "fuzz_common.h"
#include "trainer/data/sources.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    if (size == 0)
        return 0;
    const std::string path = vitscope::fuzz::writeInput(data + 1, size - 1, ".csv");
    vitscope::data::CaptionCsvOptions options;
    options.separator = (data[0] & 1) ? ',' : '\t';
    try {
        const auto source = vitscope::data::captionCsvSource(path, options);
        for (std::int64_t i = 0; i < std::min<std::int64_t>(source->size(), 8); ++i)
            (void)source->caption(i);
    } catch (const std::exception &) {
    }
    return 0;
}

// The IDX reader (Fashion-MNIST's format), plain and gzip-compressed (first byte picks).
#include <exception>

#include "fuzz_common.h"
#include "trainer/data/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    if (size == 0)
        return 0;
    const bool gz = data[0] & 1;
    const std::string path = vitscope::fuzz::writeInput(data + 1, size - 1, gz ? ".idx.gz" : ".idx");
    try {
        (void)vitscope::data::readIdxDims(path);
    } catch (const std::exception &) {
    }
    try {
        (void)vitscope::data::readIdx(path);
    } catch (const std::exception &) {
    }
    return 0;
}

// The safetensors reader: header length, JSON header, dtypes, shapes, offsets.
#include <exception>

#include "fuzz_common.h"
#include "models/checkpoints/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const std::string path = vitscope::fuzz::writeInput(data, size, ".safetensors");
    try {
        vitscope::Metadata meta;
        const auto tensors = vitscope::readSafetensors(path, &meta);
        for (const auto &kv : tensors)
            (void)kv.second.sum().item<double>(); // touch every byte claimed
    } catch (const std::exception &) {
    }
    return 0;
}

// The restricted unpickler on raw bytes: opcodes, lengths, memo, marks, limits, the
// tensor rebuild checks. Every input must parse or throw vitscope::FileError.
#include <exception>

#include "fuzz_common.h"
#include "models/checkpoints/pickle.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    try {
        vitscope::pickle::Limits limits;
        limits.maxValues = 1'000'000; // keeps each run short; the structure limits stay the defaults
        const auto r = vitscope::pickle::unpickle(reinterpret_cast<const char *>(data), size, "fuzz.pkl", limits);
        (void)r.root->describe();
    } catch (const std::exception &) {
    }
    return 0;
}

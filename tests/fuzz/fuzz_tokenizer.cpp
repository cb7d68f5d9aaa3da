// The CLIP tokenizer: arbitrary text through the bundled tokenizer (first byte 0), or
// arbitrary vocab.json + merges.txt files (split at the first NUL byte) and text.
#include <algorithm>
#include <exception>
#include <memory>

#include "fuzz_common.h"
#include "models/runtime/data_files.h"
#include "models/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    static const std::unique_ptr<vitscope::ClipTokenizer> bundled = [] {
        const std::string dir = vitscope::resolveModelDir("fmnist-clip");
        return std::make_unique<vitscope::ClipTokenizer>(
            vitscope::ClipTokenizer::fromFiles(dir + "/vocab.json", dir + "/merges.txt"));
    }();
    if (size == 0)
        return 0;
    if (data[0] % 2 == 0) {
        const std::string text(reinterpret_cast<const char *>(data + 1), size - 1);
        try {
            (void)bundled->encode(text);
        } catch (const std::exception &) {
        }
        return 0;
    }
    const auto *begin = data + 1, *end = data + size;
    const auto *nul = std::find(begin, end, std::uint8_t(0));
    const std::string vocab = vitscope::fuzz::writeInput(begin, std::size_t(nul - begin), "-vocab.json");
    const auto *rest = nul == end ? end : nul + 1;
    const std::string merges = vitscope::fuzz::writeInput(rest, std::size_t(end - rest), "-merges.txt");
    try {
        const auto tok = vitscope::ClipTokenizer::fromFiles(vocab, merges);
        (void)tok.encode("a photo of a sneaker, 28x28!");
    } catch (const std::exception &) {
    }
    return 0;
}

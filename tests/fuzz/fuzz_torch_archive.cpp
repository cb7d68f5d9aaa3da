// A whole checkpoint file: LibTorch's zip reader, data.pkl through the restricted
// unpickler, the storage checks, the format recognition and key maps, and every tensor
// read back. Must return or throw a std::exception for any bytes. The bytes stay in
// memory (TorchArchive::fromBytes, the same reader over an adapter): no file per input.
#include <exception>
#include <memory>
#include <string>

#include "fuzz_common.h"
#include "models/checkpoints/model_source.h"
#include "models/checkpoints/torch_archive.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    const auto bytes = std::make_shared<const std::string>(reinterpret_cast<const char *>(data), size);
    const std::string name = "fuzz-input.pt";
    try {
        auto archive = vitscope::TorchArchive::fromBytes(bytes, name);
        (void)archive->readPickle("data.pkl");
    } catch (const std::exception &) {
    }
    try {
        vitscope::ModelSource s = vitscope::openModelArchive(vitscope::TorchArchive::fromBytes(bytes, name));
        for (auto &kv : s.tensors)
            (void)kv.second.read().to(torch::kFloat64).sum().item<double>(); // touch every byte claimed
    } catch (const std::exception &) {
    }
    return 0;
}

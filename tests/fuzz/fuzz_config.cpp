// The Hugging Face config.json readers: vit_mae and clip configs, and
// preprocessor_config.json, from arbitrary JSON.
#include <exception>

#include <nlohmann/json.hpp>

#include "fuzz_common.h"
#include "models/clip.h"
#include "models/checkpoints/hf_folder.h"
#include "models/mae.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size)
{
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(data, data + size);
    } catch (const std::exception &) {
        return 0;
    }
    try {
        vitscope::MaeConfig c = vitscope::MaeConfig::fromJson(j, "fuzz");
        c.validate();
        (void)c.toJson();
    } catch (const std::exception &) {
    }
    try {
        (void)vitscope::ClipConfig::fromJson(j, "fuzz").toJson();
    } catch (const std::exception &) {
    }
    try {
        (void)vitscope::ImageProcessorConfig::fromJson(j, "fuzz").toJson();
    } catch (const std::exception &) {
    }
    return 0;
}

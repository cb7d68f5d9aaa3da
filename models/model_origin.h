#pragma once
// Where a loaded model came from and where each of its settings was read or inferred:
// what `vitscope-cli info` and the Models view show.

#include <string>
#include <vector>

namespace vitscope {

struct InferredSetting {
    std::string name, value, source;
};

struct ModelOrigin {
    std::string path;            // as given
    std::string format;          // "Hugging Face folder (model.safetensors)", "FAIR MAE checkpoint (...)", ...
    std::string configSource;    // "config.json" or "inferred from the tensor shapes ..."
    std::string processorSource; // "preprocessor_config.json", or the release default used
    std::string tokenizerSource; // CLIP: the tokenizer files
    std::vector<InferredSetting> settings;
    std::vector<std::string> notes;
};

} // namespace vitscope

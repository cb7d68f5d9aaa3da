#pragma once
// The options every training run shares, whatever it trains (MAE pretraining, CLIP,
// fine-tuning): the data, how long, how big a batch, the warmup, the seed, where it runs,
// and the loop's cadence (logging, checkpoints, evaluation, mixed precision). The
// trainers' option structs embed it (as their base), so a field has one name, one default
// and one JSON key everywhere; the CLI reads it in one place (src/cli/run_options.h).

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace vitscope::train {

struct RunControl {
    std::string data = "fashion-mnist"; // --data: fashion-mnist, a folder of class subfolders (CLIP: or a caption CSV)
    int64_t limit = 0;                  // first N training examples (0: all)
    int64_t epochs = 10;
    int64_t batch = 128;                // the global batch (split across ranks)
    double warmupEpochs = 1;
    double clipGrad = 0;                // gradient norm clipping (0: off)
    uint64_t seed = 0;
    std::string device = "auto";
    int workers = 0;                    // loader threads; 0: auto (one per four cores, at least one)
    int64_t logEvery = 10;              // steps between progress reports
    int64_t checkpointEvery = 0;        // steps between checkpoints (0: every epoch)
    int keepCheckpoints = 2;
    int64_t evalEvery = 1;              // epochs between evaluations (0: never)
    int64_t evalLimit = 2000;           // evaluation on the first N train / test images (0: all)
    bool amp = true;                    // bf16 autocast on CUDA

    // The shared keys (snake_case, as in a run's config.json "options").
    nlohmann::json toJson() const;
    // Reads the shared keys that `j` has; the others keep their values. nlohmann's
    // type_error for a key of the wrong type.
    void readJson(const nlohmann::json &j);
};

} // namespace vitscope::train

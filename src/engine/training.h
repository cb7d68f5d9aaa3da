#pragma once
// Training for the GUI: MAE or CLIP runs with plain-typed options and progress, writing the
// same run folder as the CLI (config.json, metrics.jsonl, checkpoints, model/). Blocks:
// call it from a worker thread. Callbacks run on that thread.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vitscope::engine {

struct TrainRequest {
    std::string kind = "mae";           // "mae" or "clip"
    std::string data = "fashion-mnist"; // fashion-mnist, a folder of class subfolders, or (CLIP) a caption CSV
    std::int64_t limit = 0;             // first N training images (0: all)
    std::string preset = "fmnist";
    std::string maskStrategy = "random"; // MAE
    double maskRatio = 0.75;             // MAE
    bool normPixLoss = true;             // MAE
    std::int64_t epochs = 5;
    std::int64_t batch = 128;
    double lr = 1.5e-4;                  // MAE: base lr (x batch / 256); CLIP: the lr
    double warmupEpochs = 1;
    std::uint64_t seed = 0;
    std::string device = "auto";
    std::int64_t logEvery = 10;
    std::int64_t evalLimit = 2000;      // kNN / zero-shot images per epoch
};

struct TrainProgress {
    std::int64_t step = 0, totalSteps = 0, epoch = 0, epochs = 0;
    double loss = 0, lr = 0, imagesPerSecond = 0, elapsedSeconds = 0, etaSeconds = 0;
};

struct EpochProgress {
    std::int64_t epoch = 0, step = 0;
    double meanLoss = 0;
    std::string evalName; // "knn_top1", "zeroshot_top1" or empty
    double evalValue = 0;
};

struct TrainHooks {
    std::function<void(const TrainProgress &)> onStep;
    std::function<void(const EpochProgress &)> onEpoch;
    std::function<bool()> shouldStop; // asked before every step; may block (pause)
};

struct TrainOutcome {
    bool finished = false; // false: stopped (a checkpoint was saved; resume continues)
    std::string runDir, modelDir;
    std::int64_t steps = 0;
    double seconds = 0;
};

// Model presets a run can use ("fmnist", "vit-b16", ...), for "mae" or "clip".
std::vector<std::string> presetNames(const std::string &kind);

// Starts a new run in `runDir` (created; must not hold a run yet).
TrainOutcome train(const TrainRequest &request, const std::string &runDir, const TrainHooks &hooks);
// Continues the run in `runDir` from its newest checkpoint.
TrainOutcome resume(const std::string &runDir, const TrainHooks &hooks);

} // namespace vitscope::engine

#pragma once
// The training loop shared by MAE and CLIP: schedule, steps, logging, checkpoints,
// resuming, NaN stop, callbacks. A model family supplies a TrainTask.

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "trainer/loader.h"
#include "trainer/optim.h"
#include "trainer/run_folder.h"

namespace vitscope::train {

struct StepInfo {
    int64_t step = 0;       // steps done (1-based after the first)
    int64_t totalSteps = 0;
    int64_t epoch = 0;      // 0-based
    int64_t epochs = 0;
    double loss = 0;
    double lr = 0;
    double imagesPerSecond = 0;
    double elapsedSeconds = 0; // this process's training time
    double etaSeconds = 0;
};

struct EpochInfo {
    int64_t epoch = 0;
    int64_t step = 0;
    double meanLoss = 0;
    nlohmann::json eval; // evaluation results, or null
};

// Progress and cancellation. shouldStop is asked before every step: a stop takes effect
// within one step, saves a checkpoint and returns RunStatus::Stopped.
struct TrainCallbacks {
    std::function<void(const StepInfo &)> onStep;
    std::function<void(const EpochInfo &)> onEpoch;
    std::function<bool()> shouldStop;
    // When the step losses are read back from the device. Auto: every step on the CPU or
    // when onStep is set; otherwise (CUDA) only when a value is needed: a metrics line, a
    // checkpoint, the end of an epoch, so the step needs no host synchronisation. Deferred
    // forces the second on any device (it is how the tests check that path on a CPU).
    enum class LossReads { Auto, EveryStep, Deferred } lossReads = LossReads::Auto;
};

enum class RunStatus { Finished, Stopped };

struct TrainResult {
    RunStatus status = RunStatus::Finished;
    std::string runDir;
    std::string modelDir; // empty unless finished
    int64_t steps = 0;
    double lastLoss = 0;
    nlohmann::json lastEval;
    bool resumed = false;
    int64_t resumedFromStep = 0;
    double seconds = 0;        // training time in this process
    int64_t stepsThisProcess = 0;
    double imagesPerSecond = 0; // over this process's steps
};

struct LoopOptions {
    int64_t epochs = 1;
    double baseLr = 1e-3;
    int64_t warmupSteps = 0;
    double clipGrad = 0;          // 0: off
    int64_t logEvery = 10;        // steps between metrics lines
    int64_t checkpointEvery = 0;  // steps; 0: at the end of each epoch only
    int keepCheckpoints = 2;
    int64_t evalEvery = 1;        // epochs; 0: never
    bool amp = true;              // bf16 autocast of the forward pass on CUDA (no effect on the CPU)
};

struct TrainTask {
    torch::nn::Module *module = nullptr;
    AdamW *optimizer = nullptr;
    data::BatchLoader *loader = nullptr;
    torch::Device device = torch::kCPU;
    std::function<torch::Tensor(const data::Batch &, int64_t step)> loss;
    std::function<void()> afterStep;                        // optional (CLIP: clamp the temperature)
    std::function<nlohmann::json(int64_t epoch)> evaluate;  // optional
    std::function<void(const std::string &dir)> saveModel; // final model, HF layout
};

// Runs (or resumes, when the folder has a checkpoint) to the end, a stop, or a
// non-finite loss (vitscope::Error naming the step and the last good checkpoint).
TrainResult runTraining(RunFolder &run, TrainTask &task, const LoopOptions &options, const TrainCallbacks &callbacks);

// LoopOptions to and from config.json's "loop".
nlohmann::json toJson(const LoopOptions &o);
LoopOptions loopOptionsFromJson(const nlohmann::json &j);

} // namespace vitscope::train

#pragma once
// The training loop shared by MAE and CLIP: schedule, steps, logging, checkpoints,
// resuming, NaN stop, callbacks. A model family supplies a TrainTask.

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "trainer/distributed.h"
#include "trainer/data/loader.h"
#include "trainer/optim.h"
#include "trainer/run_control.h"
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
    double imagesPerSecond = 0; // over this process's steps, all ranks together
    int worldSize = 1;
    double allReduceSecondsPerStep = 0;   // gradient averaging, wall time per step (0 in one process)
    double allReduceMegabytesPerStep = 0;
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

// Data-parallel runs (task.group of several ranks): parameters and, when resuming, the
// optimizer state are broadcast from rank 0 first; after every backward pass the gradients
// are averaged over ranks; logged losses are the average over ranks; a stop (Ctrl-C on any
// rank) is agreed on by all ranks at the same step; rank 0 alone writes the run folder
// (metrics, checkpoints, the final model) and runs the evaluation. Collectives that fail
// throw a vitscope::Error naming the rank that stopped.
struct TrainTask {
    Group *group = nullptr; // nullptr: one process
    torch::nn::Module *module = nullptr;
    AdamW *optimizer = nullptr;
    data::BatchLoader *loader = nullptr;
    torch::Device device = torch::kCPU;
    std::function<torch::Tensor(const data::Batch &, int64_t step)> loss;
    std::function<void()> afterStep;                        // optional (CLIP: clamp the temperature)
    std::function<nlohmann::json(int64_t epoch)> evaluate;  // optional
    std::function<void(const std::string &dir)> saveModel; // final model, HF layout
    // The step's name for the thread choice (models/runtime/tuning.h): on the CPU in one
    // process, the first steps run at every core and at one thread and the faster count
    // stays. Empty: the process's count.
    std::string workload;
};

// Runs (or resumes, when the folder has a checkpoint) to the end, a stop, or a
// non-finite loss (vitscope::Error naming the step and the last good checkpoint).
TrainResult runTraining(RunFolder &run, TrainTask &task, const LoopOptions &options, const TrainCallbacks &callbacks);

// The setup both trainers share (their options embed RunControl): the device (a
// rank's own GPU in a multi-GPU run), the process group, the run folder (created by rank 0,
// known to the others), the training loader sharded by rank, and the loop options from the
// global batch.
class TrainingSkeleton {
public:
    TrainingSkeleton(const RunControl &o, Group *group);

    Group &group() { return *m_group; }
    torch::Device device() const { return m_device; }
    int64_t localBatch() const { return m_localBatch; }

    // A new run (rank 0 creates the folder, FileError when it holds one) or a follower.
    RunFolder createRun(const std::string &dir, const std::string &kind, const nlohmann::json &options);
    // The training loader: this rank's share of every epoch, localBatch() per batch.
    std::unique_ptr<data::BatchLoader> makeLoader(std::shared_ptr<const data::SampleSource> source,
                                                  data::BatchLoader::MakeSample makeSample) const;
    // The loop options; warmup in steps of the global batch.
    LoopOptions loop(double lr, int64_t batchesPerEpoch, bool canEvaluate) const;
    // torch::manual_seed(seed), holding the lock on torch's global generator until the
    // returned lock goes: a model initialised under it gets the same weights whatever other
    // threads do (ranks running as threads of one process, the app's workers).
    static std::unique_lock<std::mutex> seededInit(uint64_t seed);
    // A task with the module, optimizer, loader, device and group filled in.
    TrainTask task(torch::nn::Module &module, AdamW &optimizer, data::BatchLoader &loader);

private:
    std::shared_ptr<Group> m_own; // one process, when no group was given
    Group *m_group = nullptr;
    torch::Device m_device = torch::kCPU;
    int64_t m_localBatch = 0;
    uint64_t m_seed = 0;
    int m_workers = 0;
    LoopOptions m_loop;
    double m_warmupEpochs = 0;
};

// Rank 0's run configuration on every rank (the others may not see the run folder).
nlohmann::json shareFromLead(Group &group, const nlohmann::json &value);

// LoopOptions to and from config.json's "loop".
nlohmann::json toJson(const LoopOptions &o);
LoopOptions loopOptionsFromJson(const nlohmann::json &j);

} // namespace vitscope::train

#pragma once
// MAE pretraining (He et al. 2021, REFERENCE.md): AdamW (0.9, 0.95), weight decay 0.05
// (none on norms, biases, position embeddings, class and mask tokens), lr = base_lr *
// batch / 256, linear warmup then cosine, mask strategy / ratio / normalized-pixel loss
// from the options, optional gradient clipping; random resized crop + flip. Every epoch
// (optionally) a kNN accuracy on frozen class-token features for the curves.

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "trainer/loop.h"
#include "trainer/run_control.h"

namespace vitscope::train {

struct MaeTrainOptions : RunControl {
    std::string preset = "fmnist";
    std::string maskStrategy = "random";
    double maskRatio = 0.75;
    int64_t gridCell = 2;
    bool normPixLoss = true;
    bool maskTokensInEncoder = false;   // Table 1c ablation
    double baseLr = 1.5e-4;             // lr = base_lr * batch / 256
    double weightDecay = 0.05;
    bool randomResizedCrop = true;
    bool flip = true;

    nlohmann::json toJson() const;
    static MaeTrainOptions fromJson(const nlohmann::json &j);
};

// `batch` is the global batch: with a process group of W ranks each rank trains on batch / W
// samples per step (see TrainingSkeleton and runTraining for the data-parallel contract).
TrainResult trainMae(const MaeTrainOptions &options, const std::string &runDir, const TrainCallbacks &callbacks = {},
                     Group *group = nullptr);

// Used by resumeRun (trainer/resume.h) for runs of kind "mae".
TrainResult resumeMae(RunFolder &run, const TrainCallbacks &callbacks, Group *group = nullptr);

} // namespace vitscope::train

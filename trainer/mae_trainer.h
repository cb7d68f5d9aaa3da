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

namespace vitscope::train {

struct MaeTrainOptions {
    std::string data = "fashion-mnist"; // --data: fashion-mnist, or a folder of class subfolders
    int64_t limit = 0;                  // first N training examples (0: all)
    std::string preset = "fmnist";
    std::string maskStrategy = "random";
    double maskRatio = 0.75;
    int64_t gridCell = 2;
    bool normPixLoss = true;
    bool maskTokensInEncoder = false;   // Table 1c ablation
    int64_t epochs = 10;
    int64_t batch = 128;
    double baseLr = 1.5e-4;             // lr = base_lr * batch / 256
    double warmupEpochs = 1;
    double weightDecay = 0.05;
    double clipGrad = 0;
    bool randomResizedCrop = true;
    bool flip = true;
    uint64_t seed = 0;
    std::string device = "auto";
    int workers = 0;                    // loader threads; 0: auto (one per four cores, at least one)
    int64_t logEvery = 10;
    int64_t checkpointEvery = 0;
    int keepCheckpoints = 2;
    int64_t evalEvery = 1;              // epochs between kNN evaluations (0: never)
    int64_t evalLimit = 2000;
    bool amp = true;                    // bf16 autocast on CUDA           // kNN on the first N train / test images

    nlohmann::json toJson() const;
    static MaeTrainOptions fromJson(const nlohmann::json &j);
};

// Fashion-MNIST's 28 x 28 padded to 32 x 32: mean and std of the padded training set.
constexpr float kFashionMnistMean = 0.2190f; // 0.2860 * 784 / 1024
constexpr float kFashionMnistStd = 0.3318f;  // from the unpadded 0.3530 the same way

// `batch` is the global batch: with a process group of W ranks each rank trains on batch / W
// samples per step (see TrainingSkeleton and runTraining for the data-parallel contract).
TrainResult trainMae(const MaeTrainOptions &options, const std::string &runDir, const TrainCallbacks &callbacks = {},
                     Group *group = nullptr);

// Continues the run in `runDir` (MAE or CLIP) from its newest checkpoint, at any number of
// ranks that divides the run's global batch.
TrainResult resumeRun(const std::string &runDir, const TrainCallbacks &callbacks = {}, Group *group = nullptr);

} // namespace vitscope::train

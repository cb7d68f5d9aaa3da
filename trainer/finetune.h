#pragma once
// End-to-end fine-tuning of an MAE encoder with a classification head (MAE paper, section
// 4 and appendix A.2, at small scale): global average pooling of the encoder's patch
// tokens -> LayerNorm -> linear head; AdamW with layer-wise learning-rate decay, label
// smoothing 0.1, warmup then cosine; random resized crop + flip. Returns test accuracy.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vitscope::train {

struct FinetuneOptions {
    std::string model;                 // an MAE folder (vit_mae)
    std::string data = "fashion-mnist";
    int64_t limit = 0;                 // training examples (0: all)
    int64_t evalLimit = 0;             // test examples (0: all)
    int64_t epochs = 5;
    int64_t batch = 128;
    double baseLr = 1e-3;              // lr = base_lr * batch / 256
    double layerDecay = 0.75;
    double weightDecay = 0.05;
    double labelSmoothing = 0.1;
    double warmupEpochs = 1;
    double cropScaleMin = 0.35;
    uint64_t seed = 0;
    std::string device = "auto";
    int workers = 0;                    // loader threads; 0: auto (one per four cores, at least one)
};

struct FinetuneResult {
    double accuracy = 0;
    std::vector<double> epochLoss;
    std::vector<double> epochAccuracy; // test accuracy after each epoch
    double seconds = 0;
    nlohmann::json toJson() const;
};

FinetuneResult finetuneMae(const FinetuneOptions &options,
                           const std::function<void(int64_t epoch, int64_t step, int64_t steps, double loss)> &progress = {});

} // namespace vitscope::train

#pragma once
// End-to-end fine-tuning of an MAE encoder with a classification head (MAE paper, section
// 4 and appendix A.2, at small scale): global average pooling of the encoder's patch
// tokens -> LayerNorm -> linear head; AdamW with layer-wise learning-rate decay, label
// smoothing 0.1, warmup then cosine; random resized crop + flip. Returns test accuracy.
// Partial fine-tuning (MAE paper, Figure 9): only the last k blocks are trained, with the
// encoder's final LayerNorm when k >= 1; the embeddings and the other blocks are frozen
// (no gradients, left bit-identical). k = 0 trains the head alone: a linear probe through
// the same recipe.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/checkpoints/hf_folder.h"
#include "trainer/run_control.h"

namespace vitscope::train {

using vitscope::LoadedMae;

// The run control (trainer/run_control.h) without the loop cadence: data, limit, epochs,
// batch, warmup, seed, device, workers; evalLimit is the number of test examples.
struct FinetuneOptions : RunControl {
    FinetuneOptions()
    {
        epochs = 5;
        evalLimit = 0; // the whole test split
    }
    std::string model;                 // an MAE folder (vit_mae)
    double baseLr = 1e-3;              // lr = base_lr * batch / 256
    double layerDecay = 0.75;
    double weightDecay = 0.05;
    double labelSmoothing = 0.1;
    double cropScaleMin = 0.35;
    int64_t blocks = -1;                // trained blocks, counted from the top; -1: all (full fine-tuning)
};

struct FinetuneResult {
    double accuracy = 0;
    std::vector<double> epochLoss;
    std::vector<double> epochAccuracy; // test accuracy after each epoch
    double seconds = 0;
    int64_t blocks = 0;                 // blocks trained
    int64_t trainedParameters = 0;      // encoder + head values updated
    int64_t frozenParameters = 0;
    nlohmann::json toJson() const;
};

using FinetuneProgress = std::function<void(int64_t epoch, int64_t step, int64_t steps, double loss)>;

// Loads options.model and fine-tunes it.
FinetuneResult finetuneMae(const FinetuneOptions &options, const FinetuneProgress &progress = {});
// Fine-tunes `loaded` in place (options.model and options.device are not used; the model
// stays on its device).
FinetuneResult finetuneMae(LoadedMae &loaded, const FinetuneOptions &options, const FinetuneProgress &progress = {});

} // namespace vitscope::train

#pragma once
// Evaluation protocols on frozen features (MAE and CLIP papers):
//   - linear probe: features standardized with the training mean and std, multinomial
//     logistic regression (L-BFGS), its L2 weight decay chosen on a validation split
//     carved from the training features, then refitted on all of them;
//   - k-nearest neighbours: cosine similarity, k = 20, votes weighted by exp(sim / 0.07)
//     (the weighted kNN of Wu et al. 2018, as used by DINO);
//   - k-shot linear probes: k examples per class drawn with several seeds, averaged.

#include <cstdint>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/clip.h"
#include "models/tokenizer.h"
#include "trainer/data/sources.h"
#include "trainer/data/transforms.h"

namespace vitscope::train {

struct Features {
    torch::Tensor x;      // (N, D) float32, CPU
    torch::Tensor labels; // (N) int64
};

// Called after each batch with (images done, images in all).
using ProgressFn = std::function<void(int64_t done, int64_t total)>;

// encode: (B, C, S, S) on `device` -> (B, D). Runs under c10::InferenceMode, in batches,
// over the first `limit` samples (all when 0), with the evaluation transform; the result
// is an ordinary tensor (usable in autograd, e.g. by a probe).
Features extractFeatures(const std::function<torch::Tensor(const torch::Tensor &)> &encode,
                         const data::SampleSource &source, const data::ImageTransform &transform, torch::Device device,
                         int64_t limit = 0, int64_t batch = 256, const ProgressFn &progress = {});

struct LinearProbeOptions {
    std::vector<double> weightDecays = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2};
    double validationFraction = 0.1;
    int maxIterations = 300;
    uint64_t seed = 0;
};

struct LinearProbeResult {
    double accuracy = 0;      // on the test features
    double weightDecay = 0;   // the chosen one
    std::vector<std::pair<double, double>> validation; // (weight decay, validation accuracy)
    // The fitted probe: logits = ((x - mean) / std) weight + bias.
    torch::Tensor mean, std, weight, bias;
    torch::Tensor logits(const torch::Tensor &x) const; // (N, D) -> (N, classes)
    double accuracyOn(const Features &f) const;
    nlohmann::json toJson() const;
};

LinearProbeResult linearProbe(const Features &train, const Features &test, int64_t classes,
                              const LinearProbeOptions &options = {});

// Top-1 accuracy of weighted kNN.
double knnAccuracy(const Features &train, const Features &test, int64_t classes, int64_t k = 20,
                   double temperature = 0.07);

// The predictions of weighted kNN (exposed for tests).
torch::Tensor knnPredict(const Features &train, const torch::Tensor &queries, int64_t classes, int64_t k,
                         double temperature);

struct FewShotPoint {
    int64_t shots = 0;
    double meanAccuracy = 0;
    double stdAccuracy = 0;
    std::vector<double> accuracies; // one per seed
};

// For each k in `shots`: k training examples per class (seeded draws), a linear probe with
// the weight decay chosen by leave-some-out on those few examples when possible.
std::vector<FewShotPoint> fewShotProbes(const Features &train, const Features &test, int64_t classes,
                                        const std::vector<int64_t> &shots, int seeds, uint64_t seed = 0);

// Zero-shot top-1 accuracy of a CLIP model over the first `limit` samples (all when 0):
// class i is classNames[i] (the source's labels index them), prompts ensembled over
// `templates`.
double zeroShotAccuracy(Clip &model, const std::shared_ptr<const ClipTokenizer> &tokenizer,
                        const data::SampleSource &source, const data::ImageTransform &transform, torch::Device device,
                        const std::vector<std::string> &classNames, const std::vector<std::string> &templates,
                        int64_t limit = 0, bool ensemble = true, const ProgressFn &progress = {});

} // namespace vitscope::train

#pragma once
// CLIP training (Radford et al. 2021, REFERENCE.md): symmetric contrastive loss with the
// learned temperature (init 1/0.07, exp clamped at 100: the parameter is clipped to
// log 100 after each step), AdamW (0.9, 0.98, eps 1e-6, weight decay 0.2 except on gains,
// biases and logit_scale), linear warmup then cosine.
// Captions: a caption CSV gives its own; a labelled source (Fashion-MNIST, image folders)
// gets one per sample and step from class names x caption templates x synonyms, with a
// separate set of templates held out for zero-shot evaluation and never trained on. The
// model's tokenizer is learned from the training captions by the project's BPE trainer.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/loop.h"
#include "trainer/run_control.h"
#include "trainer/data/sources.h"

namespace vitscope::train {

struct ClipTrainOptions : RunControl {
    std::string preset = "fmnist";
    double lr = 5e-4;
    double weightDecay = 0.2;
    bool randomResizedCrop = true;
    double cropScaleMin = 0.5;
    bool flip = true;
    int64_t bpeMerges = 1000;
    std::string csvSeparator = "\t";
    std::string csvPathColumn = "filepath";
    std::string csvCaptionColumn = "title";

    nlohmann::json toJson() const;
    static ClipTrainOptions fromJson(const nlohmann::json &j);
};

// Caption material for labelled data.
struct CaptionSet {
    std::vector<std::string> trainTemplates;
    std::vector<std::string> heldOutTemplates;     // for zero-shot evaluation only
    std::vector<std::vector<std::string>> synonyms; // per class; the first is the class's display name
};
// Fashion-MNIST's: synonyms such as "ankle boot" / "boot", 12 training and 8 held-out templates.
CaptionSet fashionMnistCaptions();
// Generic: each class's folder name as its only synonym, the same templates.
CaptionSet classNameCaptions(const std::vector<std::string> &classNames);
// Every caption the training can produce (the BPE corpus).
std::vector<std::string> allTrainingCaptions(const CaptionSet &captions);

// `batch` is the global batch; with a process group the image and text features of all
// ranks form one contrastive batch (gathered with their gradients).
TrainResult trainClip(const ClipTrainOptions &options, const std::string &runDir, const TrainCallbacks &callbacks = {},
                      Group *group = nullptr);
// Used by resumeRun for runs of kind "clip".
TrainResult resumeClip(RunFolder &run, const TrainCallbacks &callbacks, Group *group = nullptr);

} // namespace vitscope::train

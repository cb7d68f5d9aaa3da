#pragma once
// Hugging Face model folders, both ways: config.json + model.safetensors +
// preprocessor_config.json (+ vocab.json / merges.txt for CLIP). Folders from the hub
// (facebook/vit-mae-base) load here; folders saved here load in transformers
// (ViTMAEForPreTraining.from_pretrained).

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <torch/torch.h>

#include "models/clip.h"
#include "models/image_preprocess.h"
#include "models/mae.h"
#include "models/model_origin.h"
#include "models/tokenizer.h"
#include "models/checkpoints/safetensors.h"

namespace vitscope {

// config.json's model_type ("vit_mae", "clip", ...) of a Hugging Face folder; FileError
// when it cannot be told. For any model path (files too) use modelTypeOf
// (models/checkpoints/model_source.h).
std::string readModelType(const std::string &dir);

// Copies `tensors` into the module's parameters and buffers, whose names are mapped to
// file names by `fileName`. Names in `optional` (ours) may be absent from the file (they
// keep their values). Missing, unexpected or wrongly shaped tensors: one FileError
// naming `source` and listing each key with expected and found shapes. Float tensors of
// other dtypes (F16, BF16) are converted to the parameter's dtype.
// The lazy form checks every shape before reading anything, then reads and copies one
// tensor at a time: the peak memory is the model plus its largest tensor.
void loadTensors(torch::nn::Module &module, const LazyTensorMap &tensors,
                 const std::function<std::string(const std::string &)> &fileName,
                 const std::set<std::string> &optional, const std::string &source);
void loadTensors(torch::nn::Module &module, const TensorMap &tensors,
                 const std::function<std::string(const std::string &)> &fileName,
                 const std::set<std::string> &optional, const std::string &source);

// Runs `load`; when it runs out of memory (std::bad_alloc, or LibTorch's allocator), throws
// a FileError naming `path`, what its weight files take on disk and what this process may
// use (models/runtime/machine.h), instead of the allocator's bare message. loadMae and
// loadClip load through it.
void translateOutOfMemory(const std::string &path, const std::function<void()> &load);

struct LoadedMae {
    Mae model{nullptr};
    ImageProcessorConfig processor;
    std::string dir;         // the path it was loaded from (a folder or a file)
    bool hasDecoder = true;  // false: encoder-only weights (features, probes; no reconstruction)
    ModelOrigin origin;
};

// Loads an MAE onto `device`, in eval mode, from any supported path: a vit_mae folder
// (ViTMAEForPreTraining or encoder-only ViTMAEModel weights; safetensors or
// pytorch_model.bin, sharded or not), or FAIR's .pth (see models/checkpoints/).
LoadedMae loadMae(const std::string &path, torch::Device device = torch::kCPU);
// Throws FileError naming the file and the release to get instead when `loaded` has no
// decoder; `what` names the task ("reconstruction").
void requireDecoder(const LoadedMae &loaded, const std::string &what = "reconstruction");
// Saves in the same layout (creates `dir`); files are replaced atomically.
void saveMaeFolder(Mae &model, const ImageProcessorConfig &processor, const std::string &dir);

struct LoadedClip {
    Clip model{nullptr};
    std::shared_ptr<const ClipTokenizer> tokenizer;
    ImageProcessorConfig processor;
    std::string dir; // the path it was loaded from (a folder or a file)
    ModelOrigin origin;
};

// Loads a CLIP onto `device`, in eval mode, from any supported path: a clip folder
// (CLIPModel weights, vocab.json, merges.txt, and preprocessor_config.json when present),
// OpenAI's .pt, open_clip's files (see models/checkpoints/). Tensors are checked against
// the config (each problem listed); position_ids buffers are ignored.
LoadedClip loadClip(const std::string &path, torch::Device device = torch::kCPU);
// Saves in the layout of openai/clip-vit-base-patch32 (plus tokenizer_config.json and
// special_tokens_map.json, so transformers' CLIPProcessor loads it too).
void saveClipFolder(Clip &model, const ClipTokenizer &tokenizer, const ImageProcessorConfig &processor,
                    const std::string &dir);

} // namespace vitscope

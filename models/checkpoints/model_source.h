#pragma once
// The one place that recognises a model file or folder by its content, and turns every
// supported format into the same thing: a Hugging Face config, tensors under Hugging
// Face names (read lazily), and the preprocessing and tokenizer files it comes with.
//
//   folder with config.json          Hugging Face: model.safetensors, pytorch_model.bin, or
//                                    either sharded (*.index.json)
//   folder with open_clip_config.json open_clip: open_clip_model.safetensors or
//                                    open_clip_pytorch_model.bin
//   .pth / .pt / .bin (torch.save)   FAIR's MAE ({'model': ..., 'args': Namespace}),
//                                    open_clip state dicts (plain, or {'state_dict'} with
//                                    'module.' prefixes), Hugging Face state dicts next to
//                                    their config.json
//   .pt (TorchScript)                OpenAI's CLIP releases (weights read from the archive,
//                                    no code run; float16 converted on load)
//   .safetensors                     the same state dicts as safetensors
// Nothing is read but headers and pickles until a tensor is asked for.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/checkpoints/key_maps.h"
#include "models/model_origin.h"
#include "models/image_preprocess.h"
#include "models/checkpoints/safetensors.h"

namespace vitscope {

class TorchArchive;

struct ModelSource : ModelOrigin { // path as given, format, where the config and processor came from, settings, notes
    std::string modelType;       // "vit_mae" or "clip"
    nlohmann::json config;       // Hugging Face config.json (read, or inferred from the tensors)
    LazyTensorMap tensors;       // Hugging Face names
    std::string weightsPath;     // the weights file (or shard index) that errors about tensors name
    bool hasDecoder = true;      // MAE: false for encoder-only weights
    std::optional<ImageProcessorConfig> processor; // from the files; empty: the loader's release default
    std::string vocabPath, mergesPath; // CLIP tokenizer (vocab.json + merges.txt), or
    std::string bpePath;               // OpenAI's bpe_simple_vocab_16e6.txt.gz
};

// Recognises `path` (a file or a folder) and maps it. FileError naming the file and what
// was expected for anything unrecognised, refused or inconsistent.
// `expectedType` ("vit_mae", "clip"; empty: any) is checked against a folder's config.json
// before its weights are opened.
ModelSource openModelSource(const std::string &path, const std::string &expectedType = {});

// A torch.save or TorchScript archive already open (TorchArchive::fromBytes: the fuzzer,
// bytes not on disk), recognised and mapped as openModelSource maps such a file, except
// that no file beside it is read (open_clip_config.json, a Hugging Face config.json).
ModelSource openModelArchive(std::shared_ptr<TorchArchive> archive);

// "vit_mae" or "clip" for any supported path (reads headers only).
std::string modelTypeOf(const std::string &path);

} // namespace vitscope

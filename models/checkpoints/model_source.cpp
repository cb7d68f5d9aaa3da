#include "models/checkpoints/model_source.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>

#include "models/checkpoints/torch_archive.h"
#include "models/clip.h"
#include "models/error.h"
#include "models/json_io.h"
#include "models/mae.h"

namespace fs = std::filesystem;

namespace vitscope {
namespace {

using nlohmann::json;
using pickle::Kind;
using pickle::Value;

// --- tensors out of pickles -------------------------------------------------------

bool isStateDict(const Value *v)
{
    if (!v || v->kind != Kind::Dict || v->entries.empty())
        return false;
    for (const auto &[k, val] : v->entries)
        if (k->kind == Kind::String && val->kind == Kind::Tensor)
            return true;
    return false;
}

void addDictTensors(const Value &dict, const TorchArchive &archive, const std::string &prefix, LazyTensorMap &out)
{
    for (const auto &[k, v] : dict.entries)
        if (k->kind == Kind::String && v->kind == Kind::Tensor)
            out[prefix + k->text] = archive.lazyTensor(v->tensor);
}

// TorchScript: a module is an object whose state maps attribute names to tensors
// (parameters, buffers) and to submodules.
void addModuleTensors(const Value &object, const TorchArchive &archive, const std::string &prefix, LazyTensorMap &out)
{
    const Value *state = object.state.get();
    if (!state || state->kind != Kind::Dict)
        return;
    for (const auto &[k, v] : state->entries) {
        if (k->kind != Kind::String)
            continue;
        if (v->kind == Kind::Tensor)
            out[prefix + k->text] = archive.lazyTensor(v->tensor);
        else if (v->kind == Kind::Object)
            addModuleTensors(*v, archive, prefix + k->text + ".", out);
    }
}

// Strips a prefix every name carries (DistributedDataParallel's "module.").
LazyTensorMap stripPrefix(LazyTensorMap in, const std::string &prefix)
{
    for (const auto &[name, _] : in)
        if (name.rfind(prefix, 0) != 0)
            return in;
    LazyTensorMap out;
    for (auto &[name, t] : in)
        out[name.substr(prefix.size())] = std::move(t);
    return out;
}

// TorchScript's own module classes (__torch__.*) are expected there and not reported.
std::string placeholderNote(const pickle::Result &r)
{
    std::string s;
    for (const auto &g : r.placeholderGlobals)
        if (g.rfind("__torch__.", 0) != 0)
            s += (s.empty() ? "" : ", ") + g;
    return s.empty() ? s : "kept as inert placeholders, never called: " + s;
}

// What a pickled checkpoint holds, and the tensors of its state dict.
struct PickledCheckpoint {
    std::shared_ptr<TorchArchive> archive;
    pickle::Result pickled;
    LazyTensorMap tensors;
    std::string wrapper; // "model", "state_dict", "" (the root is the state dict), "torchscript"
};

PickledCheckpoint readPickled(std::shared_ptr<TorchArchive> archive)
{
    PickledCheckpoint c;
    c.archive = std::move(archive);
    const std::string &path = c.archive->path();
    c.pickled = c.archive->readPickle("data.pkl");
    const Value &root = *c.pickled.root;
    if (c.archive->isTorchScript()) {
        if (root.kind != Kind::Object)
            throw FileError(path, "a TorchScript archive whose data.pkl holds " + root.describe() + ", not a module");
        addModuleTensors(root, *c.archive, "", c.tensors);
        c.wrapper = "torchscript";
    } else if (isStateDict(&root)) {
        addDictTensors(root, *c.archive, "", c.tensors);
    } else if (root.kind == Kind::Dict) {
        for (const char *key : {"model", "state_dict", "model_state_dict", "module"})
            if (isStateDict(root.get(key))) {
                addDictTensors(*root.get(key), *c.archive, "", c.tensors);
                c.wrapper = key;
                break;
            }
        if (c.wrapper.empty()) {
            std::string keys;
            for (const auto &[k, v] : root.entries)
                if (k->kind == Kind::String && keys.size() < 200)
                    keys += (keys.empty() ? "'" : ", '") + k->text + "'";
            throw FileError(path, "holds a dict without a state dict of tensors (keys: " + keys +
                                      "); expected FAIR's {'model': ...}, open_clip's {'state_dict': ...} or a state dict");
        }
    } else {
        throw FileError(path, "holds " + root.describe() + ", not a state dict of tensors");
    }
    if (c.tensors.empty())
        throw FileError(path, "holds no tensors");
    c.tensors = stripPrefix(std::move(c.tensors), "module.");
    return c;
}

PickledCheckpoint readPickled(const std::string &path)
{
    return readPickled(TorchArchive::open(path));
}

bool isSafetensorsFile(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    unsigned char b[9] = {};
    in.read(reinterpret_cast<char *>(b), 9);
    if (in.gcount() < 9)
        return false;
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | b[i];
    return b[8] == '{' && n > 1 && n < (uint64_t(100) << 20);
}

// --- Hugging Face folders -----------------------------------------------------------

LazyTensorMap readShardIndex(const std::string &indexPath, bool safetensors, std::vector<std::string> &notes)
{
    const json index = readJsonFile(indexPath);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object())
        throw FileError(indexPath, "no weight_map object: not a sharded-weights index");
    const fs::path dir = fs::path(indexPath).parent_path();
    std::map<std::string, std::set<std::string>> byShard;
    for (auto it = index["weight_map"].begin(); it != index["weight_map"].end(); ++it) {
        if (!it->is_string())
            throw FileError(indexPath, "weight_map entry for `" + it.key() + "` is not a file name");
        const std::string shard = it->get<std::string>();
        if (shard.empty() || shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
            throw FileError(indexPath, "weight_map names `" + shard + "`, not a file in this folder");
        byShard[shard].insert(it.key());
    }
    LazyTensorMap out;
    for (const auto &[shard, names] : byShard) {
        const std::string shardPath = (dir / shard).string();
        LazyTensorMap tensors;
        if (safetensors) {
            tensors = openSafetensors(shardPath);
        } else {
            PickledCheckpoint c = readPickled(shardPath);
            if (const std::string n = placeholderNote(c.pickled); !n.empty())
                notes.push_back(shard + ": " + n);
            tensors = std::move(c.tensors);
        }
        for (const auto &name : names) {
            auto it = tensors.find(name);
            if (it == tensors.end())
                throw FileError(shardPath, "lacks `" + name + "`, which " + fs::path(indexPath).filename().string() +
                                               " places in it");
            out[name] = it->second;
        }
    }
    return out;
}

void findTokenizer(const fs::path &dir, ModelSource &s)
{
    // Either file of the pair: the loader then names the one that is missing.
    if (fs::exists(dir / "vocab.json") || fs::exists(dir / "merges.txt")) {
        s.vocabPath = (dir / "vocab.json").string();
        s.mergesPath = (dir / "merges.txt").string();
        return;
    }
    if (fs::exists(dir / "bpe_simple_vocab_16e6.txt.gz")) {
        s.bpePath = (dir / "bpe_simple_vocab_16e6.txt.gz").string();
        return;
    }
    // A shared copy for loose checkpoint files: VITSCOPE_CLIP_TOKENIZER names a folder with
    // vocab.json + merges.txt, or OpenAI's .txt.gz.
    if (const char *env = std::getenv("VITSCOPE_CLIP_TOKENIZER"); env && *env) {
        const fs::path p(env);
        if (fs::is_directory(p) && fs::exists(p / "vocab.json") && fs::exists(p / "merges.txt")) {
            s.vocabPath = (p / "vocab.json").string();
            s.mergesPath = (p / "merges.txt").string();
        } else if (fs::is_regular_file(p)) {
            s.bpePath = p.string();
        }
    }
}

ModelSource openHfFolder(const fs::path &dir, const std::string &expectedType)
{
    ModelSource s;
    s.path = dir.string();
    const std::string configPath = (dir / "config.json").string();
    s.config = readJsonFile(configPath);
    s.configSource = "config.json";
    if (!s.config.is_object() || !s.config.contains("model_type") || !s.config["model_type"].is_string())
        throw FileError(configPath, "no model_type field: is this a Hugging Face model folder?");
    s.modelType = s.config["model_type"];
    if (s.modelType != "vit_mae" && s.modelType != "clip")
        throw FileError(configPath, "model_type is \"" + s.modelType +
                                        "\": neither an MAE (\"vit_mae\") nor a CLIP (\"clip\") model");
    if (!expectedType.empty() && s.modelType != expectedType)
        throw FileError(configPath, "model_type is \"" + s.modelType + "\", expected \"" + expectedType + "\" (" +
                                        (expectedType == "clip" ? "a CLIP model" : "an MAE model") + ")");
    // The config first: a wrong field is named before any weights are opened.
    if (s.modelType == "vit_mae")
        (void)MaeConfig::fromJson(s.config, configPath);
    else
        (void)ClipConfig::fromJson(s.config, configPath);
    for (const char *name : {"model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                             "pytorch_model.bin.index.json"})
        if (fs::exists(dir / name)) {
            s.weightsPath = (dir / name).string();
            break;
        }
    if (fs::exists(dir / "model.safetensors")) {
        s.tensors = openSafetensors((dir / "model.safetensors").string());
        s.format = "Hugging Face folder (model.safetensors)";
    } else if (fs::exists(dir / "model.safetensors.index.json")) {
        s.tensors = readShardIndex((dir / "model.safetensors.index.json").string(), true, s.notes);
        s.format = "Hugging Face folder (sharded safetensors)";
    } else if (fs::exists(dir / "pytorch_model.bin")) {
        PickledCheckpoint c = readPickled((dir / "pytorch_model.bin").string());
        if (const std::string n = placeholderNote(c.pickled); !n.empty())
            s.notes.push_back(n);
        s.tensors = std::move(c.tensors);
        s.format = "Hugging Face folder (pytorch_model.bin, read without unpickling code)";
    } else if (fs::exists(dir / "pytorch_model.bin.index.json")) {
        s.tensors = readShardIndex((dir / "pytorch_model.bin.index.json").string(), false, s.notes);
        s.format = "Hugging Face folder (sharded pytorch_model.bin)";
    } else {
        throw FileError((dir / "model.safetensors").string(),
                        "missing: the folder has none of model.safetensors, model.safetensors.index.json, "
                        "pytorch_model.bin, pytorch_model.bin.index.json");
    }
    // transformers saves an MAE encoder alone (ViTMAEModel) without the "vit." prefix.
    if (s.modelType == "vit_mae" && !s.tensors.count("vit.embeddings.cls_token") &&
        s.tensors.count("embeddings.cls_token")) {
        LazyTensorMap prefixed;
        for (auto &[name, t] : s.tensors)
            prefixed["vit." + name] = std::move(t);
        s.tensors = std::move(prefixed);
        s.hasDecoder = false;
        s.notes.push_back("encoder only (ViTMAEModel weights): features and probes; reconstruction needs "
                          "ViTMAEForPreTraining weights with the decoder");
    }
    if (s.modelType == "vit_mae" && !s.tensors.count("decoder.decoder_embed.weight"))
        s.hasDecoder = false;
    const fs::path proc = dir / "preprocessor_config.json";
    if (fs::exists(proc)) {
        s.processor = ImageProcessorConfig::fromJson(readJsonFile(proc.string()), proc.string());
        s.processorSource = "preprocessor_config.json";
    }
    if (s.modelType == "clip")
        findTokenizer(dir, s);
    return s;
}

// --- open_clip ----------------------------------------------------------------------

ImageProcessorConfig openClipProcessor(const json &preprocess, int64_t imageSize, int64_t channels,
                                       const std::string &source)
{
    ImageProcessorConfig p = ImageProcessorConfig::clip(imageSize, channels);
    if (preprocess.is_object()) {
        readJsonField(preprocess, "mean", p.imageMean, source);
        readJsonField(preprocess, "std", p.imageStd, source);
        if (preprocess.contains("interpolation") && preprocess["interpolation"] == "bilinear")
            p.resample = 2;
        if (preprocess.contains("resize_mode") && preprocess["resize_mode"].is_string() &&
            preprocess["resize_mode"] != "shortest")
            throw FileError(source, "preprocess_cfg.resize_mode \"" + preprocess["resize_mode"].get<std::string>() +
                                        "\" is not supported (only \"shortest\", CLIP's resize and center crop)");
    }
    return p;
}

ModelSource fromOpenAiNames(const std::string &path, const LazyTensorMap &tensors, const json &openClipConfig,
                            const std::string &format, const std::string &configPath)
{
    ModelSource s;
    s.path = path;
    s.format = format;
    s.modelType = "clip";
    const json modelCfg = openClipConfig.is_object() && openClipConfig.contains("model_cfg")
                              ? openClipConfig["model_cfg"]
                              : (openClipConfig.is_object() ? json::object() : json());
    const std::string actSource = openClipConfig.is_object()
                                      ? "open_clip_config.json model_cfg.quick_gelu (open_clip's default: exact GELU)"
                                      : "OpenAI's release (QuickGELU)";
    MappedModel m = mapOpenAiClip(tensors, modelCfg, actSource, path);
    s.config = std::move(m.config);
    s.configSource = "inferred from the tensor shapes (as OpenAI's build_model)";
    s.tensors = std::move(m.tensors);
    s.settings = std::move(m.settings);
    const int64_t size = s.config["vision_config"]["image_size"].get<int64_t>();
    const int64_t channels = s.config["vision_config"]["num_channels"].get<int64_t>();
    if (openClipConfig.is_object()) {
        s.processor = openClipProcessor(openClipConfig.value("preprocess_cfg", json()), size, channels, configPath);
        s.processorSource = "open_clip_config.json preprocess_cfg (CLIP's resize and center crop)";
    } else {
        s.processor = ImageProcessorConfig::clip(size, channels);
        s.processorSource = "OpenAI's release: CLIP mean and std, bicubic resize of the shortest side, center crop";
    }
    findTokenizer(fs::path(path).has_parent_path() && fs::is_regular_file(path) ? fs::path(path).parent_path() : fs::path(path), s);
    return s;
}

json readOpenClipConfig(const fs::path &dir)
{
    const fs::path p = dir / "open_clip_config.json";
    if (!fs::exists(p))
        return json();
    json j = readJsonFile(p.string());
    if (!j.is_object())
        throw FileError(p.string(), "expected a JSON object with model_cfg and preprocess_cfg");
    return j;
}

ModelSource fromFairNames(const std::string &path, const LazyTensorMap &tensors, const PickledCheckpoint *pickled)
{
    FairHints hints;
    hints.fileName = fs::path(path).filename().string();
    if (pickled) {
        const Value *args = pickled->pickled.root->get("args");
        const Value *state = args && args->kind == Kind::Object ? args->state.get() : nullptr;
        if (state) {
            if (const Value *m = state->get("model"); m && m->kind == Kind::String)
                hints.argsModel = m->text;
            if (const Value *n = state->get("norm_pix_loss"); n && n->kind == Kind::Bool)
                hints.normPixLoss = n->boolean ? 1 : 0;
            if (const Value *r = state->get("mask_ratio"); r && r->kind == Kind::Float)
                hints.maskRatio = r->real;
        }
    }
    MappedModel m = mapFairMae(tensors, hints, path);
    ModelSource s;
    s.path = path;
    s.modelType = "vit_mae";
    s.config = std::move(m.config);
    s.configSource = "inferred from the tensor shapes (FAIR's models_mae.py)";
    s.tensors = std::move(m.tensors);
    s.hasDecoder = m.hasDecoder;
    s.settings = std::move(m.settings);
    ImageProcessorConfig p;
    p.size = p.cropSize = s.config["image_size"].get<int64_t>();
    const int64_t channels = s.config["num_channels"].get<int64_t>();
    if (channels != 3)
        p.imageMean.assign(std::size_t(channels), 0.5f), p.imageStd.assign(std::size_t(channels), 0.5f);
    s.processor = p;
    s.processorSource = channels == 3 ? "FAIR's release: ImageNet mean and std, resized to the model's " +
                                            std::to_string(p.size) + " px"
                                      : "no release default for " + std::to_string(channels) + " channels: 0.5 / 0.5";
    if (!s.hasDecoder)
        s.notes.push_back("encoder only (FAIR's pretrain release): features and probes; to reconstruct, take the "
                          "file with the decoder (mae_visualize_vit_" +
                          std::string(s.config["hidden_size"] == 1280 ? "huge" : s.config["hidden_size"] == 1024 ? "large" : "base") +
                          ".pth, or the *_full.pth release)");
    return s;
}

// A loose file (safetensors or a PyTorch archive) or an archive already open (`opened`,
// from memory: then no file beside it is looked for), recognised by its tensor names.
ModelSource openFile(const fs::path &file, std::shared_ptr<TorchArchive> opened = nullptr)
{
    const std::string path = file.string();
    const fs::path dir = file.parent_path().empty() ? fs::path(".") : file.parent_path();
    const bool besideFiles = !opened;
    LazyTensorMap tensors;
    std::optional<PickledCheckpoint> pickled;
    std::string container;
    if (opened || !isSafetensorsFile(path)) {
        pickled = opened ? readPickled(std::move(opened)) : readPickled(path);
        tensors = pickled->tensors;
        container = pickled->archive->isTorchScript() ? "TorchScript archive, weights read without running its code"
                                                      : "torch.save zip, read without unpickling code";
    } else {
        tensors = stripPrefix(openSafetensors(path), "module.");
        container = "safetensors";
    }
    ModelSource s;
    s.weightsPath = path;
    if (hasFairMaeNames(tensors)) {
        s = fromFairNames(path, tensors, pickled ? &*pickled : nullptr);
        s.weightsPath = path;
        s.format = "FAIR MAE checkpoint (" + container + ")";
    } else if (hasOpenAiClipNames(tensors)) {
        const json openClip = besideFiles ? readOpenClipConfig(dir) : json();
        const bool isOpenAi = pickled && pickled->archive->isTorchScript();
        const bool useConfig = !isOpenAi && openClip.is_object();
        s = fromOpenAiNames(path, tensors, useConfig ? openClip : json(),
                            std::string(isOpenAi ? "OpenAI CLIP release" : useConfig ? "open_clip checkpoint" : "OpenAI-layout CLIP state dict") +
                                " (" + container + ")",
                            (dir / "open_clip_config.json").string());
        s.weightsPath = path;
        if (!isOpenAi && !useConfig)
            s.notes.push_back("no open_clip_config.json beside the file: OpenAI's QuickGELU assumed; open_clip's "
                              "LAION models use exact GELU, so put their open_clip_config.json next to the weights");
    } else if (tensors.count("vit.embeddings.cls_token") || tensors.count("vision_model.embeddings.class_embedding")) {
        if (!besideFiles || !fs::exists(dir / "config.json"))
            throw FileError(path, "Hugging Face tensor names, but no config.json beside the file: load the whole folder");
        return openHfFolder(dir, {});
    } else {
        std::string some;
        int n = 0;
        for (const auto &[name, _] : tensors)
            if (n++ < 4)
                some += (some.empty() ? "`" : ", `") + name + "`";
        throw FileError(path, "tensors of no model vitscope knows (" + some +
                                  ", ...): expected FAIR's MAE, OpenAI's or open_clip's CLIP ViT, or Hugging Face names");
    }
    if (pickled)
        if (const std::string n = placeholderNote(pickled->pickled); !n.empty())
            s.notes.push_back(n);
    return s;
}

} // namespace

ModelSource openModelSource(const std::string &path, const std::string &expectedType)
{
    std::error_code ec;
    const fs::path p(path);
    if (fs::is_directory(p, ec)) {
        if (fs::exists(p / "config.json"))
            return openHfFolder(p, expectedType);
        const json openClip = readOpenClipConfig(p);
        if (openClip.is_object()) {
            for (const char *weights : {"open_clip_model.safetensors", "open_clip_pytorch_model.bin"})
                if (fs::exists(p / weights))
                    return openFile(p / weights);
            throw FileError((p / "open_clip_model.safetensors").string(),
                            "missing: the folder has open_clip_config.json but neither open_clip_model.safetensors "
                            "nor open_clip_pytorch_model.bin");
        }
        throw FileError((p / "config.json").string(),
                        "missing: a model folder holds config.json (Hugging Face) or open_clip_config.json (open_clip)");
    }
    if (!fs::exists(p, ec))
        throw FileError(path, "missing");
    if (!fs::is_regular_file(p, ec))
        throw FileError(path, "not a file or folder");
    // A weights file of a Hugging Face folder: the folder is the model.
    const std::string name = p.filename().string();
    if ((name == "model.safetensors" || name == "pytorch_model.bin") && fs::exists(p.parent_path() / "config.json"))
        return openHfFolder(p.parent_path(), expectedType);
    return openFile(p);
}

ModelSource openModelArchive(std::shared_ptr<TorchArchive> archive)
{
    if (!archive)
        throw std::invalid_argument("openModelArchive: no archive");
    const std::string path = archive->path();
    return openFile(path, std::move(archive));
}

std::string modelTypeOf(const std::string &path)
{
    return openModelSource(path).modelType;
}

} // namespace vitscope

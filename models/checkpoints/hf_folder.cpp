#include "models/checkpoints/hf_folder.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/checkpoints/model_source.h"
#include "models/error.h"
#include "models/json_io.h"
#include "models/runtime/machine.h"

namespace fs = std::filesystem;

namespace vitscope {

using nlohmann::json;

std::string readModelType(const std::string &dir)
{
    const std::string path = (fs::path(dir) / "config.json").string();
    if (!fs::is_directory(dir))
        throw FileError(dir, fs::exists(dir) ? "not a folder: a model is a folder holding config.json" : "missing");
    const json j = readJsonFile(path);
    if (!j.is_object() || !j.contains("model_type") || !j["model_type"].is_string())
        throw FileError(path, "no model_type field: is this a Hugging Face model folder?");
    return j["model_type"];
}

void loadTensors(torch::nn::Module &module, const LazyTensorMap &tensors,
                 const std::function<std::string(const std::string &)> &fileName,
                 const std::set<std::string> &optional, const std::string &source)
{
    std::vector<std::string> problems;
    std::set<std::string> used;
    std::vector<std::pair<torch::Tensor, const LazyTensor *>> copies;
    auto shapeText = [](torch::IntArrayRef s) {
        std::ostringstream os;
        os << s;
        return os.str();
    };
    auto visit = [&](const std::string &ours, torch::Tensor &target) {
        const std::string theirs = fileName(ours);
        auto it = tensors.find(theirs);
        if (it == tensors.end()) {
            if (!optional.count(ours))
                problems.push_back("missing `" + theirs + "` expected " + shapeText(target.sizes()));
            return;
        }
        used.insert(theirs);
        if (torch::IntArrayRef(it->second.shape) != target.sizes()) {
            problems.push_back("`" + theirs + "` expected " + shapeText(target.sizes()) + " found " +
                               shapeText(it->second.shape));
            return;
        }
        if (!c10::isFloatingType(it->second.dtype)) {
            problems.push_back("`" + theirs + "` has integer dtype " + std::string(c10::toString(it->second.dtype)));
            return;
        }
        copies.emplace_back(target, &it->second);
    };
    for (auto &p : module.named_parameters(true))
        visit(p.key(), p.value());
    for (auto &b : module.named_buffers(true))
        visit(b.key(), b.value());
    for (const auto &[name, t] : tensors)
        if (!used.count(name))
            problems.push_back("unexpected `" + name + "` " + shapeText(t.shape));
    if (!problems.empty()) {
        std::string msg = std::to_string(problems.size()) + " tensor problem(s): ";
        const std::size_t shown = std::min<std::size_t>(problems.size(), 12);
        for (std::size_t i = 0; i < shown; ++i)
            msg += (i ? "; " : "") + problems[i];
        if (shown < problems.size())
            msg += "; and " + std::to_string(problems.size() - shown) + " more";
        msg += ". Is config.json from another model?";
        throw FileError(source, msg);
    }
    torch::NoGradGuard noGrad;
    // One tensor in memory at a time besides the model.
    for (auto &[target, lazy] : copies) {
        torch::Tensor value = lazy->read();
        if (value.sizes() != target.sizes() || value.scalar_type() != lazy->dtype)
            throw FileError(source, "a tensor read back with another shape or dtype than its header says");
        target.copy_(value.to(target.device(), target.scalar_type()));
    }
}

void loadTensors(torch::nn::Module &module, const TensorMap &tensors,
                 const std::function<std::string(const std::string &)> &fileName,
                 const std::set<std::string> &optional, const std::string &source)
{
    loadTensors(module, lazyTensors(tensors), fileName, optional, source);
}

namespace {

// config.json's path for messages: the folder's file, or the checkpoint itself.
std::string configPathOf(const ModelSource &s)
{
    return s.configSource == "config.json" ? (fs::path(s.path) / "config.json").string() : s.path;
}

} // namespace

namespace {

// What the weight files of `path` take on disk: the file itself, or a folder's weights.
double weightBytesOnDisk(const std::string &path)
{
    std::error_code ec;
    if (!fs::is_directory(path, ec))
        return double(fs::file_size(path, ec));
    double total = 0;
    for (const auto &e : fs::directory_iterator(path, ec)) {
        const std::string ext = e.path().extension().string();
        if (ext == ".safetensors" || ext == ".bin" || ext == ".pth" || ext == ".pt")
            total += double(e.file_size(ec));
    }
    return total;
}

std::string sizeText(double bytes)
{
    char buf[32];
    std::snprintf(buf, sizeof buf, bytes >= 1e9 ? "%.1f GB" : "%.1f MB", bytes >= 1e9 ? bytes / 1e9 : bytes / 1e6);
    return buf;
}

bool isOutOfMemory(const std::exception &e)
{
    if (dynamic_cast<const std::bad_alloc *>(&e))
        return true;
    const std::string what = e.what();
    return what.find("can't allocate memory") != std::string::npos ||
           what.find("Cannot allocate memory") != std::string::npos;
}

LoadedMae loadMaeUnguarded(const std::string &path, torch::Device device);
LoadedClip loadClipUnguarded(const std::string &path, torch::Device device);

} // namespace

void translateOutOfMemory(const std::string &path, const std::function<void()> &load)
{
    try {
        load();
    } catch (const Error &) {
        throw;
    } catch (const std::exception &e) {
        if (!isOutOfMemory(e))
            throw;
        const MemoryLimit limit = memoryLimit();
        throw FileError(path, "not enough memory to load this model: its weights take " +
                                  sizeText(weightBytesOnDisk(path)) + " on disk" +
                                  (limit.bytes ? ", and this process may use " + sizeText(double(limit.bytes)) +
                                                     " (" + limit.what + ")"
                                               : std::string()) +
                                  "; close other models, or raise the limit");
    }
}

LoadedMae loadMae(const std::string &path, torch::Device device)
{
    LoadedMae out;
    translateOutOfMemory(path, [&] { out = loadMaeUnguarded(path, device); });
    return out;
}

LoadedClip loadClip(const std::string &path, torch::Device device)
{
    LoadedClip out;
    translateOutOfMemory(path, [&] { out = loadClipUnguarded(path, device); });
    return out;
}

namespace {

LoadedMae loadMaeUnguarded(const std::string &path, torch::Device device)
{
    ModelSource src = openModelSource(path, "vit_mae");
    if (src.modelType != "vit_mae")
        throw FileError(configPathOf(src), "model_type is \"" + src.modelType + "\", expected \"vit_mae\" (an MAE model)");
    LoadedMae out;
    out.dir = path;
    out.hasDecoder = src.hasDecoder;
    out.origin = static_cast<const ModelOrigin &>(src);
    const MaeConfig config = MaeConfig::fromJson(src.config, configPathOf(src));
    if (src.processor) {
        out.processor = *src.processor;
    } else {
        out.processor.size = out.processor.cropSize = config.imageSize; // transformers' ViT defaults
        out.origin.processorSource = "transformers' ViTImageProcessor defaults (ImageNet mean and std)";
    }
    if (int64_t(out.processor.imageMean.size()) != config.numChannels)
        throw FileError(path, "image_mean has " + std::to_string(out.processor.imageMean.size()) +
                                  " values for a " + std::to_string(config.numChannels) + "-channel model");
    out.model = Mae(config);
    std::set<std::string> optional = {"pos_embed", "decoder_pos_embed"};
    if (!src.hasDecoder) {
        for (auto &p : out.model->named_parameters(true))
            if (MaeImpl::hfName(p.key()).rfind("decoder.", 0) == 0)
                optional.insert(p.key());
    }
    loadTensors(*out.model, src.tensors, &MaeImpl::hfName, optional, src.weightsPath);
    out.model->to(device);
    out.model->eval();
    return out;
}

} // namespace

void requireDecoder(const LoadedMae &loaded, const std::string &what)
{
    if (loaded.hasDecoder)
        return;
    std::string hint = "take weights with the decoder";
    for (const auto &n : loaded.origin.notes)
        if (n.rfind("encoder only", 0) == 0)
            hint = n;
    throw FileError(loaded.dir, what + " needs the MAE decoder, which this file does not have: " + hint);
}

namespace {

// Creates `dir` and writes what every model folder has: model.safetensors (Hugging Face
// names), config.json and preprocessor_config.json; each file replaced atomically.
void writeModelFiles(const std::string &dir, const TensorMap &tensors, const json &config,
                     const ImageProcessorConfig &processor)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw FileError(dir, "cannot create folder: " + ec.message());
    writeSafetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
    writeJsonFile((fs::path(dir) / "config.json").string(), config);
    writeJsonFile((fs::path(dir) / "preprocessor_config.json").string(), processor.toJson());
}

} // namespace

void saveMaeFolder(Mae &model, const ImageProcessorConfig &processor, const std::string &dir)
{
    TensorMap tensors;
    for (auto &p : model->named_parameters(true))
        if (p.key() != "encoder_mask_token")
            tensors[MaeImpl::hfName(p.key())] = p.value();
    for (auto &b : model->named_buffers(true))
        tensors[MaeImpl::hfName(b.key())] = b.value();
    writeModelFiles(dir, tensors, model->config.toJson(), processor);
}


namespace {

LoadedClip loadClipUnguarded(const std::string &path, torch::Device device)
{
    ModelSource src = openModelSource(path, "clip");
    if (src.modelType != "clip")
        throw FileError(configPathOf(src), "model_type is \"" + src.modelType + "\", expected \"clip\" (a CLIP model)");
    const std::string configPath = configPathOf(src);
    LoadedClip out;
    out.dir = path;
    out.origin = static_cast<const ModelOrigin &>(src);
    const ClipConfig config = ClipConfig::fromJson(src.config, configPath);

    const std::string procPath = src.processorSource == "preprocessor_config.json"
                                     ? (fs::path(src.path) / "preprocessor_config.json").string()
                                     : path;
    if (src.processor) {
        out.processor = *src.processor;
        out.processor.doCenterCrop = true;
    } else {
        out.processor = ImageProcessorConfig::clip(config.vision.imageSize, config.vision.numChannels);
        out.origin.processorSource = "CLIPImageProcessor defaults (CLIP mean and std, shortest side, center crop)";
    }
    if (out.processor.cropSize != config.vision.imageSize)
        throw FileError(procPath, "crop_size " + std::to_string(out.processor.cropSize) +
                                      " differs from the model's image_size " +
                                      std::to_string(config.vision.imageSize));
    if (int64_t(out.processor.imageMean.size()) != config.vision.numChannels)
        throw FileError(procPath, "image_mean has " + std::to_string(out.processor.imageMean.size()) +
                                      " values for a " + std::to_string(config.vision.numChannels) +
                                      "-channel model");

    std::shared_ptr<ClipTokenizer> tokenizer;
    std::string vocab = src.vocabPath;
    if (!src.vocabPath.empty()) {
        tokenizer = std::make_shared<ClipTokenizer>(
            ClipTokenizer::fromFiles(src.vocabPath, src.mergesPath, config.text.maxPositionEmbeddings));
        out.origin.tokenizerSource = src.vocabPath + " + merges.txt";
    } else if (!src.bpePath.empty()) {
        tokenizer = std::make_shared<ClipTokenizer>(
            ClipTokenizer::fromOpenAiBpe(src.bpePath, config.text.maxPositionEmbeddings));
        vocab = src.bpePath;
        out.origin.tokenizerSource = src.bpePath + " (OpenAI's BPE file)";
    } else {
        const fs::path p(path);
        const fs::path dir = fs::is_directory(p) ? p : p.parent_path();
        throw FileError((dir / "vocab.json").string(),
                        "missing: CLIP needs its tokenizer. Put vocab.json + merges.txt (from any Hugging Face CLIP "
                        "folder, e.g. openai/clip-vit-base-patch32) or OpenAI's bpe_simple_vocab_16e6.txt.gz beside the "
                        "weights, or set VITSCOPE_CLIP_TOKENIZER to such a folder or file");
    }
    if (tokenizer->vocabSize() > config.text.vocabSize)
        throw FileError(vocab, "holds ids up to " + std::to_string(tokenizer->vocabSize() - 1) +
                                   " but the model's vocab_size is " + std::to_string(config.text.vocabSize));
    if (config.text.eosTokenId != 2 && config.text.eosTokenId != tokenizer->endId())
        throw FileError(configPath, "text_config.eos_token_id " + std::to_string(config.text.eosTokenId) +
                                        " is not the id of <|endoftext|> in the vocabulary (" +
                                        std::to_string(tokenizer->endId()) + ")");
    if (config.text.eosTokenId == 2 && tokenizer->endId() != tokenizer->vocabSize() - 1)
        throw FileError(configPath, "eos_token_id 2 means \"end-of-text has the largest id\", but <|endoftext|> is " +
                                        std::to_string(tokenizer->endId()) + " of " +
                                        std::to_string(tokenizer->vocabSize()));
    out.tokenizer = tokenizer;

    // Older transformers saved the position_ids buffers (0..n-1); they carry nothing.
    for (const char *ids : {"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"})
        src.tensors.erase(ids);
    out.model = Clip(config);
    loadTensors(*out.model, src.tensors, &ClipImpl::hfName, {}, src.weightsPath);
    out.model->to(device);
    out.model->eval();
    return out;
}

} // namespace

void saveClipFolder(Clip &model, const ClipTokenizer &tokenizer, const ImageProcessorConfig &processor,
                    const std::string &dir)
{
    TensorMap tensors;
    for (auto &p : model->named_parameters(true))
        tensors[ClipImpl::hfName(p.key())] = p.value();
    writeModelFiles(dir, tensors, model->config.toJson(), processor);
    tokenizer.save((fs::path(dir) / "vocab.json").string(), (fs::path(dir) / "merges.txt").string());
    const json special = {{"bos_token", ClipTokenizer::kStartToken},
                          {"eos_token", ClipTokenizer::kEndToken},
                          {"unk_token", ClipTokenizer::kEndToken},
                          {"pad_token", ClipTokenizer::kEndToken}};
    json tokConfig = special;
    tokConfig["tokenizer_class"] = "CLIPTokenizer";
    tokConfig["model_max_length"] = tokenizer.contextLength();
    tokConfig["do_lower_case"] = true;
    tokConfig["errors"] = "replace";
    writeJsonFile((fs::path(dir) / "tokenizer_config.json").string(), tokConfig);
    writeJsonFile((fs::path(dir) / "special_tokens_map.json").string(), special);
}

} // namespace vitscope

#include "models/hf_folder.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "models/error.h"
#include "models/json_field.h"

namespace fs = std::filesystem;

namespace vitscope {

using nlohmann::json;

json readJsonFile(const std::string &path)
{
    std::ifstream in(path);
    if (!in)
        throw FileError(path, fs::exists(path) ? std::string("cannot open: ") + std::strerror(errno) : "missing");
    try {
        return json::parse(in);
    } catch (const json::parse_error &e) {
        throw FileError(path, std::string("not valid JSON: ") + e.what());
    }
}

void writeJsonFile(const std::string &path, const json &j)
{
    const std::string tmp = path + ".partial";
    {
        std::ofstream out(tmp, std::ios::trunc);
        if (!out)
            throw FileError(path, std::string("cannot create: ") + std::strerror(errno));
        out << j.dump(2) << "\n";
        out.flush();
        if (!out) {
            const int err = errno; // what write(2) said: ENOSPC, EFBIG, EDQUOT, EIO...
            throw FileError(path, std::string("write failed (") + (err ? std::strerror(err) : "unknown error") + ")");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec)
        throw FileError(path, "cannot replace: " + ec.message());
}

ImageProcessorConfig ImageProcessorConfig::clip(int64_t imageSize, int64_t channels)
{
    ImageProcessorConfig c;
    c.size = c.cropSize = imageSize;
    c.doCenterCrop = true;
    c.processorType = "CLIPImageProcessor";
    if (channels == 1) {
        // The luma of OpenAI's RGB mean and std (ITU-R 601 weights).
        c.imageMean = {0.299f * 0.48145466f + 0.587f * 0.4578275f + 0.114f * 0.40821073f};
        c.imageStd = {0.299f * 0.26862954f + 0.587f * 0.26130258f + 0.114f * 0.27577711f};
    } else {
        c.imageMean = {0.48145466f, 0.4578275f, 0.40821073f};
        c.imageStd = {0.26862954f, 0.26130258f, 0.27577711f};
    }
    return c;
}

json ImageProcessorConfig::toJson() const
{
    json j = jsonWithoutExtensions();
    if (padSmaller)
        j["vitscope_pad_smaller"] = true;
    return j;
}

json ImageProcessorConfig::jsonWithoutExtensions() const
{
    if (doCenterCrop)
        return json{{"image_processor_type", processorType},
                    {"do_resize", true},
                    {"size", {{"shortest_edge", size}}},
                    {"do_center_crop", true},
                    {"crop_size", {{"height", cropSize}, {"width", cropSize}}},
                    {"resample", resample},
                    {"do_normalize", doNormalize},
                    {"image_mean", imageMean},
                    {"image_std", imageStd},
                    {"do_rescale", true},
                    {"rescale_factor", 1.0 / 255.0},
                    {"do_convert_rgb", true}};
    return json{{"image_processor_type", processorType},
                {"do_resize", true},
                {"size", {{"height", size}, {"width", size}}},
                {"resample", resample},
                {"do_normalize", doNormalize},
                {"image_mean", imageMean},
                {"image_std", imageStd},
                {"do_rescale", true},
                {"rescale_factor", 1.0 / 255.0}};
}

ImageProcessorConfig ImageProcessorConfig::fromJson(const json &j, const std::string &source)
{
    ImageProcessorConfig c;
    try {
        auto readSize = [&](const json &s) -> int64_t {
            int64_t value = 0;
            if (s.is_number()) {
                readJsonValue(s, value, source, "size");
                return value;
            }
            if (s.is_object() && s.contains("shortest_edge")) {
                readJsonValue(s["shortest_edge"], value, source, "shortest_edge");
                return value;
            }
            if (s.is_object() && s.contains("height")) {
                if (s.contains("width") && s["width"] != s["height"])
                    throw FileError(source, "non-square size " + s.dump() + " is not supported");
                readJsonValue(s["height"], value, source, "height");
                return value;
            }
            throw FileError(source, "cannot read size " + s.dump());
        };
        if (j.contains("size"))
            c.size = readSize(j["size"]);
        c.cropSize = j.contains("crop_size") ? readSize(j["crop_size"]) : c.size;
        c.doCenterCrop = j.contains("crop_size");
        readJsonField(j, "do_center_crop", c.doCenterCrop, source);
        readJsonField(j, "image_mean", c.imageMean, source);
        readJsonField(j, "image_std", c.imageStd, source);
        readJsonField(j, "do_normalize", c.doNormalize, source);
        readJsonField(j, "vitscope_pad_smaller", c.padSmaller, source);
        readJsonField(j, "resample", c.resample, source);
        if (j.contains("image_processor_type"))
            c.processorType = j["image_processor_type"].get<std::string>();
        else if (j.contains("feature_extractor_type"))
            c.processorType = j["feature_extractor_type"].get<std::string>();
    } catch (const json::exception &e) {
        throw FileError(source, std::string("unexpected field type: ") + e.what());
    }
    if (c.size <= 0 || c.cropSize <= 0 || c.size > 8192 || c.cropSize > 8192)
        throw FileError(source, "image size " + std::to_string(c.size) + " is outside 1..8192");
    if (c.imageMean.size() != c.imageStd.size() || c.imageMean.empty())
        throw FileError(source, "image_mean and image_std must have one value per channel");
    for (float s : c.imageStd)
        if (!(s > 0))
            throw FileError(source, "image_std values must be positive");
    return c;
}

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

void loadTensors(torch::nn::Module &module, const TensorMap &tensors,
                 const std::function<std::string(const std::string &)> &fileName,
                 const std::set<std::string> &optional, const std::string &source)
{
    std::vector<std::string> problems;
    std::set<std::string> used;
    std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;
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
        if (it->second.sizes() != target.sizes()) {
            problems.push_back("`" + theirs + "` expected " + shapeText(target.sizes()) + " found " +
                               shapeText(it->second.sizes()));
            return;
        }
        if (!it->second.is_floating_point()) {
            problems.push_back("`" + theirs + "` has integer dtype " + std::string(c10::toString(it->second.scalar_type())));
            return;
        }
        copies.emplace_back(target, it->second);
    };
    for (auto &p : module.named_parameters(true))
        visit(p.key(), p.value());
    for (auto &b : module.named_buffers(true))
        visit(b.key(), b.value());
    for (const auto &[name, t] : tensors)
        if (!used.count(name))
            problems.push_back("unexpected `" + name + "` " + shapeText(t.sizes()));
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
    for (auto &[target, value] : copies)
        target.copy_(value.to(target.device(), target.scalar_type()));
}

namespace {

// config.json's path, after checking that its model_type is `expected`.
std::string requireModelType(const std::string &dir, const std::string &expected, const std::string &what)
{
    const std::string type = readModelType(dir);
    const std::string configPath = (fs::path(dir) / "config.json").string();
    if (type != expected)
        throw FileError(configPath, "model_type is \"" + type + "\", expected \"" + expected + "\" (" + what + ")");
    return configPath;
}

// model.safetensors of a folder. A pickle (pytorch_model.bin) is never loaded.
TensorMap readWeights(const std::string &dir)
{
    const std::string weights = (fs::path(dir) / "model.safetensors").string();
    if (!fs::exists(weights)) {
        const bool pickled = fs::exists(fs::path(dir) / "pytorch_model.bin");
        throw FileError(weights, pickled ? "missing: this folder only has pytorch_model.bin (a pickle, never "
                                           "loaded here); convert it to safetensors"
                                         : "missing");
    }
    return readSafetensors(weights);
}

} // namespace

LoadedMae loadMaeFolder(const std::string &dir, torch::Device device)
{
    const std::string configPath = requireModelType(dir, "vit_mae", "an MAE model");
    LoadedMae out;
    out.dir = dir;
    const MaeConfig config = MaeConfig::fromJson(readJsonFile(configPath), configPath);
    const std::string procPath = (fs::path(dir) / "preprocessor_config.json").string();
    if (fs::exists(procPath))
        out.processor = ImageProcessorConfig::fromJson(readJsonFile(procPath), procPath);
    else
        out.processor.size = out.processor.cropSize = config.imageSize; // transformers' ViT defaults
    if (int64_t(out.processor.imageMean.size()) != config.numChannels)
        throw FileError(procPath, "image_mean has " + std::to_string(out.processor.imageMean.size()) +
                                      " values for a " + std::to_string(config.numChannels) + "-channel model");

    const std::string weights = (fs::path(dir) / "model.safetensors").string();
    TensorMap tensors = readWeights(dir);
    // Encoder-only checkpoints (ViTMAEModel) lack the "vit." prefix and the decoder.
    if (!tensors.count("vit.embeddings.cls_token") && tensors.count("embeddings.cls_token"))
        throw FileError(weights, "holds an encoder only (ViTMAEModel): reconstruction needs "
                                 "ViTMAEForPreTraining weights with the decoder");
    out.model = Mae(config);
    loadTensors(*out.model, tensors, &MaeImpl::hfName, {"pos_embed", "decoder_pos_embed"}, weights);
    out.model->to(device);
    out.model->eval();
    return out;
}

void saveMaeFolder(Mae &model, const ImageProcessorConfig &processor, const std::string &dir)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw FileError(dir, "cannot create folder: " + ec.message());
    TensorMap tensors;
    for (auto &p : model->named_parameters(true))
        if (p.key() != "encoder_mask_token")
            tensors[MaeImpl::hfName(p.key())] = p.value();
    for (auto &b : model->named_buffers(true))
        tensors[MaeImpl::hfName(b.key())] = b.value();
    writeSafetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
    writeJsonFile((fs::path(dir) / "config.json").string(), model->config.toJson());
    writeJsonFile((fs::path(dir) / "preprocessor_config.json").string(), processor.toJson());
}


LoadedClip loadClipFolder(const std::string &dir, torch::Device device)
{
    const std::string configPath = requireModelType(dir, "clip", "a CLIP model");
    LoadedClip out;
    out.dir = dir;
    const ClipConfig config = ClipConfig::fromJson(readJsonFile(configPath), configPath);

    const std::string procPath = (fs::path(dir) / "preprocessor_config.json").string();
    if (fs::exists(procPath)) {
        out.processor = ImageProcessorConfig::fromJson(readJsonFile(procPath), procPath);
        out.processor.doCenterCrop = true;
    } else {
        out.processor = ImageProcessorConfig::clip(config.vision.imageSize, config.vision.numChannels);
    }
    if (out.processor.cropSize != config.vision.imageSize)
        throw FileError(procPath, "crop_size " + std::to_string(out.processor.cropSize) +
                                      " differs from the model's image_size " +
                                      std::to_string(config.vision.imageSize));
    if (int64_t(out.processor.imageMean.size()) != config.vision.numChannels)
        throw FileError(procPath, "image_mean has " + std::to_string(out.processor.imageMean.size()) +
                                      " values for a " + std::to_string(config.vision.numChannels) +
                                      "-channel model");

    const std::string vocab = (fs::path(dir) / "vocab.json").string();
    const std::string merges = (fs::path(dir) / "merges.txt").string();
    auto tokenizer = std::make_shared<ClipTokenizer>(
        ClipTokenizer::fromFiles(vocab, merges, config.text.maxPositionEmbeddings));
    if (tokenizer->vocabSize() > config.text.vocabSize)
        throw FileError(vocab, "holds ids up to " + std::to_string(tokenizer->vocabSize() - 1) +
                                   " but the model's vocab_size is " + std::to_string(config.text.vocabSize));
    if (config.text.eosTokenId != 2 && config.text.eosTokenId != tokenizer->endId())
        throw FileError(configPath, "text_config.eos_token_id " + std::to_string(config.text.eosTokenId) +
                                        " is not the id of <|endoftext|> in vocab.json (" +
                                        std::to_string(tokenizer->endId()) + ")");
    if (config.text.eosTokenId == 2 && tokenizer->endId() != tokenizer->vocabSize() - 1)
        throw FileError(configPath, "eos_token_id 2 means \"end-of-text has the largest id\", but <|endoftext|> is " +
                                        std::to_string(tokenizer->endId()) + " of " +
                                        std::to_string(tokenizer->vocabSize()));
    out.tokenizer = tokenizer;

    const std::string weights = (fs::path(dir) / "model.safetensors").string();
    TensorMap tensors = readWeights(dir);
    // Older transformers saved the position_ids buffers (0..n-1); they carry nothing.
    for (const char *ids : {"text_model.embeddings.position_ids", "vision_model.embeddings.position_ids"})
        tensors.erase(ids);
    out.model = Clip(config);
    loadTensors(*out.model, tensors, &ClipImpl::hfName, {}, weights);
    out.model->to(device);
    out.model->eval();
    return out;
}

void saveClipFolder(Clip &model, const ClipTokenizer &tokenizer, const ImageProcessorConfig &processor,
                    const std::string &dir)
{
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec)
        throw FileError(dir, "cannot create folder: " + ec.message());
    TensorMap tensors;
    for (auto &p : model->named_parameters(true))
        tensors[ClipImpl::hfName(p.key())] = p.value();
    writeSafetensors((fs::path(dir) / "model.safetensors").string(), tensors, {{"format", "pt"}});
    writeJsonFile((fs::path(dir) / "config.json").string(), model->config.toJson());
    writeJsonFile((fs::path(dir) / "preprocessor_config.json").string(), processor.toJson());
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

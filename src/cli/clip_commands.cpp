// vitscope-cli's CLIP commands: tokenize, embed, zeroshot, bench clip-image, bench clip-text.
#include <filesystem>
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/runtime/allocator.h"
#include "models/runtime/timing.h"
#include "models/runtime/device.h"
#include "models/error.h"
#include "models/checkpoints/model_source.h"
#include "models/checkpoints/hf_folder.h"
#include "models/image_preprocess.h"
#include "models/kernels/fast_paths.h"
#include "models/zero_shot.h"
#include "src/cli/commands.h"
#include "models/runtime/data_files.h"
#include "models/json_io.h"
#include "trainer/data/images.h"
#include "vitscope/version.h"

namespace vitscope::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr int64_t kImageBatch = 32;

json rows(const torch::Tensor &t)
{
    auto c = t.to(torch::kCPU, torch::kFloat32).contiguous();
    json out = json::array();
    for (int64_t i = 0; i < c.size(0); ++i)
        out.push_back(std::vector<float>(c[i].data_ptr<float>(), c[i].data_ptr<float>() + c.size(1)));
    return out;
}

torch::Tensor loadPixels(const std::string &path, const LoadedClip &clip)
{
    return preprocessImage(data::rgbToTensor(data::loadImageRgb(path)), clip.processor,
                           clip.model->config.vision.numChannels);
}

// --dtype float32|bf16: the weights' (and inputs') type for inference benchmarks.
torch::ScalarType benchDtype(Args &args)
{
    const std::string name = args.value("dtype", "float32");
    if (name == "float32")
        return torch::kFloat32;
    if (name == "bf16")
        return torch::kBFloat16;
    throw UsageError("--dtype takes float32 or bf16");
}

// The fields every CLIP throughput benchmark reports.
json benchFields(torch::Device device, torch::ScalarType dtype, const std::string &attention,
                 const bench::Timing &t)
{
    return {{"device", device.str()},
            {"precision", dtype == torch::kBFloat16 ? "bf16 weights" : "float32"},
            {"attention", attention},
            {"fast_paths", fastPathsName(fastPaths())},
            {"allocator", configureAllocator().description},
            {"linear_kernel", device.is_cpu() && dtype == torch::kFloat32 ? linearKernelSummary() : "torch"},
            {"threads", at::get_num_threads()},
            {"batch_s_median", t.median()},
            {"batch_s", t.seconds}};
}

// What every CLIP benchmark reads: the model (a folder, bundled name or Hub id, with its
// tokenizer; or random weights of a preset's shapes), the device, the weights' type and
// the attention kernel. prepare() moves the model once the options are all read.
struct ClipBench {
    std::string what;
    std::unique_ptr<LoadedClip> loaded; // none for a preset
    Clip model{nullptr};
    std::string deviceSpec;
    torch::ScalarType dtype = torch::kFloat32;
    std::string attention;
    torch::Device device{torch::kCPU};

    explicit ClipBench(Args &args)
        : deviceSpec(args.value("device", "auto")), dtype(benchDtype(args)), attention(benchAttentionOption(args))
    {
        const auto dir = args.value("model");
        const auto preset = args.value("preset");
        if (dir && preset)
            throw UsageError("give --model or --preset, not both");
        if (dir) {
            loaded = std::make_unique<LoadedClip>(loadClip(resolveModelArg(*dir)));
            model = loaded->model;
            what = *dir;
        } else {
            what = "random weights, preset " + preset.value_or("vit-b32");
            torch::manual_seed(0);
            model = Clip(ClipConfig::preset(preset.value_or("vit-b32")));
        }
    }

    void prepare()
    {
        device = parseDevice(deviceSpec);
        model->to(device, dtype);
        model->eval();
    }
};

} // namespace

json clipInfo(const std::string &dir)
{
    LoadedClip loaded = loadClip(dir);
    auto count = [](torch::nn::Module &m) {
        int64_t n = 0;
        for (const auto &p : m.parameters())
            n += p.numel();
        return n;
    };
    const auto &c = loaded.model->config;
    return json{{"model", dir},
                {"type", "clip"},
                {"config", c.toJson()},
                {"preprocessor", loaded.processor.toJson()},
                {"parameters", count(*loaded.model)},
                {"vision_parameters", count(*loaded.model->visionModel)},
                {"text_parameters", count(*loaded.model->textModel)},
                {"vocabulary", loaded.tokenizer->vocabSize()},
                {"context_length", loaded.tokenizer->contextLength()},
                {"logit_scale", loaded.model->logitScale.item<double>()},
                {"scale", loaded.model->scale().item<double>()},
                {"patch_grid", c.vision.gridSize()},
                {"patches", c.vision.patchCount()},
                {"source", originJson(loaded.origin)}};
}

int tokenizeCommand(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    const bool truncate = args.flag("truncate");
    const auto texts = args.positionals();
    args.finish();
    if (texts.empty())
        throw UsageError("give at least one TEXT to tokenize");
    const std::string configPath = (fs::path(dir) / "config.json").string();
    const std::string type = modelTypeOf(dir);
    if (type != "clip")
        throw FileError(configPath, "model_type is \"" + type + "\": only CLIP models have a tokenizer");
    const ClipConfig config = ClipConfig::fromJson(readJsonFile(configPath), configPath);
    const auto tok = ClipTokenizer::fromFiles((fs::path(dir) / "vocab.json").string(),
                                              (fs::path(dir) / "merges.txt").string(),
                                              config.text.maxPositionEmbeddings);
    json ids = json::array(), tokens = json::array();
    for (const auto &t : texts) {
        ids.push_back(tok.encode(t, truncate ? Truncation::Truncate : Truncation::Error));
        tokens.push_back(tok.tokenize(t));
    }
    std::cout << json{{"ids", ids}, {"tokens", tokens}}.dump(2) << std::endl;
    return 0;
}

int embedCommand(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    const auto images = args.values("image");
    const auto texts = args.values("text");
    const std::string deviceSpec = args.value("device", "cpu");
    args.finish();
    if (images.empty() && texts.empty())
        throw UsageError("give at least one --image FILE or --text STR");
    const torch::Device device = parseDevice(deviceSpec);
    LoadedClip clip = loadClip(dir, device);
    torch::NoGradGuard noGrad;
    json out;
    if (!images.empty()) {
        std::vector<torch::Tensor> pixels;
        for (const auto &path : images)
            pixels.push_back(loadPixels(path, clip));
        out["image_embeds"] = rows(clip.model->imageFeatures(torch::stack(pixels).to(device)));
    }
    if (!texts.empty()) {
        std::vector<std::vector<int64_t>> ids;
        for (const auto &t : texts)
            ids.push_back(clip.tokenizer->encode(t));
        out["text_embeds"] = rows(clip.model->textFeatures(ids));
    }
    out["logit_scale"] = clip.model->logitScale.item<double>();
    out["scale"] = clip.model->scale().item<double>();
    std::cout << out.dump() << std::endl;
    return 0;
}

int zeroshotCommand(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    const std::string labelText = args.required("labels");
    auto templates = args.values("template");
    const auto templatesFile = args.value("templates-file");
    const bool single = args.flag("single-template");
    auto images = args.values("image");
    const auto folders = args.values("folder");
    const auto topk = args.integer("top-k", 5);
    const std::string deviceSpec = args.value("device", "cpu");
    args.finish();
    const auto labels = parseClassNames(labelText);
    if (labels.empty())
        throw UsageError("--labels needs at least one class name (comma-separated)");
    if (images.empty() && folders.empty())
        throw UsageError("give at least one --image FILE or --folder DIR");
    if (topk < 1)
        throw UsageError("--top-k must be >= 1");
    if (templatesFile) {
        auto more = readTemplateFile(*templatesFile);
        templates.insert(templates.end(), more.begin(), more.end());
    }
    for (const auto &t : templates)
        if (t.find("{}") == std::string::npos)
            throw UsageError("template '" + t + "' has no {} for the class name");
    if (templates.empty())
        templates = readTemplateFile(findDataFile("templates/clip_templates.txt"));

    // Files from folders: unreadable images are skipped and reported, not fatal.
    std::vector<std::pair<std::string, std::string>> items; // (path, folder-derived true label or "")
    for (const auto &p : images)
        items.emplace_back(p, "");
    for (const auto &f : folders)
        for (const auto &p : data::listImageFiles(f))
            items.emplace_back(p, fs::path(p).parent_path().filename().string());
    std::map<std::string, int64_t> labelIndex;
    for (std::size_t i = 0; i < labels.size(); ++i)
        labelIndex[labels[i]] = int64_t(i);

    const torch::Device device = parseDevice(deviceSpec);
    LoadedClip clip = loadClip(dir, device);
    ZeroShotClassifier classifier(clip.model, clip.tokenizer, dir);
    const auto classes = classifier.classEmbeddings(labels, templates, !single);

    json results = json::array(), skipped = json::array();
    int64_t scored = 0, correct = 0;
    for (std::size_t start = 0; start < items.size(); start += kImageBatch) {
        std::vector<torch::Tensor> pixels;
        std::vector<std::size_t> which;
        for (std::size_t i = start; i < std::min(items.size(), start + kImageBatch); ++i) {
            try {
                pixels.push_back(loadPixels(items[i].first, clip));
                which.push_back(i);
            } catch (const Error &e) {
                if (items[i].second.empty() && i < images.size())
                    throw; // an image named on the command line must load
                skipped.push_back({{"image", items[i].first}, {"error", e.what()}});
            }
        }
        if (pixels.empty())
            continue;
        auto probs = classifier.probabilities(classifier.imageFeatures(torch::stack(pixels)), classes);
        for (std::size_t r = 0; r < which.size(); ++r) {
            const auto &[path, truth] = items[which[r]];
            json row{{"image", path}};
            json p = json::object();
            for (std::size_t k = 0; k < labels.size(); ++k)
                p[labels[k]] = probs[int64_t(r)][int64_t(k)].item<double>();
            row["probabilities"] = p;
            json top = json::array();
            for (const auto &s : topK(probs[int64_t(r)], topk))
                top.push_back({{"label", labels[std::size_t(s.index)]}, {"probability", s.probability}});
            row["top"] = top;
            row["label"] = top[0]["label"];
            if (labelIndex.count(truth)) {
                row["folder_label"] = truth;
                ++scored;
                correct += top[0]["label"] == truth;
            }
            results.push_back(row);
        }
    }
    json out{{"model", dir},
             {"labels", labels},
             {"templates", single ? std::vector<std::string>{templates[0]} : templates},
             {"ensemble", !single},
             {"results", results}};
    if (!skipped.empty())
        out["skipped"] = skipped;
    if (scored > 0)
        out["accuracy"] = {{"correct", correct}, {"scored", scored}, {"top1", double(correct) / double(scored)}};
    std::cout << out.dump(2) << std::endl;
    return 0;
}

namespace {

// The image tower's multiply-adds times two, per image: the patch embedding, every block
// (q, k, v and output products 8 T D^2, the MLP 4 T D M, scores and their use 4 T^2 D),
// the projection. Norms, softmax and activations are left out, as in the papers' counts.
double clipImageFlops(const ClipConfig &c)
{
    const auto &v = c.vision;
    const double L = double(v.patchCount()), T = L + 1, D = double(v.hiddenSize), M = double(v.intermediateSize);
    const double P = double(v.numChannels * v.patchSize * v.patchSize);
    return 2 * L * P * D + double(v.numHiddenLayers) * (8 * T * D * D + 4 * T * D * M + 4 * T * T * D) +
           2 * D * double(c.projectionDim);
}

// The bytes a one-prompt text pass must read: every text-tower weight but the rows of the
// token table it does not look up (`tokens` rows of it are read), and the projection, in
// the weights' dtype; the blocks' product weights at 2 bytes each where bf16-text reads
// their bfloat16 copies instead.
double textWeightBytesRead(Clip &model, int64_t tokens)
{
    const bool bf16 = model->textModel->usesBf16Weights();
    auto isProductWeight = [](const std::string &name) {
        for (const char *end : {".q.weight", ".k.weight", ".v.weight", ".proj.weight", ".fc1.weight", ".fc2.weight"}) {
            const std::string e(end);
            if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0)
                return true;
        }
        return false;
    };
    double bytes = 0;
    for (const auto &p : model->textProjection->parameters())
        bytes += double(p.numel()) * double(p.element_size());
    for (const auto &p : model->textModel->named_parameters(true)) {
        const double each = bf16 && isProductWeight(p.key()) ? 2.0 : double(p.value().element_size());
        if (p.key().find("token_embedding") != std::string::npos)
            bytes += double(tokens) * double(p.value().size(-1)) * each;
        else
            bytes += double(p.value().numel()) * each;
    }
    return bytes;
}

} // namespace

int benchClipImageCommand(Args &args)
{
    const auto batch = args.integer("batch", 8);
    const auto repeats = args.integer("repeats", 5);
    const auto warmup = args.integer("warmup", 1);
    ClipBench b(args);
    const BenchThreads threads(args);
    args.finish();
    if (batch <= 0 || repeats <= 0 || warmup < 0)
        throw UsageError("--batch and --repeats must be positive, --warmup >= 0");
    b.prepare();
    const auto &v = b.model->config.vision;
    auto pixels = torch::randn({batch, v.numChannels, v.imageSize, v.imageSize},
                               torch::TensorOptions().device(b.device).dtype(b.dtype));
    InferenceScope inference;
    threads.settle([&] { (void)b.model->imageFeatures(pixels); });
    const auto t =
        bench::time([&] { (void)b.model->imageFeatures(pixels); }, int(warmup), int(repeats), b.device.is_cuda());
    json out{{"bench", "clip-image"}, {"model", b.what},       {"image_size", v.imageSize}, {"patch_size", v.patchSize},
             {"batch", batch},        {"repeats", repeats}, {"images_per_s", double(batch) / t.median()}};
    const double flopsPerImage = clipImageFlops(b.model->config);
    out["model_gflop_per_image"] = flopsPerImage / 1e9;
    out["model_gflops"] = flopsPerImage * double(batch) / t.median() / 1e9;
    out["image_weights"] = b.model->visionModel->usesBf16Weights() ? "bf16 copies (bf16-image)" : "as loaded";
    out.update(benchFields(b.device, b.dtype, b.attention, t));
    out.update(threads.fields());
    std::cout << out.dump(2) << std::endl;
    return 0;
}

int benchClipTextCommand(Args &args)
{
    // One new class name with one template: one prompt through the text tower, at its
    // true length and padded to the full context, side by side.
    const auto tokens = args.integer("tokens", 0);
    const auto batch = args.integer("batch", 0);
    const std::string text = args.value("text", "a photo of a sneaker.");
    const auto repeats = args.integer("repeats", 30);
    const auto warmup = args.integer("warmup", 3);
    ClipBench b(args);
    const BenchThreads threads(args);
    args.finish();
    if (repeats <= 0 || tokens < 0 || batch < 0 || warmup < 0)
        throw UsageError("--repeats must be positive, --tokens, --batch and --warmup >= 0");
    b.prepare();
    const auto &tc = b.model->config.text;
    if (batch > 0) {
        // Throughput: `batch` prompts of `tokens` ids each (a start id, words, the end id),
        // one forward pass of the text tower per repeat.
        const int64_t n = tokens > 0 ? tokens : 16;
        if (n < 2 || n > tc.maxPositionEmbeddings)
            throw UsageError("--tokens must be in 2.." + std::to_string(tc.maxPositionEmbeddings));
        if (tc.vocabSize < 8)
            throw UsageError("the text vocabulary is too small for a benchmark");
        torch::manual_seed(1);
        auto ids = torch::randint(std::min<int64_t>(400, tc.vocabSize / 2), tc.vocabSize - 2, {batch, n}, torch::kLong);
        ids.select(1, 0).fill_(tc.vocabSize - 2);
        ids.select(1, n - 1).fill_(tc.vocabSize - 1);
        auto eos = torch::full({batch}, n - 1, torch::kLong);
        if (b.device.is_cuda()) {
            // Host ids are range-checked without a device synchronisation; pinned, their
            // copy to the GPU is asynchronous, as the trainer's batches are.
            ids = ids.pin_memory(), eos = eos.pin_memory();
        }
        InferenceScope inference;
        threads.settle([&] { (void)b.model->textFeatures(ids, eos); });
        const auto t =
            bench::time([&] { (void)b.model->textFeatures(ids, eos); }, int(warmup), int(repeats), b.device.is_cuda());
        json out{{"bench", "clip-text"}, {"model", b.what},       {"batch", batch},
                 {"prompt_tokens", n},    {"repeats", repeats}, {"prompts_per_s", double(batch) / t.median()}};
        out.update(benchFields(b.device, b.dtype, b.attention, t));
        out.update(threads.fields());
        std::cout << out.dump(2) << std::endl;
        return 0;
    }
    std::vector<int64_t> ids;
    if (b.loaded && tokens == 0) {
        ids = b.loaded->tokenizer->encode(text);
    } else { // random ids of a typical prompt's length (start, words, end)
        const int64_t n = tokens > 0 ? tokens : 8;
        if (n < 2 || n > tc.maxPositionEmbeddings)
            throw UsageError("--tokens must be in 2.." + std::to_string(tc.maxPositionEmbeddings));
        ids.push_back(tc.vocabSize - 2);
        for (int64_t i = 1; i + 1 < n; ++i)
            ids.push_back(400 + (i * 7919) % std::max<int64_t>(1, tc.vocabSize - 500));
        ids.push_back(tc.eosTokenId == 2 ? tc.vocabSize - 1 : tc.eosTokenId);
    }
    InferenceScope inference;
    const std::vector<std::vector<int64_t>> prompt{ids};
    std::vector<double> trueS, padS;
    // The padded prompt is its own workload (77 tokens, not 8): each settles its count.
    threads.settle([&] { (void)b.model->textFeatures(prompt, tc.maxPositionEmbeddings); });
    const json paddedThreads = threads.fields();
    threads.settle([&] { (void)b.model->textFeatures(prompt); });
    // Interleaved, so both see the same machine conditions.
    for (int r = 0; r < int(warmup + repeats); ++r) {
        const auto atTrue = bench::time([&] { (void)b.model->textFeatures(prompt); }, 0, 1, b.device.is_cuda());
        const auto padded = bench::time([&] { (void)b.model->textFeatures(prompt, tc.maxPositionEmbeddings); }, 0, 1,
                                        b.device.is_cuda());
        if (r >= warmup) {
            trueS.push_back(atTrue.seconds[0]);
            padS.push_back(padded.seconds[0]);
        }
    }
    const double trueMs = bench::Timing{trueS}.median() * 1e3, padMs = bench::Timing{padS}.median() * 1e3;
    const double weightBytes = textWeightBytesRead(b.model, int64_t(ids.size()));
    json out{{"bench", "clip-text"},
             {"model", b.what},
             {"prompt_tokens", ids.size()},
             {"context", tc.maxPositionEmbeddings},
             {"repeats", repeats},
             {"device", b.device.str()},
             {"precision", b.dtype == torch::kBFloat16 ? "bf16 weights" : "float32"},
             {"text_weights", b.model->textModel->usesBf16Weights() ? "bf16 copies (bf16-text)" : "as loaded"},
             {"attention", b.attention},
             {"fast_paths", fastPathsName(fastPaths())},
             {"allocator", configureAllocator().description},
             {"linear_kernel", b.device.is_cpu() && b.dtype == torch::kFloat32 ? linearKernelSummary() : "torch"},
             {"threads", at::get_num_threads()},
             {"true_length_ms_median", trueMs},
             {"padded_ms_median", padMs},
             {"padded_over_true", padMs / trueMs},
             {"weight_bytes_read", weightBytes},
             {"weight_gbps", weightBytes / (trueMs / 1e3) / 1e9}};
    out.update(threads.fields()); // the true-length prompt's
    out["padded_threads"] = paddedThreads.value("threads", 0);
    if (b.loaded && tokens == 0) {
        // End to end, as the app does for one newly typed class: tokenize + encode, cache miss.
        ZeroShotClassifier classifier(b.model, b.loaded->tokenizer, b.what);
        int n = 0;
        const auto t = bench::time([&] { (void)classifier.classEmbeddings({"class" + std::to_string(n++)}, {text}); },
                                   3, int(repeats), b.device.is_cuda());
        out["text"] = text;
        out["new_class_ms_median"] = t.median() * 1e3;
    }
    std::cout << out.dump(2) << std::endl;
    return 0;
}

} // namespace vitscope::cli

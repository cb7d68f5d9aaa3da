// vitscope-cli's evaluation commands: eval zeroshot, eval finetune, and the probes on
// frozen features (eval linear-probe, eval knn, eval fewshot), with the feature cache.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <iostream>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/runtime/timing.h"
#include "models/runtime/device.h"
#include "models/error.h"
#include "models/checkpoints/model_source.h"
#include "models/checkpoints/hf_folder.h"
#include "src/cli/commands.h"
#include "src/cli/run_options.h"
#include "models/zero_shot.h"
#include "models/runtime/machine.h"
#include "models/kernels/bf16_gemm.h"
#include "models/kernels/fast_paths.h"
#include "models/runtime/data_files.h"
#include "trainer/data/processor_transform.h"
#include "trainer/clip_trainer.h"
#include "trainer/distributed.h"
#include "trainer/evaluation.h"
#include "trainer/feature_cache.h"
#include "trainer/finetune.h"
#include "trainer/sweep.h"
#include "trainer/mae_trainer.h"
#include "trainer/data/sources.h"
#include "trainer/resume.h"

namespace vitscope::cli {

using nlohmann::json;

namespace {

// Features of a model folder for the probes: MAE class token, or CLIP's pooled image
// feature before the projection (I_f of the paper's Figure 3).
struct FeatureModel {
    std::function<torch::Tensor(const torch::Tensor &)> encode;
    data::ImageTransform transform;
    std::string type;
    std::string pool;           // MAE: "cls" (the paper's linear probe) or "mean" (of the patch tokens)
    std::shared_ptr<void> keepAlive;
};

FeatureModel featureModel(const std::string &dir, torch::Device device, const std::string &pool)
{
    FeatureModel f;
    if (pool != "cls" && pool != "mean")
        throw UsageError("--pool must be cls or mean, not '" + pool + "'");
    f.pool = pool;
    f.type = modelTypeOf(dir);
    ImageProcessorConfig proc;
    int64_t channels = 3;
    if (f.type == "vit_mae") {
        auto loaded = std::make_shared<LoadedMae>(loadMae(dir, device));
        proc = loaded->processor;
        channels = loaded->model->config.numChannels;
        if (pool == "mean") // global average of the patch tokens after the encoder's norm
            f.encode = [loaded](const torch::Tensor &x) { return loaded->model->encodeAll(x).slice(1, 1).mean(1); };
        else
            f.encode = [loaded](const torch::Tensor &x) { return loaded->model->encodeAll(x).select(1, 0); };
        f.keepAlive = loaded;
    } else if (f.type == "clip") {
        if (pool != "cls")
            throw UsageError("--pool applies to MAE models; CLIP's image features are its pooled output");
        auto loaded = std::make_shared<LoadedClip>(loadClip(dir, device));
        proc = loaded->processor;
        channels = loaded->model->config.vision.numChannels;
        f.encode = [loaded](const torch::Tensor &x) { return loaded->model->visionModel->forward(x); };
        f.keepAlive = loaded;
    } else {
        throw FileError(dir + "/config.json", "model_type \"" + f.type + "\" is not supported (vit_mae, clip)");
    }
    f.transform = data::transformForProcessor(proc, channels);
    return f;
}

struct EvalData {
    train::Features train, test;
    int64_t classes = 0;
    std::string type;
    std::string pool;
    json features; // where each split's features came from
};

// The data's files, for the feature cache's key: the folder or file the source reads.
std::string dataFingerprint(const data::SampleSource &source, const std::string &spec)
{
    for (const std::string &p : {source.describe(), spec}) {
        std::error_code ec;
        if (!p.empty() && std::filesystem::exists(p, ec))
            return train::metadataFingerprint(p);
    }
    return {};
}

EvalData evalFeatures(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    const std::string dataSpec = args.value("data", "fashion-mnist");
    const auto testSpec = args.value("test-data");
    const auto limit = args.integer("limit", 0);
    const auto testLimit = args.integer("test-limit", limit);
    const bool useCache = !args.flag("no-cache");
    const torch::Device device = parseDevice(args.value("device", "auto"));
    FeatureModel m = featureModel(dir, device, args.value("pool", "cls"));
    auto trainSet = data::openSource(dataSpec, data::Split::Train, limit);
    auto testSet = data::openSource(testSpec.value_or(dataSpec), data::Split::Test, testLimit);
    if (trainSet->classNames().empty())
        throw UsageError("--data must have classes (fashion-mnist or a folder of class subfolders)");
    EvalData e;
    e.type = m.type;
    e.pool = m.pool;
    e.classes = int64_t(trainSet->classNames().size());
    const train::FeatureCache cache;
    const std::string model = useCache ? train::contentHash(dir) : std::string();
    auto features = [&](const data::SampleSource &source, const std::string &spec, const char *split, int64_t lim) {
        const auto t0 = std::chrono::steady_clock::now();
        train::FeatureRequest rq;
        rq.model = model, rq.data = source.describe(), rq.split = split, rq.limit = lim, rq.pool = m.pool;
        rq.transform = m.transform;
        std::optional<train::Features> f;
        if (useCache) {
            rq.dataPrint = dataFingerprint(source, spec);
            f = cache.load(rq);
        }
        const bool hit = f.has_value();
        if (!hit) {
            f = train::extractFeatures(m.encode, source, m.transform, device, 0, 256,
                                       progressPrinter(std::string("features (") + split + ")"));
            if (useCache)
                cache.store(rq, *f);
        }
        e.features[split] = {{"from", hit ? "cache" : "model"},
                             {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()}};
        if (useCache)
            e.features[split]["cache_key"] = rq.key();
        return *f;
    };
    e.train = features(*trainSet, dataSpec, "train", limit);
    e.test = features(*testSet, testSpec.value_or(dataSpec), "test", testLimit);
    if (useCache)
        e.features["cache"] = cache.folder();
    return e;
}

// A probe's result with what every probe reports (the model's type and pooling, the image
// counts, where the features came from), on stdout.
void printProbe(json out, const EvalData &e)
{
    out["model_type"] = e.type;
    out["pool"] = e.pool;
    out["train_images"] = e.train.x.size(0);
    out["test_images"] = e.test.x.size(0);
    out["features"] = e.features;
    std::cout << out.dump(2) << std::endl;
}

// A labelled test set for zero-shot and the captions that go with it: Fashion-MNIST's
// (class synonyms, held-out templates) or, for a folder of class subfolders, the class names'.
struct ZeroShotTestSet {
    std::shared_ptr<data::SampleSource> source;
    train::CaptionSet captions;
    std::vector<std::string> firstNames; // each class's first synonym
};

ZeroShotTestSet openZeroShotTestSet(const std::string &dataSpec, int64_t limit)
{
    ZeroShotTestSet set;
    set.source = data::openSource(dataSpec, data::Split::Test, limit);
    if (set.source->classNames().empty())
        throw UsageError("--data must have classes (fashion-mnist or a folder of class subfolders)");
    const bool fmnist = dataSpec == "fashion-mnist" || dataSpec.rfind("fashion-mnist:", 0) == 0;
    set.captions = fmnist ? train::fashionMnistCaptions() : train::classNameCaptions(set.source->classNames());
    for (const auto &syns : set.captions.synonyms)
        set.firstNames.push_back(syns.front());
    return set;
}

// Zero-shot twice, once on float32 weights and once with one tower's products on bfloat16
// copies (the opt-in fast paths bf16-text and bf16-image), the other tower's side shared:
// how far apart the towers' outputs and the probabilities are.
int precisionCommand(Args &args, Bf16Tower tower)
{
    const bool text = tower == Bf16Tower::Text;
    const std::string path = text ? "bf16-text" : "bf16-image";
    const std::string dir = resolveModelArg(args.required("model"));
    const std::string dataSpec = args.value("data", "fashion-mnist");
    const auto limit = args.integer("limit", 0);
    args.finish();
    if (!bf16KernelAvailable())
        throw Error("this CPU computes no bfloat16 natively (it has no AVX512_BF16), so " + path +
                    " does not apply here: there is nothing to compare");
    const auto set = openZeroShotTestSet(dataSpec, limit);
    const auto &test = set.source;
    const auto &labels = set.firstNames;
    const auto &templates = set.captions.heldOutTemplates;
    LoadedClip clip = loadClip(dir, torch::kCPU);
    const auto transform = data::transformForProcessor(clip.processor, clip.model->config.vision.numChannels);
    std::vector<std::string> prompts;
    for (const auto &name : labels)
        for (const auto &t : templates)
            prompts.push_back(fillTemplate(t, name));
    const auto unit = [](const torch::Tensor &t) {
        return torch::nn::functional::normalize(t, torch::nn::functional::NormalizeFuncOptions().dim(1));
    };
    struct Side {
        torch::Tensor outputs, probs, labels; // outputs: the tower's unit-length features
        double seconds = 0;
    };
    train::Features shared; // the image features, when the text tower is compared
    if (text)
        shared = train::extractFeatures([&](const torch::Tensor &x) { return clip.model->imageFeatures(x); }, *test,
                                        transform, torch::kCPU, limit, 256, progressPrinter("images (test)"));
    torch::Tensor sharedClasses; // the class embeddings, when the image tower is compared
    auto side = [&](bool bf16) {
        FastPaths paths = fastPaths();
        (text ? paths.bf16Text : paths.bf16Image) = bf16;
        FastPathsScope scope(paths);
        ZeroShotClassifier classifier(clip.model, clip.tokenizer, bf16 ? "bf16" : "float32");
        Side out;
        const auto start = std::chrono::steady_clock::now();
        train::Features images = shared;
        if (text) {
            out.outputs = unit(classifier.textFeatures(prompts));
        } else {
            images = train::extractFeatures([&](const torch::Tensor &x) { return clip.model->imageFeatures(x); },
                                            *test, transform, torch::kCPU, limit, 256,
                                            progressPrinter(bf16 ? "images (test, bf16)" : "images (test, float32)"));
            out.outputs = unit(images.x);
        }
        out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        torch::NoGradGuard noGrad; // as the classifier runs the towers
        const bool switched = text ? clip.model->textModel->usesBf16Weights() : clip.model->visionModel->usesBf16Weights();
        if (switched != bf16)
            throw Error(path + " did not switch as asked"); // never: the kernel's availability is checked above
        if (text || !sharedClasses.defined())
            sharedClasses = classifier.classEmbeddings(labels, templates, true);
        out.probs = classifier.probabilities(images.x, sharedClasses);
        out.labels = images.labels;
        return out;
    };
    const Side f32 = side(false), b16 = side(true);
    const auto cosine = (f32.outputs * b16.outputs).sum(1);
    const auto diff = (f32.probs - b16.probs).abs();
    const auto top32 = f32.probs.argmax(1), top16 = b16.probs.argmax(1);
    auto accuracy = [&](const torch::Tensor &top) { return top.eq(f32.labels).to(torch::kFloat64).mean().item<double>(); };
    const std::string what = text ? "prompt" : "image";
    std::cout << json{{"protocol", text ? "text-precision" : "image-precision"},
                      {"fast_path", path},
                      {"model", dir},
                      {"data", dataSpec},
                      {"test_images", f32.probs.size(0)},
                      {"classes", labels.size()},
                      {"prompts", prompts.size()},
                      {"cpu", cpuInfo().model},
                      {what + "_cosine_min", cosine.min().item<double>()},
                      {what + "_cosine_mean", cosine.mean().item<double>()},
                      {"prob_abs_diff_max", diff.max().item<double>()},
                      {"prob_abs_diff_mean", diff.mean().item<double>()},
                      {"top1_agreement", top32.eq(top16).to(torch::kFloat64).mean().item<double>()},
                      {"top1_disagreements", top32.ne(top16).sum().item<int64_t>()},
                      {"accuracy_float32", accuracy(top32)},
                      {"accuracy_bf16", accuracy(top16)},
                      {what + "s_s_float32", f32.seconds},
                      {what + "s_s_bf16", b16.seconds}}
                         .dump(2)
              << std::endl;
    return 0;
}

} // namespace

int evalZeroShotCommand(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    const std::string dataSpec = args.value("data", "fashion-mnist");
    const auto labelsArg = args.value("labels");
    auto templates = args.values("template");
    const auto templatesFile = args.value("templates-file");
    const bool single = args.flag("single-template");
    const auto limit = args.integer("limit", 0);
    const torch::Device device = parseDevice(args.value("device", "auto"));
    args.finish();
    const auto set = openZeroShotTestSet(dataSpec, limit);
    const auto &test = set.source;
    const auto &captions = set.captions;
    const std::vector<std::string> labels = labelsArg ? parseClassNames(*labelsArg) : set.firstNames;
    if (labels.size() != test->classNames().size())
        throw UsageError("--labels gives " + std::to_string(labels.size()) + " names for " +
                         std::to_string(test->classNames().size()) + " classes");
    if (templatesFile) {
        auto more = readTemplateFile(*templatesFile);
        templates.insert(templates.end(), more.begin(), more.end());
    }
    const std::string templateSet = templates.empty() ? "held-out" : "given";
    if (templates.empty())
        templates = captions.heldOutTemplates;
    LoadedClip clip = loadClip(dir, device);
    const auto transform = data::transformForProcessor(clip.processor, clip.model->config.vision.numChannels);
    const double acc = train::zeroShotAccuracy(clip.model, clip.tokenizer, *test, transform, device, labels, templates,
                                               0, !single, progressPrinter("images (test)"));
    std::cout << json{{"protocol", "zeroshot"},
                      {"accuracy", acc},
                      {"labels", labels},
                      {"templates", single ? std::vector<std::string>{templates[0]} : templates},
                      {"template_set", templateSet},
                      {"ensemble", !single},
                      {"test_images", test->size()}}
                     .dump(2)
              << std::endl;
    return 0;
}

int evalTextPrecisionCommand(Args &args)
{
    return precisionCommand(args, Bf16Tower::Text);
}

int evalImagePrecisionCommand(Args &args)
{
    return precisionCommand(args, Bf16Tower::Image);
}

int evalFinetuneCommand(Args &args)
{
    train::FinetuneOptions o;
    o.model = resolveModelArg(args.required("model"));
    readRunBasics(args, o);
    o.evalLimit = args.integer("test-limit", o.evalLimit);
    o.baseLr = args.number("base-lr", o.baseLr);
    o.layerDecay = args.number("layer-decay", o.layerDecay);
    o.weightDecay = args.number("weight-decay", o.weightDecay);
    o.labelSmoothing = args.number("label-smoothing", o.labelSmoothing);
    const std::string blocksArg = args.value("blocks", "all");
    const auto csvPath = args.value("csv");
    args.finish();
    std::vector<int64_t> blockCounts;
    for (const auto &part : parseClassNames(blocksArg)) {
        if (part == "all") {
            blockCounts.push_back(-1);
            continue;
        }
        try {
            size_t used = 0;
            const long long k = std::stoll(part, &used);
            if (used != part.size() || k < 0)
                throw std::invalid_argument(part);
            blockCounts.push_back(k);
        } catch (const std::exception &) {
            throw UsageError("--blocks expects block counts (0, 1, ...) or all, not '" + part + "'");
        }
    }
    if (blockCounts.empty())
        throw UsageError("--blocks expects block counts (0, 1, ...) or all");
    const bool tty = ::isatty(2);
    json points = json::array();
    for (const int64_t k : blockCounts) {
        o.blocks = k;
        const auto started = std::chrono::steady_clock::now();
        const std::string what = k < 0 ? std::string("all blocks") : std::to_string(k) + " block(s)";
        const auto r = train::finetuneMae(o, [&](int64_t epoch, int64_t step, int64_t steps, double loss) {
            const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
            const std::string eta = clock(el / double(step) * double(steps - step));
            if (tty)
                std::fprintf(stderr, "\rfine-tuning %s: epoch %lld step %lld/%lld loss %.4f ETA %s ", what.c_str(),
                             (long long)epoch + 1, (long long)step, (long long)steps, loss, eta.c_str());
            else if (step % 50 == 0 || step == steps)
                std::fprintf(stderr, "fine-tuning %s: epoch %lld step %lld/%lld loss %.4f eta %s\n", what.c_str(),
                             (long long)epoch + 1, (long long)step, (long long)steps, loss, eta.c_str());
        });
        if (tty)
            std::fprintf(stderr, "\n");
        points.push_back(r.toJson());
    }
    if (csvPath) {
        std::ofstream csv(*csvPath);
        if (!csv)
            throw FileError(*csvPath, "cannot write");
        csv << "blocks,accuracy,trained_parameters,frozen_parameters,seconds\n";
        for (const auto &p : points)
            csv << int64_t(p["blocks"]) << ',' << double(p["accuracy"]) << ',' << int64_t(p["trained_parameters"]) << ','
                << int64_t(p["frozen_parameters"]) << ',' << double(p["seconds"]) << '\n';
        if (!csv)
            throw FileError(*csvPath, "write failed");
    }
    json out = points.size() == 1 ? points[0] : json{{"points", points}};
    out["protocol"] = points.size() == 1 ? "finetune" : "partial-finetune";
    out["options"] = {{"epochs", o.epochs}, {"batch", o.batch}, {"base_lr", o.baseLr}, {"layer_decay", o.layerDecay},
                      {"limit", o.limit}, {"test_limit", o.evalLimit}, {"seed", o.seed}};
    if (csvPath)
        out["csv"] = *csvPath;
    std::cout << out.dump(2) << std::endl;
    return 0;
}

int evalLinearProbeCommand(Args &args)
{
    const auto e = evalFeatures(args);
    args.finish();
    const auto r = train::linearProbe(e.train, e.test, e.classes);
    json out = r.toJson();
    out["protocol"] = "linear-probe";
    out["feature_dim"] = e.train.x.size(1);
    printProbe(out, e);
    return 0;
}

// The probes with one count (--k, --seeds): the count, checked, then the features.
static std::pair<int64_t, EvalData> countedProbe(Args &args, const std::string &name, int64_t fallback)
{
    const auto count = args.integer(name, fallback);
    auto e = evalFeatures(args);
    args.finish();
    if (count < 1)
        throw UsageError("--" + name + " must be >= 1");
    return {count, std::move(e)};
}

int evalKnnCommand(Args &args)
{
    const auto [k, e] = countedProbe(args, "k", 20);
    printProbe({{"protocol", "knn"}, {"k", k}, {"accuracy", train::knnAccuracy(e.train, e.test, e.classes, k)}}, e);
    return 0;
}

int evalFewShotCommand(Args &args)
{
    const auto [seeds, e] = countedProbe(args, "seeds", 5);
    json points = json::array();
    for (const auto &p : train::fewShotProbes(e.train, e.test, e.classes, {1, 2, 4, 8, 16}, int(seeds)))
        points.push_back({{"shots", p.shots}, {"accuracy", p.meanAccuracy}, {"std", p.stdAccuracy}, {"per_seed", p.accuracies}});
    printProbe({{"protocol", "fewshot"}, {"seeds", seeds}, {"points", points}}, e);
    return 0;
}

} // namespace vitscope::cli

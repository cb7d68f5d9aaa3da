// vitscope-cli's training and evaluation commands: train mae, resume, eval ..., bench sgemm.
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

#include "models/bench.h"
#include "models/device.h"
#include "models/error.h"
#include "models/checkpoints/model_source.h"
#include "models/hf_folder.h"
#include "src/cli/commands.h"
#include "models/zero_shot.h"
#include "models/resources.h"
#include "trainer/processor_transform.h"
#include "trainer/clip_trainer.h"
#include "trainer/distributed.h"
#include "trainer/evaluation.h"
#include "trainer/feature_cache.h"
#include "trainer/finetune.h"
#include "trainer/sweep.h"
#include "trainer/mae_trainer.h"
#include "trainer/sources.h"

namespace vitscope::cli {
namespace {

using nlohmann::json;

std::atomic<bool> g_interrupted{false};

extern "C" void onInterrupt(int)
{
    g_interrupted = true;
}

std::string clock(double seconds)
{
    if (!std::isfinite(seconds) || seconds < 0)
        return "?";
    const long s = long(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

// The process group of a distributed launch (torchrun, Slurm, --nproc-per-node), or one
// process. --dist-backend auto|gloo|nccl, --dist-timeout SECONDS (rendezvous and every
// collective: how long a dead or hung rank can keep the others waiting).
std::shared_ptr<train::Group> processGroup(Args &args, const std::string &device)
{
    train::GroupOptions g;
    g.backend = args.value("dist-backend", g.backend);
    const double timeout = args.number("dist-timeout", 300);
    if (!(timeout > 0))
        throw UsageError("--dist-timeout must be a positive number of seconds");
    g.timeout = std::chrono::milliseconds(int64_t(timeout * 1000));
    g.device = parseDevice(device);
    return train::Group::fromEnvironment(g);
}

// Progress on stderr: a bar redrawn in place on a terminal, plain lines otherwise. Ranks
// other than 0 of a distributed run print nothing (but stop on Ctrl-C with the others).
train::TrainCallbacks progressCallbacks(int64_t logEvery, bool lead = true)
{
    const bool tty = ::isatty(2);
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    train::TrainCallbacks cb;
    cb.shouldStop = [] { return g_interrupted.load(); };
    if (!lead)
        return cb;
    cb.onStep = [tty, logEvery](const train::StepInfo &s) {
        if (tty) {
            const int width = 30;
            const int filled = int(double(width) * double(s.step) / double(std::max<int64_t>(1, s.totalSteps)));
            std::fprintf(stderr, "\r[%s%s] %3d%% step %lld/%lld epoch %lld/%lld loss %.4f %.0f img/s ETA %s ",
                         std::string(std::size_t(filled), '#').c_str(), std::string(std::size_t(width - filled), '.').c_str(),
                         int(100.0 * double(s.step) / double(std::max<int64_t>(1, s.totalSteps))), (long long)s.step,
                         (long long)s.totalSteps, (long long)s.epoch + 1, (long long)s.epochs, s.loss, s.imagesPerSecond,
                         clock(s.etaSeconds).c_str());
        } else if (s.step % std::max<int64_t>(1, logEvery) == 0 || s.step == s.totalSteps) {
            std::fprintf(stderr, "step %lld/%lld epoch %lld loss %.5f lr %.3g %.1f img/s eta %s\n", (long long)s.step,
                         (long long)s.totalSteps, (long long)s.epoch + 1, s.loss, s.lr, s.imagesPerSecond,
                         clock(s.etaSeconds).c_str());
        }
    };
    cb.onEpoch = [tty](const train::EpochInfo &e) {
        std::fprintf(stderr, "%sepoch %lld done: mean loss %.5f%s\n", tty ? "\n" : "", (long long)e.epoch + 1, e.meanLoss,
                     e.eval.is_null() ? "" : (" " + e.eval.dump()).c_str());
    };
    return cb;
}

} // namespace

train::ProgressFn progressPrinter(const std::string &what)
{
    const bool tty = ::isatty(2);
    const auto start = std::chrono::steady_clock::now();
    auto lastTenth = std::make_shared<int64_t>(-1);
    return [=](int64_t done, int64_t total) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double rate = elapsed > 0 ? double(done) / elapsed : 0;
        const double eta = rate > 0 ? double(total - done) / rate : 0;
        const int percent = int(100.0 * double(done) / double(std::max<int64_t>(1, total)));
        if (tty) {
            const int width = 30, filled = percent * width / 100;
            std::fprintf(stderr, "\r%s: [%s%s] %3d%% %lld/%lld %.0f img/s ETA %s %s", what.c_str(),
                         std::string(std::size_t(filled), '#').c_str(), std::string(std::size_t(width - filled), '.').c_str(),
                         percent, (long long)done, (long long)total, rate, clock(eta).c_str(), done == total ? "\n" : "");
        } else if (percent / 10 > *lastTenth || done == total) {
            *lastTenth = percent / 10;
            std::fprintf(stderr, "%s: %lld/%lld (%d%%) %.0f img/s eta %s\n", what.c_str(), (long long)done, (long long)total,
                         percent, rate, clock(eta).c_str());
        }
    };
}

namespace {

std::string defaultRunDir(const std::string &kind)
{
    char buf[64];
    const std::time_t now = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
    return "runs/" + kind + "-" + buf;
}

json summary(const train::TrainResult &r)
{
    json j{{"status", r.status == train::RunStatus::Finished ? "finished" : "stopped"},
           {"run", r.runDir},
           {"steps", r.steps},
           {"loss", r.lastLoss},
           {"train_seconds", r.seconds},
           {"images_per_s", r.imagesPerSecond}};
    if (!r.modelDir.empty())
        j["model"] = r.modelDir;
    if (!r.lastEval.is_null())
        j["eval"] = r.lastEval;
    if (r.resumed)
        j["resumed_from_step"] = r.resumedFromStep;
    if (r.worldSize > 1) {
        j["world_size"] = r.worldSize;
        j["allreduce_s_per_step"] = r.allReduceSecondsPerStep;
        j["allreduce_mb_per_step"] = r.allReduceMegabytesPerStep;
    }
    if (r.status == train::RunStatus::Stopped)
        j["resume_with"] = "vitscope-cli resume " + r.runDir;
    return j;
}

bool onOff(Args &args, const std::string &name, bool fallback)
{
    const auto v = args.value(name);
    if (!v)
        return fallback;
    if (*v == "on" || *v == "true" || *v == "1")
        return true;
    if (*v == "off" || *v == "false" || *v == "0")
        return false;
    throw UsageError("--" + name + " expects on or off, got '" + *v + "'");
}

// Features of a model folder for the probes: MAE class token, or CLIP's pooled image
// feature before the projection (I_f of the paper's Figure 3).
struct FeatureModel {
    std::function<torch::Tensor(const torch::Tensor &)> encode;
    data::ImageTransform transform;
    std::string type;
    std::string pool;           // MAE: "cls" (the paper's linear probe) or "mean" (of the patch tokens)
    std::shared_ptr<void> keepAlive;
};

// The options every training command shares (seed, device, loader, logging, checkpoints,
// evaluation, mixed precision), for MaeTrainOptions and ClipTrainOptions alike.
template <typename Options>
void readRunControl(Args &args, Options &o)
{
    o.seed = uint64_t(args.integer("seed", 0));
    o.device = args.value("device", o.device);
    o.workers = int(args.integer("workers", o.workers));
    o.logEvery = args.integer("log-every", o.logEvery);
    o.checkpointEvery = args.integer("checkpoint-every", o.checkpointEvery);
    o.keepCheckpoints = int(args.integer("keep", o.keepCheckpoints));
    o.evalEvery = args.integer("eval-every", o.evalEvery);
    o.evalLimit = args.integer("eval-limit", o.evalLimit);
    o.amp = onOff(args, "amp", o.amp);
}

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
    const std::string dir = resolveModelDir(args.required("model"));
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

} // namespace

int trainMaeCommand(Args &args)
{
    train::MaeTrainOptions o;
    o.data = args.value("data", o.data);
    o.limit = args.integer("limit", 0);
    const std::string out = args.value("out", defaultRunDir("mae"));
    o.preset = args.value("preset", o.preset);
    o.maskStrategy = args.value("mask", o.maskStrategy);
    o.maskRatio = args.number("ratio", o.maskRatio);
    o.gridCell = args.integer("grid-cell", o.gridCell);
    o.normPixLoss = onOff(args, "norm-pix-loss", o.normPixLoss);
    o.maskTokensInEncoder = args.flag("mask-tokens-in-encoder");
    o.epochs = args.integer("epochs", o.epochs);
    o.batch = args.integer("batch", o.batch);
    o.baseLr = args.number("base-lr", o.baseLr);
    o.warmupEpochs = args.number("warmup-epochs", o.warmupEpochs);
    o.weightDecay = args.number("weight-decay", o.weightDecay);
    o.clipGrad = args.number("clip-grad", o.clipGrad);
    o.randomResizedCrop = onOff(args, "crop", o.randomResizedCrop);
    o.flip = onOff(args, "flip", o.flip);
    readRunControl(args, o);
    const auto group = processGroup(args, o.device);
    args.finish();
    const auto r = train::trainMae(o, out, progressCallbacks(o.logEvery, group->lead()), group.get());
    if (group->lead())
        std::cout << summary(r).dump(2) << std::endl;
    return r.status == train::RunStatus::Finished ? 0 : 130;
}

int trainClipCommand(Args &args)
{
    train::ClipTrainOptions o;
    o.data = args.value("data", o.data);
    o.limit = args.integer("limit", 0);
    const std::string out = args.value("out", defaultRunDir("clip"));
    o.preset = args.value("preset", o.preset);
    o.epochs = args.integer("epochs", o.epochs);
    o.batch = args.integer("batch", o.batch);
    o.lr = args.number("lr", o.lr);
    o.warmupEpochs = args.number("warmup-epochs", o.warmupEpochs);
    o.weightDecay = args.number("weight-decay", o.weightDecay);
    o.clipGrad = args.number("clip-grad", o.clipGrad);
    o.randomResizedCrop = onOff(args, "crop", o.randomResizedCrop);
    o.cropScaleMin = args.number("crop-scale-min", o.cropScaleMin);
    o.flip = onOff(args, "flip", o.flip);
    o.bpeMerges = args.integer("bpe-merges", o.bpeMerges);
    o.csvSeparator = args.value("csv-separator", o.csvSeparator);
    if (o.csvSeparator == "tab" || o.csvSeparator == "\\t")
        o.csvSeparator = "\t";
    o.csvPathColumn = args.value("csv-path-column", o.csvPathColumn);
    o.csvCaptionColumn = args.value("csv-caption-column", o.csvCaptionColumn);
    readRunControl(args, o);
    const auto group = processGroup(args, o.device);
    args.finish();
    const auto r = train::trainClip(o, out, progressCallbacks(o.logEvery, group->lead()), group.get());
    if (group->lead())
        std::cout << summary(r).dump(2) << std::endl;
    return r.status == train::RunStatus::Finished ? 0 : 130;
}

int evalZeroShotCommand(Args &args)
{
    const std::string dir = resolveModelDir(args.required("model"));
    const std::string dataSpec = args.value("data", "fashion-mnist");
    const auto labelsArg = args.value("labels");
    auto templates = args.values("template");
    const auto templatesFile = args.value("templates-file");
    const bool single = args.flag("single-template");
    const auto limit = args.integer("limit", 0);
    const torch::Device device = parseDevice(args.value("device", "auto"));
    args.finish();
    auto test = data::openSource(dataSpec, data::Split::Test, limit);
    if (test->classNames().empty())
        throw UsageError("--data must have classes (fashion-mnist or a folder of class subfolders)");
    const bool fmnist = dataSpec == "fashion-mnist" || dataSpec.rfind("fashion-mnist:", 0) == 0;
    const auto captions = fmnist ? train::fashionMnistCaptions() : train::classNameCaptions(test->classNames());
    std::vector<std::string> labels;
    if (labelsArg)
        labels = parseClassNames(*labelsArg);
    else
        for (const auto &syns : captions.synonyms)
            labels.push_back(syns.front());
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

int evalFinetuneCommand(Args &args)
{
    train::FinetuneOptions o;
    o.model = resolveModelDir(args.required("model"));
    o.data = args.value("data", o.data);
    o.limit = args.integer("limit", 0);
    o.evalLimit = args.integer("eval-limit", 0);
    o.epochs = args.integer("epochs", o.epochs);
    o.batch = args.integer("batch", o.batch);
    o.baseLr = args.number("base-lr", o.baseLr);
    o.layerDecay = args.number("layer-decay", o.layerDecay);
    o.weightDecay = args.number("weight-decay", o.weightDecay);
    o.warmupEpochs = args.number("warmup-epochs", o.warmupEpochs);
    o.labelSmoothing = args.number("label-smoothing", o.labelSmoothing);
    o.seed = uint64_t(args.integer("seed", 0));
    o.device = args.value("device", o.device);
    o.workers = int(args.integer("workers", o.workers));
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
                      {"limit", o.limit}, {"eval_limit", o.evalLimit}, {"seed", o.seed}};
    if (csvPath)
        out["csv"] = *csvPath;
    std::cout << out.dump(2) << std::endl;
    return 0;
}

int sweepCommand(Args &args)
{
    const auto words = args.positionals();
    train::MaeTrainOptions base;
    base.data = args.value("data", base.data);
    base.limit = args.integer("limit", 0);
    base.preset = args.value("preset", base.preset);
    base.epochs = args.integer("epochs", 5);
    base.batch = args.integer("batch", base.batch);
    base.baseLr = args.number("base-lr", base.baseLr);
    base.warmupEpochs = args.number("warmup-epochs", base.warmupEpochs);
    base.normPixLoss = onOff(args, "norm-pix-loss", base.normPixLoss);
    base.seed = uint64_t(args.integer("seed", 0));
    base.device = args.value("device", base.device);
    base.workers = int(args.integer("workers", base.workers));
    base.amp = onOff(args, "amp", base.amp);
    base.logEvery = args.integer("log-every", 50);
    base.evalEvery = 0;
    train::SweepOptions so;
    so.probeLimit = args.integer("probe-limit", so.probeLimit);
    std::vector<double> ratios;
    for (const auto &r : parseClassNames(args.value("ratios", "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9")))
        ratios.push_back(std::stod(r));
    const auto outArg = args.value("out");
    args.finish();
    if (words.size() != 1)
        throw UsageError("give one sweep: mask-strategy, mask-ratio, mask-tokens or norm-pix");
    so.outDir = outArg.value_or("runs/sweep-" + words[0]);
    const auto points = train::sweepPoints(words[0], base, ratios);
    const auto cb = progressCallbacks(base.logEvery);
    const auto rows = train::runSweep(words[0], points, so,
                                      [](const std::string &name, const train::TrainCallbacks &) {
                                          std::fprintf(stderr, "sweep point %s\n", name.c_str());
                                      },
                                      cb);
    std::cout << json{{"sweep", words[0]}, {"out", so.outDir}, {"csv", so.outDir + "/results.csv"}, {"rows", rows}}.dump(2)
              << std::endl;
    return 0;
}

int resumeCommand(Args &args)
{
    const auto words = args.positionals();
    if (words.size() != 1)
        throw UsageError("give one RUN_DIR");
    const auto env = train::LaunchEnv::fromEnvironment();
    // Rank 0 reads the run's configuration (the device among it); the others learn it from rank 0.
    const json config = env.rank == 0 ? train::RunFolder::open(words[0]).config() : json();
    const auto group = processGroup(args, config.is_null() ? std::string("auto") : config["options"].value("device", "auto"));
    args.finish();
    const auto r = train::resumeRun(words[0], progressCallbacks(config.is_null() ? 10 : config["options"].value("log_every", 10), group->lead()),
                                    group.get());
    if (group->lead())
        std::cout << summary(r).dump(2) << std::endl;
    return r.status == train::RunStatus::Finished ? 0 : 130;
}

int evalLinearProbeCommand(Args &args)
{
    const auto e = evalFeatures(args);
    args.finish();
    const auto r = train::linearProbe(e.train, e.test, e.classes);
    json out = r.toJson();
    out["protocol"] = "linear-probe";
    out["model_type"] = e.type;
    out["pool"] = e.pool;
    out["train_images"] = e.train.x.size(0);
    out["test_images"] = e.test.x.size(0);
    out["feature_dim"] = e.train.x.size(1);
    out["features"] = e.features;
    std::cout << out.dump(2) << std::endl;
    return 0;
}

int evalKnnCommand(Args &args)
{
    const auto k = args.integer("k", 20);
    const auto e = evalFeatures(args);
    args.finish();
    if (k < 1)
        throw UsageError("--k must be >= 1");
    std::cout << json{{"protocol", "knn"},
                      {"k", k},
                      {"accuracy", train::knnAccuracy(e.train, e.test, e.classes, k)},
                      {"model_type", e.type},
                      {"pool", e.pool},
                      {"train_images", e.train.x.size(0)},
                      {"test_images", e.test.x.size(0)},
                      {"features", e.features}}
                     .dump(2)
              << std::endl;
    return 0;
}

int evalFewShotCommand(Args &args)
{
    const auto seeds = args.integer("seeds", 5);
    const auto e = evalFeatures(args);
    args.finish();
    if (seeds < 1)
        throw UsageError("--seeds must be >= 1");
    json points = json::array();
    for (const auto &p : train::fewShotProbes(e.train, e.test, e.classes, {1, 2, 4, 8, 16}, int(seeds)))
        points.push_back({{"shots", p.shots}, {"accuracy", p.meanAccuracy}, {"std", p.stdAccuracy}, {"per_seed", p.accuracies}});
    std::cout << json{{"protocol", "fewshot"}, {"seeds", seeds}, {"model_type", e.type}, {"pool", e.pool}, {"points", points},
                      {"features", e.features}}.dump(2)
              << std::endl;
    return 0;
}

// Float32 matrix products at the sizes training uses, as the machine's reference rate.
int benchSgemmCommand(Args &args)
{
    const auto m = args.integer("m", 4096), k = args.integer("k", 128), n = args.integer("n", 512);
    const auto repeats = args.integer("repeats", 20);
    const torch::Device device = parseDevice(args.value("device", "auto"));
    args.finish();
    if (m <= 0 || k <= 0 || n <= 0 || repeats <= 0)
        throw UsageError("sizes and --repeats must be positive");
    auto a = torch::randn({m, k}, torch::TensorOptions().device(device));
    auto b = torch::randn({k, n}, torch::TensorOptions().device(device));
    const auto t = bench::time([&] { (void)torch::matmul(a, b); }, 3, int(repeats), device.is_cuda());
    const double flops = 2.0 * double(m) * double(k) * double(n);
    std::cout << json{{"bench", "sgemm"},   {"m", m}, {"k", k}, {"n", n}, {"device", device.str()},
                      {"threads", at::get_num_threads()}, {"median_s", t.median()},
                      {"gflops_median", flops / t.median() / 1e9}, {"gflops_best", flops / t.min() / 1e9}}
                     .dump(2)
              << std::endl;
    return 0;
}

// All-reduce of one bucket across the ranks of a distributed launch (--nproc-per-node N,
// torchrun, Slurm): the transfer cost alone, every repeat after a barrier so that no rank
// waits for a slower one.
int benchAllReduceCommand(Args &args)
{
    const double mb = args.number("mb", 25);
    const auto repeats = args.integer("repeats", 20);
    const auto group = processGroup(args, args.value("device", "cpu"));
    args.finish();
    if (!(mb > 0) || repeats <= 0)
        throw UsageError("--mb and --repeats must be positive");
    if (group->size() < 2)
        throw UsageError("bench allreduce needs several ranks: add --nproc-per-node 2, or run it under torchrun or srun");
    const torch::Device device = parseDevice(args.value("device", "cpu"));
    auto t = torch::ones({int64_t(mb * 1e6 / 4)}, torch::TensorOptions().device(device));
    std::vector<double> seconds;
    for (int64_t i = 0; i < repeats + 2; ++i) {
        train::collective(*group, "the benchmark", [&] {
            group->barrier();
            const auto start = std::chrono::steady_clock::now();
            group->allReduceSum({t});
            if (device.is_cuda())
                torch::cuda::synchronize();
            if (i >= 2) // two warm-up rounds
                seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        });
    }
    std::sort(seconds.begin(), seconds.end());
    const double median = seconds[seconds.size() / 2];
    if (group->lead())
        std::cout << json{{"bench", "allreduce"},     {"backend", group->backend()}, {"world_size", group->size()},
                          {"mb", mb},                 {"repeats", repeats},          {"median_s", median},
                          {"ms_per_mb", median * 1e3 / mb}, {"gb_per_s", mb / 1e3 / median}}
                         .dump(2)
                  << std::endl;
    return 0;
}

} // namespace vitscope::cli

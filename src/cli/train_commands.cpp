// vitscope-cli's training commands: train mae, train clip, sweep, resume, and the
// benchmarks of what training spends its time on (bench sgemm, bench allreduce).
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

// What both pretraining recipes name alike: --preset, --weight-decay, --crop on|off
// (random resized crop), --flip on|off.
template <typename Options>
void readRecipe(Args &args, Options &o)
{
    o.preset = args.value("preset", o.preset);
    o.weightDecay = args.number("weight-decay", o.weightDecay);
    o.randomResizedCrop = onOff(args, "crop", o.randomResizedCrop);
    o.flip = onOff(args, "flip", o.flip);
}

// Joins the process group, checks that every option was used, trains (rank 0 prints the
// summary). Exit status 130 for a run stopped by Ctrl-C (it can be resumed).
template <typename Options, typename Train>
int trainAndReport(Args &args, const Options &o, const std::string &out, Train train)
{
    const auto group = processGroup(args, o.device);
    args.finish();
    const auto r = train(o, out, progressCallbacks(o.logEvery, group->lead()), group.get());
    if (group->lead())
        std::cout << summary(r).dump(2) << std::endl;
    return r.status == train::RunStatus::Finished ? 0 : 130;
}

} // namespace

int trainMaeCommand(Args &args)
{
    train::MaeTrainOptions o;
    const std::string out = args.value("out", defaultRunDir("mae"));
    readRecipe(args, o);
    o.maskStrategy = args.value("mask", o.maskStrategy);
    o.maskRatio = args.number("ratio", o.maskRatio);
    o.gridCell = args.integer("grid-cell", o.gridCell);
    o.normPixLoss = onOff(args, "norm-pix-loss", o.normPixLoss);
    o.maskTokensInEncoder = args.flag("mask-tokens-in-encoder");
    o.baseLr = args.number("base-lr", o.baseLr);
    readRunControl(args, o);
    return trainAndReport(args, o, out, train::trainMae);
}

int trainClipCommand(Args &args)
{
    train::ClipTrainOptions o;
    const std::string out = args.value("out", defaultRunDir("clip"));
    readRecipe(args, o);
    o.lr = args.number("lr", o.lr);
    o.cropScaleMin = args.number("crop-scale-min", o.cropScaleMin);
    o.bpeMerges = args.integer("bpe-merges", o.bpeMerges);
    o.csvSeparator = args.value("csv-separator", o.csvSeparator);
    if (o.csvSeparator == "tab" || o.csvSeparator == "\\t")
        o.csvSeparator = "\t";
    o.csvPathColumn = args.value("csv-path-column", o.csvPathColumn);
    o.csvCaptionColumn = args.value("csv-caption-column", o.csvCaptionColumn);
    readRunControl(args, o);
    return trainAndReport(args, o, out, train::trainClip);
}

int sweepCommand(Args &args)
{
    const auto words = args.positionals();
    train::MaeTrainOptions base;
    base.epochs = 5; // a sweep trains many short runs
    readRunBasics(args, base);
    base.preset = args.value("preset", base.preset);
    base.baseLr = args.number("base-lr", base.baseLr);
    base.normPixLoss = onOff(args, "norm-pix-loss", base.normPixLoss);
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

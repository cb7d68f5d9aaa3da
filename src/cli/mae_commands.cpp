// vitscope-cli's MAE commands: info, reconstruct, bench mae-train.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "models/runtime/allocator.h"
#include "models/autocast.h"
#include "models/runtime/timing.h"
#include "models/runtime/device.h"
#include "models/error.h"
#include "models/checkpoints/model_source.h"
#include "models/checkpoints/hf_folder.h"
#include "models/image_preprocess.h"
#include "models/kernels/fast_paths.h"
#include "models/mae.h"
#include "src/cli/commands.h"
#include "models/runtime/data_files.h"
#include "trainer/data/images.h"
#include "trainer/optim.h"

namespace vitscope::cli {
namespace {

using nlohmann::json;

int64_t parameterCount(torch::nn::Module &m)
{
    int64_t n = 0;
    for (const auto &p : m.parameters())
        n += p.numel();
    return n;
}

std::vector<int64_t> parseIndexList(const std::string &text)
{
    std::vector<int64_t> out;
    std::stringstream ss(text);
    std::string item;
    while (std::getline(ss, item, ',')) {
        if (item.empty())
            continue;
        char *end = nullptr;
        const long long v = std::strtoll(item.c_str(), &end, 10);
        if (*end != '\0')
            throw UsageError("--keep expects comma-separated patch indices, got '" + item + "'");
        out.push_back(v);
    }
    return out;
}

} // namespace

int infoCommand(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    args.finish();
    const std::string type = modelTypeOf(dir);
    if (type == "clip") {
        std::cout << clipInfo(dir).dump(2) << std::endl;
        return 0;
    }
    if (type != "vit_mae")
        throw FileError((std::filesystem::path(dir) / "config.json").string(),
                        "model_type \"" + type + "\" is not supported (supported: vit_mae, clip)");
    LoadedMae loaded = loadMae(dir);
    const int64_t params = parameterCount(*loaded.model);
    int64_t encoder = 0;
    for (const auto &p : loaded.model->named_parameters(true))
        if (p.key().rfind("decoder", 0) != 0 && p.key() != "mask_token")
            encoder += p.value().numel();
    std::cout << json{{"model", dir},
                      {"type", type},
                      {"config", loaded.model->config.toJson()},
                      {"preprocessor", loaded.processor.toJson()},
                      {"parameters", params},
                      {"encoder_parameters", encoder},
                      {"patch_grid", loaded.model->config.gridSize()},
                      {"patches", loaded.model->config.patchCount()},
                      {"has_decoder", loaded.hasDecoder},
                      {"source", originJson(loaded.origin)}}
                     .dump(2)
              << std::endl;
    return 0;
}

int reconstructCommand(Args &args)
{
    const std::string dir = resolveModelArg(args.required("model"));
    const std::string imagePath = args.required("image");
    const std::string outPath = args.required("out");
    const auto keepText = args.value("keep");
    const std::string strategyName = args.value("mask", keepText ? "custom" : "random");
    const double ratioArg = args.number("ratio", std::nan("")); // NaN: the config's mask_ratio
    const auto seed = args.integer("seed", 0);
    const auto gridCell = args.integer("grid-cell", 2);
    const std::string statsName = args.value("patch-stats", "true");
    const auto tensorsPath = args.value("save-tensors");
    const std::string deviceSpec = args.value("device", "cpu");
    args.finish();
    if (statsName != "true" && statsName != "visible")
        throw UsageError("--patch-stats expects true or visible");
    if (seed < 0)
        throw UsageError("--seed must be >= 0");

    const torch::Device device = parseDevice(deviceSpec);
    LoadedMae loaded = loadMae(dir, device);
    requireDecoder(loaded);
    const MaeConfig &c = loaded.model->config;
    const auto image = data::loadImageRgb(imagePath);

    MaskSpec spec;
    spec.strategy = parseMaskStrategy(strategyName);
    spec.ratio = std::isnan(ratioArg) ? c.maskRatio : ratioArg;
    spec.seed = static_cast<std::uint64_t>(seed);
    spec.gridCell = gridCell;
    if (keepText) {
        if (spec.strategy != MaskStrategy::Custom)
            throw UsageError("--keep gives a custom mask; it cannot be combined with --mask " + strategyName);
        spec.keep = parseIndexList(*keepText);
    }
    const Masking masking = makeMasking(spec, 1, c.gridSize(), c.gridSize(), device);

    const auto &proc = loaded.processor;
    auto x = preprocessImage(data::rgbToTensor(image), proc, c.numChannels).unsqueeze(0).to(device);
    const MaeVisuals v = visualize(loaded.model, x, masking, proc.imageMean, proc.imageStd,
                                   statsName == "true" ? PatchStats::True : PatchStats::Visible);
    const int scale = std::max<int>(1, int(224 / c.imageSize));
    std::vector<data::RgbImage> panels;
    for (const auto &t : {v.original, v.masked, v.reconstruction, v.pasted})
        panels.push_back(data::scaleNearest(data::tensorToRgb(t[0]), scale));
    data::saveImageRgb(outPath, data::hconcat(panels, 4 * scale));

    // The raw model output, for checking against other implementations.
    if (tensorsPath)
        writeSafetensors(*tensorsPath, {{"pred", v.pred}, {"mask", masking.mask}, {"loss", v.loss.reshape({})}},
                         {{"model", dir}, {"image", imagePath}, {"strategy", maskStrategyName(spec.strategy)}});
    json out = {{"model", dir},
                {"image", imagePath},
                {"strategy", maskStrategyName(spec.strategy)},
                {"ratio_requested", spec.ratio},
                {"patches", masking.length()},
                {"kept", masking.keepCount},
                {"removed", masking.length() - masking.keepCount},
                {"loss", v.loss.item<double>()},
                {"panels", {"original", "masked", "reconstruction", "reconstruction+visible"}},
                {"out", outPath}};
    if (c.normPixLoss)
        out["patch_stats"] = statsName == "true" ? "true (each removed patch's own mean and variance: flatters)"
                                                 : "visible (pooled over visible patches: no leak)";
    if (tensorsPath)
        out["tensors"] = *tensorsPath;
    std::cout << out.dump(2) << std::endl;
    return 0;
}

int benchMaeTrainCommand(Args &args)
{
    const std::string preset = args.value("preset", "fmnist");
    const auto batch = args.integer("batch", preset == "fmnist" ? 64 : 8);
    const auto steps = args.integer("steps", 10);
    const auto warmup = args.integer("warmup", 2);
    const double ratio = args.number("ratio", 0.75);
    const bool tokensInEncoder = args.flag("mask-tokens-in-encoder");
    const std::string deviceSpec = args.value("device", "auto");
    const std::string ampSpec = args.value("amp", "on");
    const std::string attention = benchAttentionOption(args);
    const BenchThreads benchThreads(args);
    args.finish();
    if (batch <= 0 || steps <= 0 || warmup < 0)
        throw UsageError("--batch and --steps must be positive, --warmup >= 0");
    if (ampSpec != "on" && ampSpec != "off")
        throw UsageError("--amp takes on or off");

    const torch::Device device = parseDevice(deviceSpec);
    const bool amp = ampSpec == "on" && device.is_cuda(); // bf16 autocast exists on CUDA only
    torch::manual_seed(0);
    const MaeConfig config = MaeConfig::preset(preset);
    Mae model(config, tokensInEncoder);
    model->to(device);
    model->train();
    // The trainer's step: its AdamW (multi-tensor update), its parameter groups, its autocast.
    train::AdamW opt(train::decayGroups(model->named_parameters(true), 0.05,
                                        {"cls_token", "mask_token", "encoder_mask_token", "pos_embed",
                                         "decoder_pos_embed"}),
                     0.9, 0.95);
    const double lr = 1.5e-4 * double(batch) / 256;
    auto imgs = torch::randn({batch, config.numChannels, config.imageSize, config.imageSize},
                             torch::TensorOptions().device(device));
    std::uint64_t seed = 0;
    auto step = [&] {
        // The trainer's choice of threads for this step (trainer/loop.cpp), under its name.
        const WorkloadThreads threads(device.is_cpu() ? maeTrainWorkload(config, batch, tokensInEncoder) : "mae-train",
                                      device.is_cpu());
        MaskSpec spec;
        spec.ratio = ratio;
        spec.seed = seed++;
        const Masking m = makeMasking(spec, batch, config.gridSize(), config.gridSize(), device);
        opt.zeroGrad();
        torch::Tensor loss;
        {
            CudaAutocast autocast(amp);
            loss = model->forward(imgs, m).loss.to(torch::kFloat32);
        }
        loss.backward();
        opt.step(lr);
    };
    benchThreads.settle(step);
    const auto t = bench::time(step, int(warmup), int(steps), device.is_cuda());
    // The machine's matrix-product rate at the encoder's MLP shape, measured right after.
    const int64_t encoderTokens =
        tokensInEncoder ? config.patchCount() + 1 : keepCountFor(config.patchCount(), ratio) + 1;
    auto a = torch::randn({batch * encoderTokens, config.hiddenSize}, torch::TensorOptions().device(device));
    auto b = torch::randn({config.hiddenSize, config.intermediateSize}, torch::TensorOptions().device(device));
    const auto mm = bench::time([&] { (void)torch::matmul(a, b); }, 3, 20, device.is_cuda());
    const double sgemm = 2.0 * double(a.size(0)) * double(a.size(1)) * double(b.size(1)) / mm.median() / 1e9;
    const double modelGflops = 3.0 * maeForwardFlops(config, encoderTokens) * double(batch) / t.median() / 1e9;
    json out{{"bench", "mae-train"},
             {"preset", preset},
             {"config", config.toJson()},
             {"variant", tokensInEncoder ? "mask tokens in encoder (Table 1c)" : "encoder on visible patches"},
             {"mask_ratio", ratio},
             {"encoder_tokens", encoderTokens},
             {"batch", batch},
             {"steps", steps},
             {"warmup", warmup},
             {"device", device.str()},
             {"precision", amp ? "bf16 autocast, float32 weights" : "float32"},
             {"attention", attention},
             {"fast_paths", fastPathsName(fastPaths())},
             {"allocator", configureAllocator().description},
             {"linear_kernel", device.is_cpu() ? linearKernelSummary() : "torch"},
             {"parameters", parameterCount(*model)},
             {"step_s_median", t.median()},
             {"step_s", t.seconds},
             {"images_per_s", double(batch) / t.median()},
             {"model_gflop_per_image_step", 3.0 * maeForwardFlops(config, encoderTokens) / 1e9},
             {"model_gflops", modelGflops},
             {"sgemm_shape", {a.size(0), a.size(1), b.size(1)}},
             {"sgemm_gflops", sgemm},
             {"model_over_sgemm", modelGflops / sgemm}};
    out.update(benchThreads.fields());
    std::cout << out.dump(2) << std::endl;
    return 0;
}

} // namespace vitscope::cli

namespace vitscope::cli {

// What the MAE explorer does for one new slider position: mask one image, encode the
// visible patches, decode, and build its four pictures (models/mae.h visualize), under
// InferenceMode as the explorer runs it. Several ratios in turn, as a slider drag does.
int benchMaeExploreCommand(Args &args)
{
    const auto modelArg = args.value("model");
    const std::string preset = args.value("preset", "vit-b16");
    const auto repeats = args.integer("repeats", 10);
    const torch::Device device = parseDevice(args.value("device", "auto"));
    const std::string attention = benchAttentionOption(args);
    const BenchThreads threads(args);
    args.finish();
    if (repeats <= 0)
        throw UsageError("--repeats must be positive");
    std::unique_ptr<LoadedMae> loaded;
    Mae model{nullptr};
    std::vector<float> mean{0.5f}, stdev{0.5f};
    std::string what = "preset " + preset + " (random weights)";
    if (modelArg) {
        loaded = std::make_unique<LoadedMae>(loadMae(resolveModelArg(*modelArg), device));
        model = loaded->model;
        mean = loaded->processor.imageMean, stdev = loaded->processor.imageStd;
        what = *modelArg;
    } else {
        torch::manual_seed(0);
        model = Mae(MaeConfig::preset(preset));
        model->to(device);
        mean.assign(std::size_t(model->config.numChannels), 0.5f);
        stdev.assign(std::size_t(model->config.numChannels), 0.5f);
    }
    model->eval();
    const auto &c = model->config;
    auto img = torch::rand({1, c.numChannels, c.imageSize, c.imageSize}, torch::TensorOptions().device(device));
    const double ratios[] = {0.5, 0.6, 0.75, 0.9};
    int n = 0;
    const auto redraw = [&] {
        InferenceScope inference;
        MaskSpec spec;
        spec.ratio = ratios[n % 4];
        spec.seed = std::uint64_t(n++);
        const Masking m = makeMasking(spec, 1, c.gridSize(), c.gridSize(), device);
        (void)visualize(model, img, m, mean, stdev, PatchStats::Visible);
    };
    threads.settle(redraw);
    const auto t = bench::time(redraw, 2, int(repeats), device.is_cuda());
    json out{{"bench", "mae-explore"},
             {"model", what},
             {"image_size", c.imageSize},
             {"patch_size", c.patchSize},
             {"repeats", repeats},
             {"device", device.str()},
             {"attention", attention},
             {"fast_paths", fastPathsName(fastPaths())},
             {"allocator", configureAllocator().description},
             {"linear_kernel", device.is_cpu() ? linearKernelSummary() : "torch"},
             {"redraw_ms_median", t.median() * 1e3},
             {"redraw_s", t.seconds}};
    out.update(threads.fields());
    std::cout << out.dump(2) << std::endl;
    return 0;
}

} // namespace vitscope::cli

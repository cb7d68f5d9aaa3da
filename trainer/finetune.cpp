#include "trainer/finetune.h"

#include <chrono>
#include <cmath>
#include <map>

#include <torch/torch.h>

#include "models/runtime/device.h"
#include "models/error.h"
#include "models/checkpoints/hf_folder.h"
#include "trainer/data/loader.h"
#include "trainer/optim.h"
#include "trainer/data/sources.h"
#include "trainer/data/transforms.h"

namespace vitscope::train {

using nlohmann::json;

json FinetuneResult::toJson() const
{
    return {{"accuracy", accuracy},
            {"epoch_loss", epochLoss},
            {"epoch_accuracy", epochAccuracy},
            {"seconds", seconds},
            {"blocks", blocks},
            {"trained_parameters", trainedParameters},
            {"frozen_parameters", frozenParameters}};
}

namespace {

// Block index of an encoder parameter for layer-wise decay: embeddings 0, blocks 1..L,
// the rest (final norm, head) L + 1.
int64_t layerOf(const std::string &name, int64_t layers)
{
    if (name == "cls_token" || name.rfind("patch_embed", 0) == 0)
        return 0;
    if (name.rfind("blocks.", 0) == 0)
        return std::stoll(name.substr(7, name.find('.', 7) - 7)) + 1;
    return layers + 1;
}

} // namespace

namespace {

// The optimizer's groups: per layer (embeddings 0, blocks 1..L, the final norm and the
// head L + 1), with and without weight decay, the learning rate scaled by
// layerDecay^(L + 1 - layer). Encoder layers at or below `frozenUpTo` get no gradients and
// are counted as frozen in `r`; the decoder is not trained.
std::vector<ParamGroup> layerGroups(Mae &mae, torch::nn::LayerNorm &fcNorm, torch::nn::Linear &head,
                                    const FinetuneOptions &o, int64_t frozenUpTo, FinetuneResult &r)
{
    const auto &c = mae->config;
    std::map<std::pair<int64_t, bool>, ParamGroup> groups;
    auto add = [&](const std::string &name, torch::Tensor p, int64_t layer, bool inEncoder) {
        if (inEncoder && layer <= frozenUpTo) {
            p.set_requires_grad(false);
            r.frozenParameters += p.numel();
            return;
        }
        p.set_requires_grad(true);
        r.trainedParameters += p.numel();
        const bool noDecay = p.dim() <= 1 || name == "cls_token";
        auto &g = groups[{layer, noDecay}];
        g.names.push_back(name);
        g.params.push_back(p);
        g.weightDecay = noDecay ? 0.0 : o.weightDecay;
        g.lrScale = std::pow(o.layerDecay, double(c.numHiddenLayers + 1 - layer));
    };
    for (const auto &p : mae->named_parameters(true)) {
        const auto &n = p.key();
        if (n.rfind("decoder", 0) == 0 || n == "mask_token" || n == "encoder_mask_token")
            continue;
        add(n, p.value(), layerOf(n, c.numHiddenLayers), true);
    }
    for (const auto &p : fcNorm->named_parameters())
        add("fc_norm." + p.key(), p.value(), c.numHiddenLayers + 1, false);
    for (const auto &p : head->named_parameters())
        add("head." + p.key(), p.value(), c.numHiddenLayers + 1, false);
    std::vector<ParamGroup> list;
    for (auto &[k, g] : groups)
        list.push_back(g);
    return list;
}

} // namespace

FinetuneResult finetuneMae(const FinetuneOptions &o, const FinetuneProgress &progress)
{
    if (o.epochs <= 0 || o.batch <= 0 || !(o.baseLr > 0) || o.layerDecay <= 0 || o.layerDecay > 1)
        throw Error("fine-tuning: epochs, batch and base_lr must be positive, layer_decay in (0, 1]");
    LoadedMae loaded = loadMae(o.model, parseDevice(o.device));
    return finetuneMae(loaded, o, progress);
}

FinetuneResult finetuneMae(LoadedMae &loaded, const FinetuneOptions &o, const FinetuneProgress &progress)
{
    namespace F = torch::nn::functional;
    if (o.epochs <= 0 || o.batch <= 0 || !(o.baseLr > 0) || o.layerDecay <= 0 || o.layerDecay > 1)
        throw Error("fine-tuning: epochs, batch and base_lr must be positive, layer_decay in (0, 1]");
    Mae &mae = loaded.model;
    const auto &c = mae->config;
    const torch::Device device = mae->clsToken.device();
    if (o.blocks < -1 || o.blocks > c.numHiddenLayers)
        throw Error("fine-tuning: --blocks must be between 0 and " + std::to_string(c.numHiddenLayers) +
                    " (the encoder's blocks), or all");
    const int64_t trainedBlocks = o.blocks < 0 ? c.numHiddenLayers : o.blocks;
    // Layers (embeddings 0, blocks 1..L, the final norm L + 1) at or below this stay frozen;
    // full fine-tuning freezes nothing.
    const int64_t frozenUpTo = o.blocks < 0 ? -1 : (trainedBlocks == 0 ? c.numHiddenLayers + 1 : c.numHiddenLayers - trainedBlocks);
    auto train = data::openSource(o.data, data::Split::Train, o.limit);
    auto test = data::openSource(o.data, data::Split::Test, o.evalLimit);
    const int64_t classes = int64_t(train->classNames().size());
    if (classes == 0)
        throw Error("fine-tuning needs labelled data (fashion-mnist or a folder of class subfolders)");

    torch::manual_seed(o.seed);
    auto fcNorm = torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hiddenSize}).eps(1e-6));
    auto head = torch::nn::Linear(c.hiddenSize, classes);
    {
        torch::NoGradGuard g;
        head->weight.normal_(0, 2e-5); // MAE's head init: tiny, so the pretrained features lead
        head->bias.zero_();
    }
    fcNorm->to(device);
    head->to(device);

    FinetuneResult r;
    r.blocks = trainedBlocks;
    AdamW opt(layerGroups(mae, fcNorm, head, o, frozenUpTo, r), 0.9, 0.999);

    data::ImageTransform t;
    t.size = c.imageSize, t.channels = c.numChannels, t.mean = loaded.processor.imageMean;
    t.std = loaded.processor.imageStd, t.pad = true, t.cropScaleMin = o.cropScaleMin;
    data::LoaderOptions lo;
    lo.batchSize = o.batch, lo.seed = o.seed, lo.workers = o.workers;
    lo.pinMemory = device.is_cuda();
    data::BatchLoader loader(
        train, [train, t](int64_t i, std::mt19937_64 &rng) { return data::trainTransform(train->image(i), t, rng); }, lo);

    auto logits = [&](const torch::Tensor &x) {
        auto tokens = mae->encodeAll(x);                  // (B, 1 + L, D), after the encoder norm
        return head(fcNorm(tokens.slice(1, 1).mean(1))); // global average pool of the patch tokens
    };
    auto evaluate = [&]() {
        torch::NoGradGuard g;
        mae->eval();
        int64_t correct = 0;
        for (int64_t start = 0; start < test->size(); start += 256) {
            std::vector<torch::Tensor> imgs;
            std::vector<int64_t> ys;
            for (int64_t i = start; i < std::min(test->size(), start + 256); ++i) {
                imgs.push_back(data::evalTransform(test->image(i), t));
                ys.push_back(test->label(i));
            }
            auto pred = logits(torch::stack(imgs).to(device)).argmax(1).cpu();
            correct += pred.eq(torch::tensor(ys, torch::kLong)).sum().item<int64_t>();
        }
        mae->train();
        return double(correct) / double(test->size());
    };

    const auto started = std::chrono::steady_clock::now();
    const int64_t perEpoch = loader.batchesPerEpoch(), total = perEpoch * o.epochs;
    const double lr = o.baseLr * double(o.batch) / 256.0;
    const int64_t warmup = int64_t(o.warmupEpochs * double(perEpoch));
    int64_t step = 0;
    mae->train();
    for (int64_t epoch = 0; epoch < o.epochs; ++epoch) {
        loader.start(epoch);
        double sum = 0;
        int64_t n = 0;
        while (auto batch = loader.next()) {
            opt.zeroGrad();
            auto loss = F::cross_entropy(logits(batch->images.to(device, /*non_blocking=*/true)),
                                         batch->labels.to(device, /*non_blocking=*/true),
                                         F::CrossEntropyFuncOptions().label_smoothing(o.labelSmoothing));
            const double v = loss.item<double>();
            if (!std::isfinite(v))
                throw Error("fine-tuning: the loss became " + std::to_string(v) + " at step " + std::to_string(step + 1) +
                            "; lower --base-lr");
            loss.backward();
            opt.step(warmupCosine(step, total, warmup, lr));
            ++step;
            sum += v, ++n;
            if (progress)
                progress(epoch, step, total, v);
        }
        r.epochLoss.push_back(sum / double(std::max<int64_t>(n, 1)));
        r.epochAccuracy.push_back(evaluate());
    }
    r.accuracy = r.epochAccuracy.back();
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return r;
}

} // namespace vitscope::train

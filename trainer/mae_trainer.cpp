#include "trainer/mae_trainer.h"

#include "models/device.h"
#include "models/error.h"
#include "models/hf_folder.h"
#include "models/mae.h"
#include "trainer/clip_trainer.h"
#include "trainer/evaluation.h"
#include "trainer/transforms.h"
#include "vitscope/version.h"

namespace vitscope::train {

using nlohmann::json;

json MaeTrainOptions::toJson() const
{
    return {{"data", data},
            {"limit", limit},
            {"preset", preset},
            {"mask_strategy", maskStrategy},
            {"mask_ratio", maskRatio},
            {"grid_cell", gridCell},
            {"norm_pix_loss", normPixLoss},
            {"mask_tokens_in_encoder", maskTokensInEncoder},
            {"epochs", epochs},
            {"batch", batch},
            {"base_lr", baseLr},
            {"warmup_epochs", warmupEpochs},
            {"weight_decay", weightDecay},
            {"clip_grad", clipGrad},
            {"random_resized_crop", randomResizedCrop},
            {"flip", flip},
            {"seed", seed},
            {"device", device},
            {"workers", workers},
            {"log_every", logEvery},
            {"checkpoint_every", checkpointEvery},
            {"keep_checkpoints", keepCheckpoints},
            {"eval_every", evalEvery},
            {"eval_limit", evalLimit},
            {"amp", amp}};
}

MaeTrainOptions MaeTrainOptions::fromJson(const json &j)
{
    MaeTrainOptions o;
    auto get = [&](const char *k, auto &field) {
        if (j.contains(k))
            field = j.at(k).get<std::decay_t<decltype(field)>>();
    };
    get("data", o.data), get("limit", o.limit), get("preset", o.preset), get("mask_strategy", o.maskStrategy);
    get("mask_ratio", o.maskRatio), get("grid_cell", o.gridCell), get("norm_pix_loss", o.normPixLoss);
    get("mask_tokens_in_encoder", o.maskTokensInEncoder), get("epochs", o.epochs), get("batch", o.batch);
    get("base_lr", o.baseLr), get("warmup_epochs", o.warmupEpochs), get("weight_decay", o.weightDecay);
    get("clip_grad", o.clipGrad), get("random_resized_crop", o.randomResizedCrop), get("flip", o.flip);
    get("seed", o.seed), get("device", o.device), get("workers", o.workers), get("log_every", o.logEvery);
    get("checkpoint_every", o.checkpointEvery), get("keep_checkpoints", o.keepCheckpoints);
    get("eval_every", o.evalEvery), get("eval_limit", o.evalLimit), get("amp", o.amp);
    return o;
}

namespace {

struct MaeSetup {
    MaeConfig config;
    ImageProcessorConfig processor;
    data::ImageTransform transform;
};

MaeSetup setup(const MaeTrainOptions &o)
{
    MaeSetup s;
    s.config = MaeConfig::preset(o.preset);
    s.config.normPixLoss = o.normPixLoss;
    s.config.maskRatio = o.maskRatio;
    s.config.validate();
    const bool grey = s.config.numChannels == 1;
    s.processor.size = s.processor.cropSize = s.config.imageSize;
    if (grey) {
        s.processor.imageMean = {kFashionMnistMean};
        s.processor.imageStd = {kFashionMnistStd};
    }
    s.processor.padSmaller = true; // the training transform pads smaller images (28 -> 32)
    s.transform.size = s.config.imageSize;
    s.transform.channels = s.config.numChannels;
    s.transform.mean = s.processor.imageMean;
    s.transform.std = s.processor.imageStd;
    s.transform.pad = true;
    s.transform.randomResizedCrop = o.randomResizedCrop;
    s.transform.flip = o.flip;
    return s;
}

void validate(const MaeTrainOptions &o)
{
    if (o.epochs <= 0 || o.batch <= 0)
        throw Error("epochs and batch must be positive");
    if (!(o.baseLr > 0) || o.weightDecay < 0 || o.clipGrad < 0 || o.warmupEpochs < 0)
        throw Error("base_lr must be positive; weight_decay, clip_grad and warmup_epochs >= 0");
    (void)parseMaskStrategy(o.maskStrategy);
}

TrainResult runMae(RunFolder &run, const MaeTrainOptions &o, const TrainCallbacks &cb)
{
    validate(o);
    const torch::Device device = parseDevice(o.device);
    const MaeSetup s = setup(o);
    auto trainSet = data::openSource(o.data, data::Split::Train, o.limit);

    torch::manual_seed(o.seed);
    Mae model(s.config, o.maskTokensInEncoder);
    model->to(device);

    auto groups = decayGroups(model->named_parameters(true), o.weightDecay,
                              {"cls_token", "mask_token", "encoder_mask_token", "pos_embed", "decoder_pos_embed"});
    AdamW opt(groups, 0.9, 0.95);
    data::LoaderOptions lo;
    lo.batchSize = o.batch, lo.seed = o.seed, lo.workers = o.workers;
    lo.pinMemory = device.is_cuda();
    const data::ImageTransform transform = s.transform;
    data::BatchLoader loader(
        trainSet, [trainSet, transform](int64_t i, std::mt19937_64 &rng) {
            return data::trainTransform(trainSet->image(i), transform, rng);
        },
        lo);

    LoopOptions loop;
    loop.epochs = o.epochs;
    loop.baseLr = o.baseLr * double(o.batch) / 256.0;
    loop.warmupSteps = int64_t(o.warmupEpochs * double(loader.batchesPerEpoch()));
    loop.clipGrad = o.clipGrad;
    loop.logEvery = o.logEvery;
    loop.checkpointEvery = o.checkpointEvery;
    loop.keepCheckpoints = o.keepCheckpoints;
    loop.amp = o.amp;
    loop.evalEvery = trainSet->classNames().empty() ? 0 : o.evalEvery;

    MaskSpec spec;
    spec.strategy = parseMaskStrategy(o.maskStrategy);
    spec.ratio = o.maskRatio;
    spec.gridCell = o.gridCell;
    const int64_t g = s.config.gridSize();

    TrainTask task;
    task.module = model.get();
    task.optimizer = &opt;
    task.loader = &loader;
    task.device = device;
    task.loss = [&](const data::Batch &batch, int64_t step) {
        MaskSpec m = spec;
        m.seed = data::mixSeed({o.seed, uint64_t(step), 0x3a5cull});
        const Masking masking = makeMasking(m, batch.images.size(0), g, g, device);
        return model->forward(batch.images.to(device, /*non_blocking=*/true), masking).loss;
    };
    std::shared_ptr<data::SampleSource> evalTrain, evalTest;
    task.evaluate = [&](int64_t) -> json {
        if (!evalTrain) {
            evalTrain = trainSet;
            evalTest = data::openSource(o.data, data::Split::Test, 0);
        }
        model->eval();
        auto encode = [&](const torch::Tensor &x) { return model->encodeAll(x).select(1, 0); };
        const auto tr = extractFeatures(encode, *evalTrain, s.transform, device, o.evalLimit);
        const auto te = extractFeatures(encode, *evalTest, s.transform, device, o.evalLimit);
        const int64_t classes = int64_t(evalTrain->classNames().size());
        return {{"knn_top1", knnAccuracy(tr, te, classes)}, {"eval_images", te.x.size(0)}};
    };
    task.saveModel = [&](const std::string &dir) { saveMaeFolder(model, s.processor, dir); };
    return runTraining(run, task, loop, cb);
}

json runConfig(const std::string &kind, const json &options, const std::string &device)
{
    return {{"kind", kind},
            {"options", options},
            {"device", device},
            {"libtorch", torchVersion()},
            {"vitscope", VITSCOPE_VERSION},
            {"threads", at::get_num_threads()}};
}

} // namespace

TrainResult trainMae(const MaeTrainOptions &o, const std::string &runDir, const TrainCallbacks &cb)
{
    validate(o);
    RunFolder run = RunFolder::create(runDir, runConfig("mae", o.toJson(), parseDevice(o.device).str()));
    return runMae(run, o, cb);
}

TrainResult resumeRun(const std::string &runDir, const TrainCallbacks &cb)
{
    RunFolder run = RunFolder::open(runDir);
    const std::string kind = run.config().at("kind");
    if (kind == "mae")
        return runMae(run, MaeTrainOptions::fromJson(run.config().at("options")), cb);
    if (kind == "clip")
        return resumeClip(run, cb);
    throw FileError(runDir + "/config.json", "unknown run kind \"" + kind + "\"");
}

} // namespace vitscope::train

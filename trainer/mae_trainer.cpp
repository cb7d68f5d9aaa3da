#include "trainer/mae_trainer.h"

#include "models/runtime/device.h"
#include "models/error.h"
#include "models/checkpoints/hf_folder.h"
#include "models/mae.h"
#include "models/runtime/tuning.h"
#include "trainer/data/datasets.h"
#include "trainer/evaluation.h"
#include "trainer/data/transforms.h"

namespace vitscope::train {

using nlohmann::json;

json MaeTrainOptions::toJson() const
{
    json j = RunControl::toJson();
    j.update({{"preset", preset},
              {"mask_strategy", maskStrategy},
              {"mask_ratio", maskRatio},
              {"grid_cell", gridCell},
              {"norm_pix_loss", normPixLoss},
              {"mask_tokens_in_encoder", maskTokensInEncoder},
              {"base_lr", baseLr},
              {"weight_decay", weightDecay},
              {"random_resized_crop", randomResizedCrop},
              {"flip", flip}});
    return j;
}

MaeTrainOptions MaeTrainOptions::fromJson(const json &j)
{
    MaeTrainOptions o;
    o.readJson(j);
    auto get = [&](const char *k, auto &field) {
        if (j.contains(k))
            field = j.at(k).get<std::decay_t<decltype(field)>>();
    };
    get("preset", o.preset), get("mask_strategy", o.maskStrategy), get("mask_ratio", o.maskRatio);
    get("grid_cell", o.gridCell), get("norm_pix_loss", o.normPixLoss), get("mask_tokens_in_encoder", o.maskTokensInEncoder);
    get("base_lr", o.baseLr), get("weight_decay", o.weightDecay), get("random_resized_crop", o.randomResizedCrop);
    get("flip", o.flip);
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
        s.processor.imageMean = {data::kFashionMnistMean};
        s.processor.imageStd = {data::kFashionMnistStd};
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

// One mask per sample, seeded by (seed, epoch, the sample's place in the epoch): the same
// sample gets the same mask whatever the batch it lands in or the number of ranks.
Masking perSampleMasking(const MaskSpec &spec, const data::Batch &batch, uint64_t seed, int64_t grid, torch::Device device)
{
    std::vector<torch::Tensor> shuffle, restore, keep, mask;
    int64_t keepCount = 0;
    for (const int64_t pos : batch.positions) {
        MaskSpec m = spec;
        m.seed = data::mixSeed({seed, uint64_t(batch.epoch), uint64_t(pos), 0x3a5cull});
        const Masking one = makeMasking(m, 1, grid, grid);
        shuffle.push_back(one.idsShuffle), restore.push_back(one.idsRestore);
        keep.push_back(one.idsKeep), mask.push_back(one.mask);
        keepCount = one.keepCount;
    }
    Masking out;
    out.idsShuffle = torch::cat(shuffle).to(device, true);
    out.idsRestore = torch::cat(restore).to(device, true);
    out.idsKeep = torch::cat(keep).to(device, true);
    out.mask = torch::cat(mask).to(device, true);
    out.keepCount = keepCount;
    return out;
}

TrainResult runMae(RunFolder &run, const MaeTrainOptions &o, const TrainCallbacks &cb, TrainingSkeleton &skeleton)
{
    validate(o);
    const torch::Device device = skeleton.device();
    const MaeSetup s = setup(o);
    auto trainSet = data::openSource(o.data, data::Split::Train, o.limit);

    Mae model{nullptr};
    {
        const auto seeded = TrainingSkeleton::seededInit(o.seed);
        model = Mae(s.config, o.maskTokensInEncoder);
    }
    model->to(device);

    auto groups = decayGroups(model->named_parameters(true), o.weightDecay,
                              {"cls_token", "mask_token", "encoder_mask_token", "pos_embed", "decoder_pos_embed"});
    AdamW opt(groups, 0.9, 0.95);
    const data::ImageTransform transform = s.transform;
    auto loader = skeleton.makeLoader(trainSet, [trainSet, transform](int64_t i, std::mt19937_64 &rng) {
        return data::trainTransform(trainSet->image(i), transform, rng);
    });
    // lr = base_lr * global batch / 256 (MAE's linear scaling rule)
    const LoopOptions loop = skeleton.loop(o.baseLr * double(o.batch) / 256.0, loader->batchesPerEpoch(),
                                           !trainSet->classNames().empty());

    MaskSpec spec;
    spec.strategy = parseMaskStrategy(o.maskStrategy);
    spec.ratio = o.maskRatio;
    spec.gridCell = o.gridCell;
    const int64_t g = s.config.gridSize();

    TrainTask task = skeleton.task(*model, opt, *loader);
    task.workload = maeTrainWorkload(s.config, skeleton.localBatch(), o.maskTokensInEncoder);
    task.loss = [&](const data::Batch &batch, int64_t) {
        const Masking masking = perSampleMasking(spec, batch, o.seed, g, device);
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

} // namespace

TrainResult trainMae(const MaeTrainOptions &o, const std::string &runDir, const TrainCallbacks &cb, Group *group)
{
    validate(o);
    TrainingSkeleton skeleton(o, group);
    RunFolder run = skeleton.createRun(runDir, "mae", o.toJson());
    return runMae(run, o, cb, skeleton);
}

TrainResult resumeMae(RunFolder &run, const TrainCallbacks &cb, Group *group)
{
    const auto o = MaeTrainOptions::fromJson(run.config().at("options"));
    TrainingSkeleton skeleton(o, group);
    return runMae(run, o, cb, skeleton);
}

} // namespace vitscope::train

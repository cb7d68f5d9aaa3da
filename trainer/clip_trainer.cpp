#include "trainer/clip_trainer.h"

#include <cmath>
#include <filesystem>

#include "models/clip.h"
#include "models/runtime/device.h"
#include "models/runtime/tuning.h"
#include "models/error.h"
#include "models/checkpoints/hf_folder.h"
#include "models/zero_shot.h"
#include "trainer/bpe_trainer.h"
#include "trainer/data/datasets.h"
#include "trainer/clip_loss.h"
#include "trainer/distributed.h"
#include "trainer/evaluation.h"
#include "trainer/data/transforms.h"

namespace vitscope::train {

using nlohmann::json;
namespace fs = std::filesystem;

json ClipTrainOptions::toJson() const
{
    json j = RunControl::toJson();
    j.update({{"preset", preset},
              {"lr", lr},
              {"weight_decay", weightDecay},
              {"random_resized_crop", randomResizedCrop},
              {"crop_scale_min", cropScaleMin},
              {"flip", flip},
              {"bpe_merges", bpeMerges},
              {"csv_separator", csvSeparator},
              {"csv_path_column", csvPathColumn},
              {"csv_caption_column", csvCaptionColumn}});
    return j;
}

ClipTrainOptions ClipTrainOptions::fromJson(const json &j)
{
    ClipTrainOptions o;
    o.readJson(j);
    auto get = [&](const char *k, auto &field) {
        if (j.contains(k))
            field = j.at(k).get<std::decay_t<decltype(field)>>();
    };
    get("preset", o.preset), get("lr", o.lr), get("weight_decay", o.weightDecay);
    get("random_resized_crop", o.randomResizedCrop), get("crop_scale_min", o.cropScaleMin), get("flip", o.flip);
    get("bpe_merges", o.bpeMerges), get("csv_separator", o.csvSeparator), get("csv_path_column", o.csvPathColumn);
    get("csv_caption_column", o.csvCaptionColumn);
    return o;
}

namespace {

const std::vector<std::string> kTrainTemplates = {
    "a photo of a {}.",      "a picture of a {}.",       "an image of a {}.",   "a {}.",
    "{}",                    "a product shot of a {}.",  "a grey photo of a {}.", "a small picture of a {}.",
    "a {} on a black background.", "this is a {}.",      "a photo of the {}.",  "a catalogue image of a {}.",
};
// Never used in training: the zero-shot evaluation's prompts.
const std::vector<std::string> kHeldOutTemplates = {
    "a low resolution photo of a {}.", "a black and white image of the {}.", "a cropped photo of a {}.",
    "a close-up of a {}.",             "a fashion item: a {}.",              "a thumbnail of a {}.",
    "a blurry photo of the {}.",       "there is a {} in this picture.",
};

} // namespace

CaptionSet fashionMnistCaptions()
{
    CaptionSet c;
    c.trainTemplates = kTrainTemplates;
    c.heldOutTemplates = kHeldOutTemplates;
    c.synonyms = {{"t-shirt/top", "t-shirt", "top", "tee"},
                  {"trouser", "trousers", "pants"},
                  {"pullover", "sweater", "jumper"},
                  {"dress", "gown", "frock"},
                  {"coat", "jacket", "overcoat"},
                  {"sandal", "sandals", "flip-flop"},
                  {"shirt", "button-up shirt", "blouse"},
                  {"sneaker", "trainer", "running shoe"},
                  {"bag", "handbag", "purse"},
                  {"ankle boot", "boot", "bootie"}};
    return c;
}

CaptionSet classNameCaptions(const std::vector<std::string> &classNames)
{
    CaptionSet c;
    c.trainTemplates = kTrainTemplates;
    c.heldOutTemplates = kHeldOutTemplates;
    for (const auto &n : classNames) {
        std::string name = n;
        std::replace(name.begin(), name.end(), '_', ' ');
        c.synonyms.push_back({name});
    }
    return c;
}

std::vector<std::string> allTrainingCaptions(const CaptionSet &c)
{
    std::vector<std::string> out;
    for (const auto &syns : c.synonyms)
        for (const auto &s : syns)
            for (const auto &t : c.trainTemplates)
                out.push_back(fillTemplate(t, s));
    return out;
}

namespace {

bool isFashionMnist(const std::string &spec)
{
    return spec.empty() || spec == "fashion-mnist" || spec.rfind("fashion-mnist:", 0) == 0;
}

data::CaptionCsvOptions csvOptions(const ClipTrainOptions &o)
{
    data::CaptionCsvOptions c;
    if (o.csvSeparator.size() != 1)
        throw Error("the caption CSV separator must be one character, got '" + o.csvSeparator + "'");
    c.separator = o.csvSeparator[0];
    c.pathColumn = o.csvPathColumn;
    c.captionColumn = o.csvCaptionColumn;
    return c;
}

struct ClipSetup {
    std::shared_ptr<data::SampleSource> train;
    bool captioned = false;
    CaptionSet captions;
    std::shared_ptr<ClipTokenizer> tokenizer;
    ClipConfig config;
    ImageProcessorConfig processor;
    data::ImageTransform transform;
};

ClipSetup setup(const ClipTrainOptions &o, const std::string &tokenizerDir, bool loadTokenizer)
{
    ClipSetup s;
    s.train = data::openSource(o.data, data::Split::Train, o.limit, csvOptions(o));
    s.captioned = s.train->classNames().empty();
    if (!s.captioned)
        s.captions = isFashionMnist(o.data) ? fashionMnistCaptions() : classNameCaptions(s.train->classNames());
    s.config = ClipConfig::preset(o.preset);
    const std::string vocab = tokenizerDir + "/vocab.json", merges = tokenizerDir + "/merges.txt";
    if (loadTokenizer) {
        s.tokenizer = std::make_shared<ClipTokenizer>(
            ClipTokenizer::fromFiles(vocab, merges, s.config.text.maxPositionEmbeddings));
    } else {
        std::vector<std::string> corpus;
        if (s.captioned)
            for (int64_t i = 0; i < s.train->size(); ++i)
                corpus.push_back(s.train->caption(i));
        else
            corpus = allTrainingCaptions(s.captions);
        BpeOptions bo;
        bo.merges = o.bpeMerges;
        bo.contextLength = s.config.text.maxPositionEmbeddings;
        s.tokenizer = std::make_shared<ClipTokenizer>(trainBpe(corpus, bo));
        if (!tokenizerDir.empty()) {
            fs::create_directories(tokenizerDir);
            s.tokenizer->save(vocab, merges);
        }
    }
    s.config.text.vocabSize = s.tokenizer->vocabSize();
    s.config.text.eosTokenId = s.config.text.padTokenId = s.tokenizer->endId();
    s.config.text.bosTokenId = s.tokenizer->startId();
    s.config.validate();
    const auto &v = s.config.vision;
    s.processor = ImageProcessorConfig::clip(v.imageSize, v.numChannels);
    if (v.numChannels == 1 && isFashionMnist(o.data)) {
        s.processor.imageMean = {data::kFashionMnistMean};
        s.processor.imageStd = {data::kFashionMnistStd};
    }
    s.processor.padSmaller = true; // the training transform pads smaller images (28 -> 32)
    s.transform.size = v.imageSize;
    s.transform.channels = v.numChannels;
    s.transform.mean = s.processor.imageMean;
    s.transform.std = s.processor.imageStd;
    s.transform.pad = true;
    s.transform.randomResizedCrop = o.randomResizedCrop;
    s.transform.cropScaleMin = o.cropScaleMin;
    s.transform.flip = o.flip;
    return s;
}

// Every rank must tokenize as rank 0 does (rank 0 may have loaded the run's saved tokenizer
// while the others learned theirs from the captions): a fingerprint of the vocabulary size
// and the ids of probe texts, compared across ranks.
void checkSameTokenizer(Group &group, const ClipSetup &s)
{
    std::vector<std::string> probes; // what training tokenizes: every caption it can make, or the first 1000
    if (s.captioned)
        for (int64_t i = 0; i < std::min<int64_t>(1000, s.train->size()); ++i)
            probes.push_back(s.train->caption(i));
    else
        probes = allTrainingCaptions(s.captions);
    uint64_t h = 1469598103934665603ull ^ uint64_t(s.tokenizer->vocabSize());
    for (const auto &p : probes)
        for (const int64_t id : s.tokenizer->encode(p, Truncation::Truncate))
            h = (h ^ uint64_t(id)) * 1099511628211ull;
    const int64_t mine = int64_t(h >> 12);
    auto high = torch::tensor({mine, -mine}, torch::kLong); // max of both: the max and minus the min
    collective(group, "comparing the tokenizers", [&] { group.allReduceMax({high}); });
    if (high[0].item<int64_t>() != mine || -high[1].item<int64_t>() != mine)
        throw Error("the ranks' CLIP tokenizers differ (rank 0 has the run's saved one, the others learn theirs from "
                    "the captions; was the run started by another vitscope version?): resume it on one process");
}

TrainResult runClip(RunFolder &run, const ClipTrainOptions &o, const TrainCallbacks &cb, bool resuming,
                    TrainingSkeleton &skeleton)
{
    if (o.epochs <= 0 || o.batch <= 1)
        throw Error("epochs must be positive and batch at least 2 (contrastive pairs)");
    if (!(o.lr > 0) || o.weightDecay < 0)
        throw Error("lr must be positive and weight_decay >= 0");
    const torch::Device device = skeleton.device();
    const std::string tokDir = (fs::path(run.dir()) / "tokenizer").string();
    // Rank 0 learns the tokenizer and saves it with the run; the other ranks learn the same
    // one from the same captions (the BPE trainer is deterministic) without writing it.
    const bool lead = skeleton.group().lead();
    const ClipSetup s = setup(o, lead ? tokDir : std::string(), lead && resuming && fs::exists(tokDir + "/vocab.json"));

    Group &group = skeleton.group();
    if (group.size() > 1)
        checkSameTokenizer(group, s);

    Clip model{nullptr};
    {
        const auto seeded = TrainingSkeleton::seededInit(o.seed);
        model = Clip(s.config);
    }
    model->to(device);
    AdamW opt(decayGroups(model->named_parameters(true), o.weightDecay, {"logit_scale"}), 0.9, 0.98, 1e-6);

    const auto trainSet = s.train;
    const data::ImageTransform transform = s.transform;
    auto loader = skeleton.makeLoader(trainSet, [trainSet, transform](int64_t i, std::mt19937_64 &rng) {
        return data::trainTransform(trainSet->image(i), transform, rng);
    });
    const LoopOptions loop = skeleton.loop(o.lr, loader->batchesPerEpoch(), !s.captioned);

    const auto tokenizer = s.tokenizer;
    const CaptionSet captions = s.captions;
    const bool captioned = s.captioned;
    TrainTask task = skeleton.task(*model, opt, *loader);
    const auto &vc = s.config.vision;
    const auto &tc = s.config.text;
    task.workload = "clip-train image " + std::to_string(vc.hiddenSize) + "x" + std::to_string(vc.numHiddenLayers) +
                    " patches " + std::to_string(vc.patchCount()) + " text " + std::to_string(tc.hiddenSize) + "x" +
                    std::to_string(tc.numHiddenLayers) + " batch " + sizeBucket(skeleton.localBatch());
    task.loss = [&](const data::Batch &batch, int64_t) {
        const int64_t B = batch.images.size(0);
        std::vector<std::vector<int64_t>> ids;
        int64_t maxLen = 1;
        for (int64_t r = 0; r < B; ++r) {
            std::string text;
            if (captioned) {
                text = batch.captions[std::size_t(r)];
            } else {
                // seeded by the sample's place in the epoch: the same caption whatever the batch or rank
                std::mt19937_64 rng(data::mixSeed(
                    {o.seed, uint64_t(batch.epoch), uint64_t(batch.positions[std::size_t(r)]), 0xc1eull}));
                const auto &syns = captions.synonyms[std::size_t(batch.labels[r].item<int64_t>())];
                const auto &t = captions.trainTemplates[rng() % captions.trainTemplates.size()];
                text = fillTemplate(t, syns[rng() % syns.size()]);
            }
            ids.push_back(tokenizer->encode(text, Truncation::Truncate));
            maxLen = std::max<int64_t>(maxLen, int64_t(ids.back().size()));
        }
        auto tok = torch::full({B, maxLen}, tokenizer->endId(), torch::kLong);
        auto eos = torch::empty({B}, torch::kLong);
        for (int64_t r = 0; r < B; ++r) {
            const auto &row = ids[std::size_t(r)];
            tok[r].slice(0, 0, int64_t(row.size())).copy_(torch::tensor(row, torch::kLong));
            eos[r] = int64_t(row.size()) - 1;
        }
        auto img = model->imageFeatures(batch.images.to(device, /*non_blocking=*/true));
        auto txt = model->textFeatures(tok, eos); // host ids: checked without a device sync, then copied
        if (group.size() == 1)
            return clipLoss(img, txt, model->logitScale).loss;
        // The contrastive batch is global: every rank's rows against all ranks' columns.
        const auto imgAll = group.allGatherWithGrad(img);
        const auto txtAll = group.allGatherWithGrad(txt);
        return clipLossLocal(img, txt, imgAll, txtAll, model->logitScale, group.rank());
    };
    task.afterStep = [&] {
        torch::NoGradGuard g;
        model->logitScale.clamp_(0.0, std::log(100.0));
    };
    std::shared_ptr<data::SampleSource> testSet;
    task.evaluate = [&](int64_t) -> json {
        if (!testSet)
            testSet = data::openSource(o.data, data::Split::Test, 0, csvOptions(o));
        model->eval();
        std::vector<std::string> names;
        for (const auto &syns : captions.synonyms)
            names.push_back(syns.front());
        const double acc = zeroShotAccuracy(model, tokenizer, *testSet, s.transform, device, names,
                                            captions.heldOutTemplates, o.evalLimit);
        return {{"zeroshot_top1", acc}, {"templates", "held-out"}, {"eval_images", std::min(o.evalLimit > 0 ? o.evalLimit : testSet->size(), testSet->size())}};
    };
    task.saveModel = [&](const std::string &dir) { saveClipFolder(model, *tokenizer, s.processor, dir); };
    return runTraining(run, task, loop, cb);
}

} // namespace

TrainResult trainClip(const ClipTrainOptions &o, const std::string &runDir, const TrainCallbacks &cb, Group *group)
{
    TrainingSkeleton skeleton(o, group);
    RunFolder run = skeleton.createRun(runDir, "clip", o.toJson());
    return runClip(run, o, cb, false, skeleton);
}

TrainResult resumeClip(RunFolder &run, const TrainCallbacks &cb, Group *group)
{
    const auto o = ClipTrainOptions::fromJson(run.config().at("options"));
    TrainingSkeleton skeleton(o, group);
    return runClip(run, o, cb, true, skeleton);
}

} // namespace vitscope::train

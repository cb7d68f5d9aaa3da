// The run control every trainer embeds (trainer/run_control.h): one JSON round trip, the
// keys a run's config.json has always had (so old runs resume), and each trainer's own
// defaults left as they were.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "trainer/clip_trainer.h"
#include "trainer/finetune.h"
#include "trainer/mae_trainer.h"
#include "trainer/run_control.h"

using namespace vitscope::train;
using nlohmann::json;

namespace {

// Every field set away from its default.
RunControl unusual()
{
    RunControl r;
    r.data = "/data/photos";
    r.limit = 123;
    r.epochs = 7;
    r.batch = 96;
    r.warmupEpochs = 0.5;
    r.clipGrad = 1.25;
    r.seed = 42;
    r.device = "cpu";
    r.workers = 3;
    r.logEvery = 5;
    r.checkpointEvery = 250;
    r.keepCheckpoints = 4;
    r.evalEvery = 2;
    r.evalLimit = 500;
    r.amp = false;
    return r;
}

void expectSame(const RunControl &a, const RunControl &b)
{
    EXPECT_EQ(a.data, b.data);
    EXPECT_EQ(a.limit, b.limit);
    EXPECT_EQ(a.epochs, b.epochs);
    EXPECT_EQ(a.batch, b.batch);
    EXPECT_EQ(a.warmupEpochs, b.warmupEpochs);
    EXPECT_EQ(a.clipGrad, b.clipGrad);
    EXPECT_EQ(a.seed, b.seed);
    EXPECT_EQ(a.device, b.device);
    EXPECT_EQ(a.workers, b.workers);
    EXPECT_EQ(a.logEvery, b.logEvery);
    EXPECT_EQ(a.checkpointEvery, b.checkpointEvery);
    EXPECT_EQ(a.keepCheckpoints, b.keepCheckpoints);
    EXPECT_EQ(a.evalEvery, b.evalEvery);
    EXPECT_EQ(a.evalLimit, b.evalLimit);
    EXPECT_EQ(a.amp, b.amp);
}

std::set<std::string> keysOf(const json &j)
{
    std::set<std::string> k;
    for (auto it = j.begin(); it != j.end(); ++it)
        k.insert(it.key());
    return k;
}

} // namespace

TEST(RunControl, JsonRoundTripKeepsEveryField)
{
    const RunControl a = unusual();
    RunControl b;
    b.readJson(a.toJson());
    expectSame(a, b);
}

TEST(RunControl, MissingKeysKeepTheirValues)
{
    RunControl r = unusual();
    r.readJson(json{{"epochs", 3}});
    EXPECT_EQ(r.epochs, 3);
    EXPECT_EQ(r.batch, 96);
    EXPECT_EQ(r.data, "/data/photos");
}

TEST(RunControl, TrainerOptionsWriteTheKeysOfEarlierRuns)
{
    // The config.json "options" keys written before the run control existed (a run folder
    // from then must resume), written out here by hand.
    const std::set<std::string> shared = {"data", "limit", "epochs", "batch", "warmup_epochs", "clip_grad", "seed",
                                          "device", "workers", "log_every", "checkpoint_every", "keep_checkpoints",
                                          "eval_every", "eval_limit", "amp"};
    std::set<std::string> mae = shared, clip = shared;
    for (const char *k : {"preset", "mask_strategy", "mask_ratio", "grid_cell", "norm_pix_loss", "mask_tokens_in_encoder",
                          "base_lr", "weight_decay", "random_resized_crop", "flip"})
        mae.insert(k);
    for (const char *k : {"preset", "lr", "weight_decay", "random_resized_crop", "crop_scale_min", "flip", "bpe_merges",
                          "csv_separator", "csv_path_column", "csv_caption_column"})
        clip.insert(k);
    EXPECT_EQ(keysOf(MaeTrainOptions().toJson()), mae);
    EXPECT_EQ(keysOf(ClipTrainOptions().toJson()), clip);
}

TEST(RunControl, TrainerOptionsRoundTripWithTheirOwnFields)
{
    MaeTrainOptions m;
    static_cast<RunControl &>(m) = unusual();
    m.maskStrategy = "grid", m.maskRatio = 0.5, m.baseLr = 3e-4, m.weightDecay = 0.1, m.flip = false;
    const auto m2 = MaeTrainOptions::fromJson(m.toJson());
    expectSame(m, m2);
    EXPECT_EQ(m2.maskStrategy, "grid");
    EXPECT_EQ(m2.maskRatio, 0.5);
    EXPECT_EQ(m2.baseLr, 3e-4);
    EXPECT_EQ(m2.weightDecay, 0.1);
    EXPECT_FALSE(m2.flip);

    ClipTrainOptions c;
    static_cast<RunControl &>(c) = unusual();
    c.lr = 1e-4, c.bpeMerges = 300, c.csvSeparator = ",";
    const auto c2 = ClipTrainOptions::fromJson(c.toJson());
    expectSame(c, c2);
    EXPECT_EQ(c2.lr, 1e-4);
    EXPECT_EQ(c2.bpeMerges, 300);
    EXPECT_EQ(c2.csvSeparator, ",");
}

TEST(RunControl, EachTrainerKeepsItsOwnDefaults)
{
    // The papers' recipes (REFERENCE.md) and the fine-tuning defaults, as before.
    EXPECT_EQ(MaeTrainOptions().weightDecay, 0.05);
    EXPECT_EQ(MaeTrainOptions().baseLr, 1.5e-4);
    EXPECT_EQ(ClipTrainOptions().weightDecay, 0.2);
    EXPECT_EQ(ClipTrainOptions().lr, 5e-4);
    EXPECT_EQ(FinetuneOptions().epochs, 5);
    EXPECT_EQ(FinetuneOptions().evalLimit, 0);
    EXPECT_EQ(FinetuneOptions().weightDecay, 0.05);
    EXPECT_EQ(MaeTrainOptions().epochs, 10);
    EXPECT_EQ(MaeTrainOptions().evalLimit, 2000);
}

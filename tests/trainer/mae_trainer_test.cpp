// MAE training runs: resuming reproduces the uninterrupted loss sequence, a NaN stops the
// run and keeps the last good checkpoint, and a few hundred steps lower the loss.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "common/fashion_mnist.h"
#include "common/run_metrics.h"
#include "common/temp_dir.h"
#include "common/tuning_env.h"
#include "models/error.h"
#include "models/checkpoints/hf_folder.h"
#include "models/mae.h"
#include "models/runtime/tuning.h"
#include "trainer/mae_trainer.h"
#include "trainer/resume.h"

namespace vitscope {
namespace {

using nlohmann::json;
using test::stepLosses;
using test::TempDir;
using test::haveFashionMnist;

train::MaeTrainOptions tinyOptions()
{
    train::MaeTrainOptions o;
    o.limit = 96, o.batch = 16, o.epochs = 2, o.baseLr = 2e-3, o.warmupEpochs = 0.5;
    o.logEvery = 1, o.evalEvery = 0, o.device = "cpu", o.workers = 2, o.seed = 5;
    return o;
}

TEST(MaeTrainer, ResumingGivesTheUninterruptedLossSequence)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    const auto o = tinyOptions(); // 6 steps per epoch, 12 in all
    const auto full = train::trainMae(o, dir.file("full"));
    ASSERT_EQ(full.status, train::RunStatus::Finished);
    EXPECT_EQ(full.steps, 12);

    train::TrainCallbacks stopAt4;
    int seen = 0;
    stopAt4.onStep = [&](const train::StepInfo &) { ++seen; };
    stopAt4.shouldStop = [&] { return seen >= 4; };
    const auto part = train::trainMae(o, dir.file("split"), stopAt4);
    EXPECT_EQ(part.status, train::RunStatus::Stopped);
    EXPECT_EQ(part.steps, 4); // stopped within one step
    const auto rest = train::resumeRun(dir.file("split"));
    ASSERT_EQ(rest.status, train::RunStatus::Finished);
    EXPECT_TRUE(rest.resumed);
    EXPECT_EQ(rest.resumedFromStep, 4);

    const auto a = stepLosses(dir.file("full")), b = stepLosses(dir.file("split"));
    ASSERT_EQ(a.size(), 12u);
    ASSERT_EQ(b.size(), 12u); // no step logged twice
    for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
    // Both final models are the same model, and load as Hugging Face folders.
    auto m1 = loadMae(dir.file("full/model")), m2 = loadMae(dir.file("split/model"));
    EXPECT_TRUE(torch::equal(m1.model->blocks[0]->as<TransformerBlockImpl>()->fc1->weight,
                             m2.model->blocks[0]->as<TransformerBlockImpl>()->fc1->weight));
    // Only the newest two checkpoints are kept.
    int checkpoints = 0;
    for (const auto &e : std::filesystem::directory_iterator(dir.file("full/checkpoints")))
        checkpoints += e.path().extension() == ".safetensors";
    EXPECT_EQ(checkpoints, 2);
    EXPECT_THROW(train::trainMae(o, dir.file("full")), FileError); // a run folder is never overwritten
}

TEST(MaeTrainer, NonFiniteLossStopsAndKeepsTheLastGoodCheckpoint)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    auto o = tinyOptions();
    o.baseLr = 1e12, o.warmupEpochs = 0, o.checkpointEvery = 1;
    try {
        train::trainMae(o, dir.file("nan"));
        FAIL() << "expected the run to stop on a non-finite loss";
    } catch (const Error &e) {
        const std::string msg = e.what();
        EXPECT_NE(msg.find("the loss became"), std::string::npos) << msg;
        EXPECT_NE(msg.find("last good checkpoint"), std::string::npos) << msg;
    }
    auto run = train::RunFolder::open(dir.file("nan"));
    const auto c = run.latestCheckpoint();
    ASSERT_TRUE(c.has_value());
    for (const auto &[name, t] : c->tensors) {
        if (name.rfind("model.", 0) == 0) {
            EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
        }
    }
}

// All records of one type, in order.
std::vector<json> records(const std::string &run, const std::string &type)
{
    std::vector<json> out;
    std::ifstream in(run + "/metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
        const auto j = json::parse(line);
        if (j["type"] == type)
            out.push_back(j);
    }
    return out;
}

// CUDA runs read the losses back only when a value is needed. The same path, forced on
// the CPU, must write exactly what reading every step writes.
// On the CPU in one process the steps choose their thread count (models/runtime/tuning.h):
// the 12 steps here measure both counts and keep the one the rule picks from the medians,
// and the losses are those of a run at the process's count, to float rounding.
TEST(TrainLoop, StepsChooseTheirThreadsWithoutChangingTheLosses)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    const auto o = tinyOptions();
    {
        const test::TuningEnv env("fixed", dir.file("cache-fixed"), 2);
        ASSERT_EQ(train::trainMae(o, dir.file("fixed")).status, train::RunStatus::Finished);
    }
    {
        const test::TuningEnv env("auto", dir.file("cache-auto"), 2);
        ASSERT_EQ(train::trainMae(o, dir.file("auto")).status, train::RunStatus::Finished);
        const auto d = workloadThreads(maeTrainWorkload(MaeConfig::preset(o.preset), o.batch, false));
        EXPECT_EQ(d.source, "measured") << d.workload;
        ASSERT_EQ(d.medians.size(), 2u);
        EXPECT_EQ(d.threads, d.medians.at(1) < 0.9 * d.medians.at(2) ? 1 : 2);
    }
    const auto a = stepLosses(dir.file("fixed")), b = stepLosses(dir.file("auto"));
    ASSERT_EQ(a.size(), 12u);
    ASSERT_EQ(b.size(), 12u);
    for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(b[i], a[i], 1e-4 * std::abs(a[i])) << "step " << i + 1;
}

TEST(TrainLoop, DeferredLossReadsWriteTheSameMetrics)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    auto o = tinyOptions(); // 12 steps
    o.logEvery = 5;         // lines at steps 5, 10 and 12 (the last)
    train::TrainCallbacks every, deferred;
    every.lossReads = train::TrainCallbacks::LossReads::EveryStep;
    deferred.lossReads = train::TrainCallbacks::LossReads::Deferred;
    const auto a = train::trainMae(o, dir.file("every"), every);
    const auto b = train::trainMae(o, dir.file("deferred"), deferred);
    EXPECT_EQ(a.lastLoss, b.lastLoss);
    const auto stepsA = records(dir.file("every"), "step"), stepsB = records(dir.file("deferred"), "step");
    ASSERT_EQ(stepsA.size(), 3u);
    ASSERT_EQ(stepsB.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(stepsA[i]["step"], stepsB[i]["step"]);
        EXPECT_EQ(stepsA[i]["loss"].get<double>(), stepsB[i]["loss"].get<double>()) << "line " << i;
    }
    const auto epochsA = records(dir.file("every"), "epoch"), epochsB = records(dir.file("deferred"), "epoch");
    ASSERT_EQ(epochsA.size(), 2u);
    ASSERT_EQ(epochsB.size(), 2u);
    for (std::size_t i = 0; i < 2; ++i) // the epoch mean needs every step's loss, read or deferred
        EXPECT_EQ(epochsA[i]["loss"].get<double>(), epochsB[i]["loss"].get<double>()) << "epoch " << i;
}

TEST(TrainLoop, DeferredLossReadsStopAtTheSameNonFiniteStep)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    auto o = tinyOptions();
    o.baseLr = 1e12, o.warmupEpochs = 0, o.logEvery = 100, o.checkpointEvery = 0;
    auto failure = [&](const std::string &name, train::TrainCallbacks::LossReads reads) {
        train::TrainCallbacks cb;
        cb.lossReads = reads;
        try {
            train::trainMae(o, dir.file(name), cb);
        } catch (const Error &e) {
            return std::string(e.what());
        }
        return std::string("no error");
    };
    const std::string a = failure("every", train::TrainCallbacks::LossReads::EveryStep);
    const std::string b = failure("deferred", train::TrainCallbacks::LossReads::Deferred);
    ASSERT_NE(a.find("the loss became"), std::string::npos) << a;
    // The message names the step, its learning rate and the checkpoint: all the same.
    EXPECT_EQ(a.substr(0, a.find("the last good")), b.substr(0, b.find("the last good")));
    const auto errA = records(dir.file("every"), "error"), errB = records(dir.file("deferred"), "error");
    ASSERT_EQ(errA.size(), 1u);
    ASSERT_EQ(errB.size(), 1u);
    EXPECT_EQ(errA[0]["step"], errB[0]["step"]);
    // The deferred run found it at the end of the epoch at the latest: no checkpoint after it.
    const auto c = train::RunFolder::open(dir.file("deferred")).latestCheckpoint();
    if (c) {
        EXPECT_LE(c->step, errB[0]["step"].get<int64_t>());
        for (const auto &[name, t] : c->tensors)
            if (name.rfind("model.", 0) == 0) {
                EXPECT_TRUE(torch::isfinite(t).all().item<bool>()) << name;
            }
    }
}

TEST(MaeTrainerSlow, ThreeHundredStepsOn512ImagesLowerTheLoss)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    auto o = tinyOptions();
    o.limit = 512, o.batch = 32, o.epochs = 19, o.baseLr = 1.5e-3, o.warmupEpochs = 1, o.logEvery = 1;
    const auto r = train::trainMae(o, dir.file("run"));
    ASSERT_EQ(r.steps, 16 * 19);
    const auto losses = stepLosses(dir.file("run"));
    ASSERT_EQ(losses.size(), 16u * 19u);
    auto mean = [&](std::size_t from, std::size_t n) {
        double s = 0;
        for (std::size_t i = from; i < from + n; ++i)
            s += losses[i];
        return s / double(n);
    };
    // Normalized-pixel targets: predicting zeros scores about 1; the untrained decoder more.
    const double first = mean(0, 16), last = mean(losses.size() - 16, 16);
    EXPECT_LT(last, 0.7 * first) << first << " -> " << last;
    EXPECT_LT(last, 0.85) << "not better than predicting each patch's mean";
}

} // namespace
} // namespace vitscope

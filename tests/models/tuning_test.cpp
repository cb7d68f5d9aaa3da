// The per-workload thread choice (models/runtime/tuning.h): the chooser's rule on times
// worked out by hand, the whole measure-decide-cache cycle on workloads whose speed at each
// count is set by the test (sleeps 6x apart), and the CLIP towers' calls going through it.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/clip_fixture.h"
#include "common/temp_dir.h"
#include "common/tuning_env.h"
#include "models/clip.h"
#include "models/runtime/tuning.h"

using namespace vitscope;

namespace {

// One call of a workload that takes `atOne` ms at one thread and `atMore` ms at more;
// returns the count it ran at.
int sleepyCall(const std::string &workload, int atOne, int atMore)
{
    const WorkloadThreads threads(workload);
    const int n = at::get_num_threads();
    std::this_thread::sleep_for(std::chrono::milliseconds(n == 1 ? atOne : atMore));
    return n;
}

} // namespace

TEST(ThreadChooser, AlternatesAfterAWarmUpAndKeepsTheClearlyFasterCount)
{
    ThreadChooser c({2, 1}, 3);
    std::vector<int> seen;
    // Times by hand: one thread 50 ms, two threads 100 ms (the warm-up's 900 ms is dropped).
    const double ms[] = {0, 0.050, 0.100};
    for (int call = 0; call < 20 && !c.decided(); ++call) {
        const int n = c.next();
        seen.push_back(n);
        c.record(n, call == 0 ? 0.9 : ms[n]);
    }
    EXPECT_EQ(seen, (std::vector<int>{2, 2, 1, 2, 1, 2, 1})) << "warm-up at every core, then alternating";
    ASSERT_TRUE(c.decided());
    EXPECT_EQ(c.choice(), 1);
    EXPECT_EQ(c.next(), 1);
    EXPECT_DOUBLE_EQ(c.medians().at(1), 0.050);
    EXPECT_DOUBLE_EQ(c.medians().at(2), 0.100);
}

TEST(ThreadChooser, ATieKeepsEveryCoreAndMediansIgnoreOneOutlier)
{
    // 1 thread at 95 ms against 100 ms: within 10%, so every core stays.
    ThreadChooser tie({2, 1}, 3);
    tie.record(2, 1.0);
    for (int i = 0; i < 3; ++i) {
        tie.record(2, 0.100);
        tie.record(1, 0.095);
    }
    ASSERT_TRUE(tie.decided());
    EXPECT_EQ(tie.choice(), 2);

    // One thread: 40, 900 (a page fault storm), 60 ms: median 60; two: 100 ms each.
    ThreadChooser outlier({2, 1}, 3);
    outlier.record(2, 5.0);
    const double one[] = {0.040, 0.900, 0.060};
    for (double s : one) {
        outlier.record(2, 0.100);
        outlier.record(1, s);
    }
    ASSERT_TRUE(outlier.decided());
    EXPECT_DOUBLE_EQ(outlier.medians().at(1), 0.060);
    EXPECT_EQ(outlier.choice(), 1);

    // Every core faster: it stays.
    ThreadChooser faster({4, 2, 1}, 2);
    faster.record(4, 1.0);
    for (int i = 0; i < 2; ++i)
        for (int n : {4, 2, 1})
            faster.record(n, 0.2 / n + 0.01);
    EXPECT_EQ(faster.choice(), 4);

    ThreadChooser single({1});
    EXPECT_TRUE(single.decided());
    EXPECT_EQ(single.choice(), 1);
}

TEST(ThreadChooser, SizeBucketsArePowersOfTwo)
{
    EXPECT_EQ(sizeBucket(0), "0");
    EXPECT_EQ(sizeBucket(1), "1");
    EXPECT_EQ(sizeBucket(2), "2");
    EXPECT_EQ(sizeBucket(3), "3-4");
    EXPECT_EQ(sizeBucket(4), "3-4");
    EXPECT_EQ(sizeBucket(5), "5-8");
    EXPECT_EQ(sizeBucket(8), "5-8");
    EXPECT_EQ(sizeBucket(9), "9-16");
    EXPECT_EQ(sizeBucket(256), "129-256");
}

TEST(WorkloadThreads, MeasuresEachWorkloadDecidesCachesAndRestoresTheThread)
{
    test::TempDir dir;
    const test::TuningEnv env("auto", dir.path().string(), 2);
    ASSERT_EQ(processThreads(), 2);

    // Slow at two threads: seven calls (a warm-up, three at each count) choose one.
    std::vector<int> seen;
    for (int i = 0; i < 12 && workloadThreads("test slow-at-two").source == "measuring"; ++i)
        seen.push_back(sleepyCall("test slow-at-two", 5, 30));
    EXPECT_EQ(seen, (std::vector<int>{2, 2, 1, 2, 1, 2, 1}));
    const auto slow = workloadThreads("test slow-at-two");
    EXPECT_EQ(slow.source, "measured");
    EXPECT_EQ(slow.threads, 1);
    EXPECT_GT(slow.medians.at(2), 3 * slow.medians.at(1)) << "30 ms against 5 ms of sleep";
    EXPECT_EQ(sleepyCall("test slow-at-two", 5, 30), 1);
    EXPECT_EQ(at::get_num_threads(), 2) << "the caller's count is restored after each call";

    // Fast at two threads: two stay. Each workload has its own decision.
    for (int i = 0; i < 12 && workloadThreads("test fast-at-two").source == "measuring"; ++i)
        (void)sleepyCall("test fast-at-two", 30, 5);
    EXPECT_EQ(workloadThreads("test fast-at-two").threads, 2);
    EXPECT_EQ(workloadThreads("test slow-at-two").threads, 1);

    // A call that throws is not counted.
    {
        const test::TuningEnv again("auto", dir.path().string(), 2); // forgets the decisions, keeps the file
        (void)sleepyCall("test throws", 5, 5); // the warm-up
        try {
            const WorkloadThreads threads("test throws");
            throw std::runtime_error("a bad input");
        } catch (const std::runtime_error &) {
        }
        EXPECT_TRUE(workloadThreads("test throws").medians.empty());
        EXPECT_EQ(workloadThreads("test throws").threads, 2) << "still the first count's turn";
    }

    // The cache holds both answers; a new process (here: forgotten decisions) reads them.
    std::ifstream in(tuningCacheFile());
    ASSERT_TRUE(in) << tuningCacheFile();
    const auto j = nlohmann::json::parse(in);
    int entries = 0;
    for (const auto &[key, value] : j.items())
        if (key.find("|threads|test ") != std::string::npos) {
            ++entries;
            EXPECT_EQ(value.at("threads"), key.find("slow-at-two") != std::string::npos ? 1 : 2) << key;
        }
    EXPECT_EQ(entries, 2);
    resetWorkloadThreads();
    const auto cached = workloadThreads("test slow-at-two");
    EXPECT_EQ(cached.source, "cache");
    EXPECT_EQ(cached.threads, 1);
    EXPECT_EQ(sleepyCall("test slow-at-two", 5, 30), 1);
    EXPECT_EQ(lastWorkloadThreads()->source, "cache");

    // A damaged cache is measured again.
    { std::ofstream(tuningCacheFile()) << "[1, 2"; }
    resetWorkloadThreads();
    EXPECT_EQ(workloadThreads("test slow-at-two").source, "measuring");
}

// Two workloads at once share the cores: neither call's time says anything about its own
// count, so neither is counted; alone again, calls count.
TEST(WorkloadThreads, CallsThatOverlapAnotherWorkloadAreNotCounted)
{
    test::TempDir dir;
    const test::TuningEnv env("auto", dir.path().string(), 2);
    (void)sleepyCall("test overlap a", 1, 1); // the warm-ups
    (void)sleepyCall("test overlap b", 1, 1);
    std::thread other([] { (void)sleepyCall("test overlap a", 80, 80); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // a is running
    (void)sleepyCall("test overlap b", 5, 5);
    other.join();
    EXPECT_TRUE(workloadThreads("test overlap a").medians.empty()) << "b started while a ran";
    EXPECT_TRUE(workloadThreads("test overlap b").medians.empty()) << "a was running when b started";
    (void)sleepyCall("test overlap b", 5, 5);
    EXPECT_EQ(workloadThreads("test overlap b").medians.size(), 1u) << "alone, a call counts";
}

TEST(WorkloadThreads, ChoosesNothingWhenFixedInsideAScopeOrOnOneCore)
{
    test::TempDir dir;
    {
        const test::TuningEnv env("fixed", dir.path().string(), 2);
        EXPECT_EQ(sleepyCall("test fixed", 1, 1), 2);
        EXPECT_EQ(lastWorkloadThreads()->source, "fixed");
    }
    {
        const test::TuningEnv env("auto", dir.path().string(), 2);
        const ThreadCountScope one(1);
        EXPECT_EQ(processThreads(), 2) << "the process's count, whatever scope is open";
        EXPECT_EQ(sleepyCall("test scoped", 1, 1), 1);
        EXPECT_EQ(lastWorkloadThreads()->source, "scope");
        {
            const ThreadCountScope two(2);
            EXPECT_EQ(at::get_num_threads(), 2);
        }
        EXPECT_EQ(at::get_num_threads(), 1) << "nested scopes restore the outer one";
    }
    {
        const test::TuningEnv env("auto", dir.path().string(), 1);
        EXPECT_EQ(sleepyCall("test one core", 1, 1), 1);
        EXPECT_EQ(lastWorkloadThreads()->source, "one core");
    }
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "kernels.json")) << "nothing was measured, nothing written";
}

TEST(WorkloadThreads, ClipTowersChooseTheirThreadsAndGiveTheSameFeaturesAtEachCount)
{
    test::TempDir dir;
    const test::TuningEnv env("auto", dir.path().string(), 2);
    const auto tiny = test::tinyClip(3, 3);
    Clip model = tiny.model;
    const auto &pixels = tiny.pixels;
    const auto &v = model->config.vision;
    torch::NoGradGuard noGrad;
    torch::Tensor first;
    std::vector<int> counts;
    for (int i = 0; i < 7; ++i) {
        const auto f = model->imageFeatures(pixels);
        const auto d = lastWorkloadThreads();
        ASSERT_TRUE(d);
        EXPECT_EQ(d->workload, "clip-image " + std::to_string(v.hiddenSize) + "x" +
                                   std::to_string(v.numHiddenLayers) + " batch 3-4 float32");
        counts.push_back(d->threads);
        if (i == 0)
            first = f;
        else
            EXPECT_LT((f - first).abs().max().item<double>(), 1e-5 * first.abs().max().item<double>());
    }
    EXPECT_EQ(counts, (std::vector<int>{2, 2, 1, 2, 1, 2, 1})) << "measured at both counts";
    EXPECT_EQ(workloadThreads(lastWorkloadThreads()->workload).source, "measured");

    // The prompts' call reports, not the length group's call inside it.
    (void)model->textFeatures(std::vector<std::vector<int64_t>>{tiny.tok->encode("a photo of a cat")});
    EXPECT_EQ(lastWorkloadThreads()->workload.rfind("clip-text ", 0), 0u) << lastWorkloadThreads()->workload;
    EXPECT_NE(lastWorkloadThreads()->workload.find(" batch 1 "), std::string::npos);
    EXPECT_EQ(lastWorkloadThreads()->source, "measuring");

    // Training chooses nothing: its count is the process's.
    torch::AutoGradMode grad(true);
    (void)model->imageFeatures(pixels);
    EXPECT_EQ(lastWorkloadThreads()->source, "not chosen");
}

// Data-parallel training on c10d (Gloo on loopback), with the ranks as threads of this
// process: the launch environments, the collectives against hand-worked values, CLIP's
// gradient through the gathered features against one process's, the loader's shards, and
// whole MAE and CLIP runs on two ranks against one process with the same global batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>


#include <nlohmann/json.hpp>

#include "common/fashion_mnist.h"
#include "common/free_port.h"
#include "common/run_metrics.h"
#include "common/temp_dir.h"
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "models/clip.h"
#include "models/error.h"
#include "models/checkpoints/safetensors.h"
#include "trainer/clip_trainer.h"
#include "trainer/clip_loss.h"
#include "trainer/distributed.h"
#include "trainer/data/loader.h"
#include "trainer/mae_trainer.h"
#include "trainer/resume.h"

namespace vitscope {
namespace {

using test::haveFashionMnist;

using nlohmann::json;
using test::freePort;
using test::stepLosses;
using test::TempDir;
using train::Group;
using train::LaunchEnv;

bool haveGloo()
{
    const auto b = train::distributedBackends();
    return std::find(b.begin(), b.end(), "gloo") != b.end();
}
#define REQUIRE_GLOO()                                                                                                 \
    if (!haveGloo())                                                                                                   \
    GTEST_SKIP() << "this build has no Gloo"

// Runs fn(group) on `world` ranks, each a thread with its own Gloo process group. With
// `agentPort`, ranks join as torchrun's workers do: clients of a store hosted elsewhere.
void onRanks(int world, const std::function<void(Group &)> &fn, std::chrono::seconds timeout = std::chrono::seconds(60),
             int agentPort = 0)
{
    const int port = agentPort ? agentPort : freePort();
    std::vector<std::thread> threads;
    std::vector<std::string> errors(static_cast<std::size_t>(world));
    for (int r = 0; r < world; ++r)
        threads.emplace_back([&, r] {
            try {
                LaunchEnv e;
                e.rank = r, e.worldSize = world, e.localRank = r, e.localWorldSize = world;
                e.masterAddr = "127.0.0.1", e.masterPort = port, e.launcher = agentPort ? "torchrun" : "env";
                if (agentPort)
                    e.agentStore = true, e.storePrefix = "/worker/attempt_1";
                train::GroupOptions o;
                o.timeout = timeout;
                auto g = Group::connect(e, o);
                fn(*g);
            } catch (const std::exception &x) {
                errors[std::size_t(r)] = x.what();
            }
        });
    for (auto &t : threads)
        t.join();
    for (int r = 0; r < world; ++r)
        EXPECT_EQ(errors[std::size_t(r)], "") << "rank " << r;
}

// Sets environment variables for one test and restores them after.
class ScopedEnv {
public:
    explicit ScopedEnv(const std::map<std::string, std::string> &vars)
    {
        for (const char *k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                              "TORCHELASTIC_RUN_ID", "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT",
                              "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"}) {
            if (const char *v = std::getenv(k))
                m_saved[k] = v;
            unsetenv(k);
        }
        for (const auto &[k, v] : vars)
            setenv(k.c_str(), v.c_str(), 1);
    }
    ~ScopedEnv()
    {
        for (const char *k : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                              "TORCHELASTIC_RUN_ID", "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT",
                              "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID", "SLURM_NTASKS_PER_NODE"})
            unsetenv(k);
        for (const auto &[k, v] : m_saved)
            setenv(k.c_str(), v.c_str(), 1);
    }

private:
    std::map<std::string, std::string> m_saved;
};

std::string errorOf(const std::function<void()> &f)
{
    try {
        f();
    } catch (const Error &e) {
        return e.what();
    }
    return "(no error)";
}

TEST(LaunchEnv, ReadsTorchrunSlurmAndPlainEnvironments)
{
    {
        ScopedEnv env({});
        EXPECT_FALSE(LaunchEnv::fromEnvironment().distributed());
    }
    {
        ScopedEnv env({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"},
                       {"MASTER_ADDR", "10.0.0.7"}, {"MASTER_PORT", "29400"}, {"TORCHELASTIC_RUN_ID", "abc"},
                       {"TORCHELASTIC_USE_AGENT_STORE", "True"}, {"TORCHELASTIC_RESTART_COUNT", "2"}});
        const auto e = LaunchEnv::fromEnvironment();
        EXPECT_EQ(e.launcher, "torchrun");
        EXPECT_EQ(e.rank, 3);
        EXPECT_EQ(e.worldSize, 4);
        EXPECT_EQ(e.localRank, 1);
        EXPECT_EQ(e.localWorldSize, 2);
        EXPECT_EQ(e.masterAddr, "10.0.0.7");
        EXPECT_EQ(e.masterPort, 29400);
        EXPECT_TRUE(e.agentStore);
        EXPECT_EQ(e.storePrefix, "/worker/attempt_2");
    }
    {
        ScopedEnv env({{"SLURM_PROCID", "5"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"},
                       {"SLURM_NTASKS_PER_NODE", "4(x2)"}, {"MASTER_ADDR", "node01"}});
        const auto e = LaunchEnv::fromEnvironment();
        EXPECT_EQ(e.launcher, "slurm");
        EXPECT_EQ(e.rank, 5);
        EXPECT_EQ(e.worldSize, 8);
        EXPECT_EQ(e.localRank, 1);
        EXPECT_EQ(e.localWorldSize, 4);
        EXPECT_EQ(e.masterPort, 29500); // the default
        EXPECT_FALSE(e.agentStore);
    }
}

TEST(LaunchEnv, InconsistentSettingsAreOneClearLine)
{
    {
        ScopedEnv env({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}});
        EXPECT_EQ(errorOf([] { LaunchEnv::fromEnvironment(); }), "RANK 2 is not below WORLD_SIZE 2");
    }
    {
        ScopedEnv env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "http"}});
        EXPECT_EQ(errorOf([] { LaunchEnv::fromEnvironment(); }), "MASTER_PORT=\"http\" is not a non-negative integer");
    }
    {
        ScopedEnv env({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"MASTER_PORT", "29500"}});
        EXPECT_NE(errorOf([] { LaunchEnv::fromEnvironment(); }).find("MASTER_ADDR is not set"), std::string::npos);
    }
    {
        ScopedEnv env({{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "2"}});
        EXPECT_NE(errorOf([] { LaunchEnv::fromEnvironment(); }).find("under Slurm set MASTER_ADDR"), std::string::npos);
    }
}

TEST(Distributed, CollectivesGiveHandWorkedResults)
{
    REQUIRE_GLOO();
    onRanks(3, [](Group &g) {
        const double r = g.rank();
        auto b = torch::full({2}, r + 10.0);
        g.broadcast({b}, 1);
        EXPECT_TRUE(torch::equal(b, torch::full({2}, 11.0)));
        auto s = torch::tensor({r, 2 * r});
        g.allReduceSum({s});
        EXPECT_TRUE(torch::equal(s, torch::tensor({3.0, 6.0}))); // 0 + 1 + 2
        auto m = torch::tensor({float(r)});
        g.allReduceMax({m});
        EXPECT_EQ(m.item<float>(), 2.0f);
        const auto all = g.allGather(torch::full({1, 2}, float(r)));
        EXPECT_TRUE(torch::equal(all, torch::tensor({0.f, 0.f, 1.f, 1.f, 2.f, 2.f}).view({3, 2})));
    });
}

// torchrun's agent hosts the store (TORCHELASTIC_USE_AGENT_STORE=True): no rank may try to
// host one on MASTER_PORT, and every key goes under /worker/attempt_<restart count>.
TEST(Distributed, UnderTorchrunEveryRankIsAClientOfTheAgentsStore)
{
    REQUIRE_GLOO();
    c10d::TCPStoreOptions o;
    o.port = 0, o.isServer = true, o.waitWorkers = false;
    auto agent = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", o);
    onRanks(
        2,
        [](Group &g) {
            auto x = torch::tensor({double(g.rank() + 1)});
            g.allReduceSum({x});
            EXPECT_EQ(x.item<double>(), 3.0);
            std::this_thread::sleep_for(std::chrono::milliseconds(700)); // a heartbeat or two
        },
        std::chrono::seconds(30), agent->getPort());
    EXPECT_TRUE(agent->check({"/worker/attempt_1/vitscope/heartbeat/0", "/worker/attempt_1/vitscope/heartbeat/1"}));
}

TEST(Distributed, GradientsAreAveragedInBucketsAndMissingOnesCountAsZero)
{
    REQUIRE_GLOO();
    onRanks(2, [](Group &g) {
        // Three parameters; bucket of 16 bytes: [a (3 floats)], [b (2)], [c (5)] go separately
        // or together as they fit, the result must not depend on it.
        auto a = torch::zeros({3}, torch::requires_grad());
        auto b = torch::zeros({2}, torch::requires_grad());
        auto c = torch::zeros({5}, torch::requires_grad());
        auto unused = torch::zeros({4}, torch::requires_grad()); // no gradient on any rank
        const double r = g.rank();
        a.mutable_grad() = torch::tensor({1.0f, 2.0f, 3.0f}) * float(r + 1); // rank 0: x1, rank 1: x2
        if (g.rank() == 1)
            b.mutable_grad() = torch::tensor({4.0f, -4.0f}); // rank 0 has none
        c.mutable_grad() = torch::full({5}, float(10 * r));
        g.averageGradients({a, b, unused, c}, 16);
        EXPECT_TRUE(torch::allclose(a.grad(), torch::tensor({1.5f, 3.0f, 4.5f})));
        ASSERT_TRUE(b.grad().defined());
        EXPECT_TRUE(torch::allclose(b.grad(), torch::tensor({2.0f, -2.0f})));
        EXPECT_TRUE(torch::allclose(c.grad(), torch::full({5}, 5.0f)));
        EXPECT_FALSE(unused.grad().defined()); // as in one process: the optimizer skips it
        EXPECT_EQ(g.stats().gradientReductions, 1);
        EXPECT_NEAR(g.stats().gradientMegabytes, 14 * 4 / 1e6, 1e-12); // gradient bytes (the flags not counted)
    });
}

// Two ranks of 3 contrastive pairs against one process of 6: the mean of the ranks' local
// losses is the global loss (the model's own clipLoss), and each rank's gradients of its
// features, from every rank's loss through allGatherWithGrad and averaged as the trainer
// does, are the single process's gradients.
TEST(Distributed, ClipLossOverGatheredFeaturesIsTheGlobalBatchLoss)
{
    REQUIRE_GLOO();
    torch::manual_seed(4);
    const auto img = torch::randn({6, 5}), txt = torch::randn({6, 5});
    const auto scale0 = torch::tensor(2.3f);
    auto imgAll = img.clone().requires_grad_(), txtAll = txt.clone().requires_grad_();
    auto scaleAll = scale0.clone().requires_grad_();
    const auto reference = clipLoss(imgAll, txtAll, scaleAll).loss;
    reference.backward();

    std::vector<double> losses(2);
    std::vector<torch::Tensor> gImg(2), gTxt(2), gScale(2);
    onRanks(2, [&](Group &g) {
        const int r = g.rank();
        auto i = img.slice(0, 3 * r, 3 * r + 3).clone().requires_grad_();
        auto t = txt.slice(0, 3 * r, 3 * r + 3).clone().requires_grad_();
        auto s = scale0.clone().requires_grad_();
        auto loss = train::clipLossLocal(i, t, g.allGatherWithGrad(i), g.allGatherWithGrad(t), s, r);
        loss.backward();
        g.averageGradients({s}); // shared parameter: averaged like the model's
        losses[std::size_t(r)] = loss.item<double>();
        // features are per rank: their gradient sums every rank's loss; / W for the mean loss
        gImg[std::size_t(r)] = i.grad() / 2.0, gTxt[std::size_t(r)] = t.grad() / 2.0, gScale[std::size_t(r)] = s.grad();
    });
    EXPECT_NEAR((losses[0] + losses[1]) / 2, reference.item<double>(), 1e-6);
    EXPECT_TRUE(torch::allclose(torch::cat({gImg[0], gImg[1]}), imgAll.grad(), 1e-5, 1e-7));
    EXPECT_TRUE(torch::allclose(torch::cat({gTxt[0], gTxt[1]}), txtAll.grad(), 1e-5, 1e-7));
    EXPECT_NEAR(gScale[0].item<double>(), scaleAll.grad().item<double>(), 1e-6);
    EXPECT_NEAR(gScale[1].item<double>(), scaleAll.grad().item<double>(), 1e-6);
}

// A source of N numbered blank images.
struct Numbered : data::SampleSource {
    int64_t n;
    explicit Numbered(int64_t count) : n(count) {}
    int64_t size() const override { return n; }
    torch::Tensor image(int64_t) const override { return torch::zeros({1, 1, 1}); }
    int64_t label(int64_t i) const override { return i; }
    std::string describe() const override { return "numbered"; }
};

TEST(Distributed, ShardsOfAnEpochAreDisjointAndTogetherAreTheGlobalBatches)
{
    auto source = std::make_shared<Numbered>(103);
    // The sample tensor is its index and a draw of its generator: the draw must depend on
    // the sample's place in the epoch only, not on the rank that makes it.
    auto make = [](int64_t i, std::mt19937_64 &rng) { return torch::tensor({double(i), double(rng() % 100000)}); };
    data::LoaderOptions one;
    one.batchSize = 10, one.seed = 9;
    data::BatchLoader single(source, make, one);
    ASSERT_EQ(single.batchesPerEpoch(), 10);
    std::vector<data::LoaderOptions> shards(2, one);
    for (int r = 0; r < 2; ++r)
        shards[std::size_t(r)].batchSize = 5, shards[std::size_t(r)].rank = r, shards[std::size_t(r)].worldSize = 2;
    data::BatchLoader rank0(source, make, shards[0]), rank1(source, make, shards[1]);
    EXPECT_EQ(rank0.batchesPerEpoch(), 10);
    for (int64_t epoch : {0, 1}) {
        single.start(epoch), rank0.start(epoch), rank1.start(epoch);
        std::set<int64_t> seen0, seen1;
        while (auto b = single.next()) {
            auto b0 = rank0.next(), b1 = rank1.next();
            ASSERT_TRUE(b0 && b1);
            std::map<int64_t, std::vector<double>> expected, got;
            for (int64_t k = 0; k < b->images.size(0); ++k)
                expected[int64_t(b->images[k][0].item<double>())] = {b->images[k][1].item<double>(),
                                                                     double(b->positions[std::size_t(k)])};
            for (const auto *part : {&*b0, &*b1})
                for (int64_t k = 0; k < part->images.size(0); ++k)
                    got[int64_t(part->images[k][0].item<double>())] = {part->images[k][1].item<double>(),
                                                                       double(part->positions[std::size_t(k)])};
            EXPECT_EQ(got, expected) << "epoch " << epoch << " batch " << b->index;
            seen0.insert(b0->indices.begin(), b0->indices.end());
            seen1.insert(b1->indices.begin(), b1->indices.end());
        }
        EXPECT_FALSE(rank0.next() || rank1.next());
        EXPECT_EQ(seen0.size(), 50u);
        EXPECT_EQ(seen1.size(), 50u);
        for (int64_t i : seen0)
            EXPECT_EQ(seen1.count(i), 0u) << "sample " << i << " on both ranks";
    }
    // Rank r reads places r, r + 2, r + 4, ... of the global order.
    const auto places = rank1.shardPositions();
    ASSERT_EQ(places.size(), 50u);
    EXPECT_EQ(places[0], 1);
    EXPECT_EQ(places[49], 99);
}

// The same model within `tol` (absolute), tensor by tensor. Attention key biases are left
// out: softmax is invariant to them (they add q.b to every logit of a row), so their exact
// gradient is zero and what they receive is rounding noise, which AdamW's normalised step
// turns into moves of the size of the learning rate whatever the noise's size. Two runs
// that sum in different orders move them differently; nothing downstream sees it.
void expectSameModel(const std::string &a, const std::string &b, double tol)
{
    const auto ta = readSafetensors(a + "/model.safetensors"), tb = readSafetensors(b + "/model.safetensors");
    ASSERT_EQ(ta.size(), tb.size());
    double worst = 0;
    std::string where;
    for (const auto &[name, t] : ta) {
        const auto it = tb.find(name);
        ASSERT_NE(it, tb.end()) << name;
        if (name.find("key.bias") != std::string::npos || name.find("k_proj.bias") != std::string::npos)
            continue;
        const double d = (t.to(torch::kFloat64) - it->second.to(torch::kFloat64)).abs().max().item<double>();
        if (d > worst)
            worst = d, where = name;
    }
    EXPECT_LE(worst, tol) << "largest difference in " << where;
}

template <class Options, class Train>
void twoRanksAgainstOne(const Options &o, Train train, const std::string &dir)
{
    const auto single = train(o, dir + "/one", nullptr);
    ASSERT_EQ(single.status, train::RunStatus::Finished);
    std::vector<train::TrainResult> results(2);
    onRanks(2, [&](Group &g) { results[std::size_t(g.rank())] = train(o, dir + "/two", &g); });
    ASSERT_EQ(results[0].status, train::RunStatus::Finished);
    EXPECT_EQ(results[1].status, train::RunStatus::Finished);
    EXPECT_EQ(results[0].steps, single.steps);
    EXPECT_EQ(results[0].worldSize, 2);
    EXPECT_GT(results[0].allReduceMegabytesPerStep, 0.0);
    const auto a = stepLosses(dir + "/one"), b = stepLosses(dir + "/two");
    ASSERT_EQ(a.size(), std::size_t(single.steps));
    ASSERT_EQ(b.size(), a.size()); // rank 0 alone wrote the metrics
    for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(a[i], b[i], 1e-5) << "step " << i + 1;
    expectSameModel(dir + "/one/model", dir + "/two/model", 1e-5);
}

TEST(DistributedTrain, MaeOnTwoRanksIsMaeOnOneProcessWithTheGlobalBatch)
{
    REQUIRE_GLOO();
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    train::MaeTrainOptions o;
    o.limit = 128, o.batch = 32, o.epochs = 2, o.baseLr = 5e-3, o.warmupEpochs = 0.5;
    o.logEvery = 1, o.evalEvery = 0, o.device = "cpu", o.workers = 1, o.seed = 11;
    twoRanksAgainstOne(
        o, [](const train::MaeTrainOptions &x, const std::string &d, Group *g) { return train::trainMae(x, d, {}, g); },
        dir.path());
}

TEST(DistributedTrain, ClipOnTwoRanksContrastsTheGlobalBatch)
{
    REQUIRE_GLOO();
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    train::ClipTrainOptions o;
    o.limit = 128, o.batch = 32, o.epochs = 2, o.lr = 2e-3, o.warmupEpochs = 0.5, o.bpeMerges = 60;
    o.logEvery = 1, o.evalEvery = 0, o.device = "cpu", o.workers = 1, o.seed = 12;
    twoRanksAgainstOne(
        o, [](const train::ClipTrainOptions &x, const std::string &d, Group *g) { return train::trainClip(x, d, {}, g); },
        dir.path());
}

// Resuming at another world size: two ranks stop after 3 steps, one process finishes; the
// losses are those of an uninterrupted one-process run.
TEST(DistributedTrain, ARunStoppedOnTwoRanksResumesOnOne)
{
    REQUIRE_GLOO();
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    train::MaeTrainOptions o;
    o.limit = 128, o.batch = 32, o.epochs = 2, o.baseLr = 5e-3, o.warmupEpochs = 0.5;
    o.logEvery = 1, o.evalEvery = 0, o.device = "cpu", o.workers = 1, o.seed = 13;
    ASSERT_EQ(train::trainMae(o, dir.file("one")).status, train::RunStatus::Finished);
    onRanks(2, [&](Group &g) {
        train::TrainCallbacks cb;
        int steps = 0;
        cb.onStep = [&](const train::StepInfo &) { ++steps; };
        // only rank 1 asks: the stop is agreed on by both
        cb.shouldStop = [&] { return g.rank() == 1 && steps >= 3; };
        const auto r = train::trainMae(o, dir.file("split"), cb, &g);
        EXPECT_EQ(r.status, train::RunStatus::Stopped);
        EXPECT_EQ(r.steps, 3);
    });
    const auto rest = train::resumeRun(dir.file("split"));
    ASSERT_EQ(rest.status, train::RunStatus::Finished);
    EXPECT_EQ(rest.resumedFromStep, 3);
    const auto a = stepLosses(dir.file("one")), b = stepLosses(dir.file("split"));
    ASSERT_EQ(b.size(), a.size());
    for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(a[i], b[i], 1e-5) << "step " << i + 1;
    expectSameModel(dir.file("one/model"), dir.file("split/model"), 1e-5);
}

// Resuming, rank 0 loads the run's saved tokenizer and the others learn theirs again: if
// the two differ (a run from another version, an edited merges.txt), nothing may train.
TEST(DistributedTrain, ResumingRanksWithDifferentTokenizersIsRefused)
{
    REQUIRE_GLOO();
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    train::ClipTrainOptions o;
    o.limit = 128, o.batch = 32, o.epochs = 1, o.bpeMerges = 60, o.evalEvery = 0, o.device = "cpu", o.workers = 1;
    train::TrainCallbacks stop;
    stop.shouldStop = [] { return true; }; // a checkpoint at step 0, then stop
    ASSERT_EQ(train::trainClip(o, dir.file("run"), stop).status, train::RunStatus::Stopped);
    // Drop the last merge of the saved tokenizer.
    std::string merges = test::readBytes(dir.file("run/tokenizer/merges.txt"));
    merges.erase(merges.rfind('\n', merges.size() - 2) + 1);
    test::writeBytes(dir.file("run/tokenizer/merges.txt"), merges);
    onRanks(2, [&](Group &g) {
        const std::string m = errorOf([&] { train::resumeRun(dir.file("run"), {}, &g); });
        EXPECT_NE(m.find("the ranks' CLIP tokenizers differ"), std::string::npos) << m;
    });
}

TEST(DistributedTrain, ABatchThatTheRanksCannotShareIsRefused)
{
    REQUIRE_GLOO();
    onRanks(2, [](Group &g) {
        train::MaeTrainOptions o;
        o.batch = 33, o.device = "cpu";
        TempDir dir;
        const std::string m = errorOf([&] { train::trainMae(o, dir.file("r"), {}, &g); });
        EXPECT_NE(m.find("must be a positive multiple of the number of ranks (2)"), std::string::npos) << m;
    });
}

const bool kHaveNccl = [] {
    const auto b = train::distributedBackends();
    return std::find(b.begin(), b.end(), "nccl") != b.end();
}();

TEST(CudaDistributed, NcclWorldOfOneTrainsAsNoGroup)
{
    if (!torch::cuda::is_available())
        GTEST_SKIP() << "no CUDA device";
    if (!kHaveNccl)
        GTEST_SKIP() << "this LibTorch has no NCCL";
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    train::MaeTrainOptions o;
    o.limit = 128, o.batch = 32, o.epochs = 1, o.logEvery = 1, o.evalEvery = 0, o.device = "cuda", o.seed = 3;
    o.amp = false;
    const auto plain = train::trainMae(o, dir.file("plain"));
    LaunchEnv e;
    e.launcher = "env", e.masterAddr = "127.0.0.1", e.masterPort = freePort();
    train::GroupOptions go;
    go.backend = "nccl", go.device = torch::Device(torch::kCUDA, 0);
    auto g = Group::connect(e, go);
    EXPECT_EQ(g->backend(), "nccl");
    const auto nccl = train::trainMae(o, dir.file("nccl"), {}, g.get());
    ASSERT_EQ(nccl.status, train::RunStatus::Finished);
    const auto a = stepLosses(dir.file("plain")), b = stepLosses(dir.file("nccl"));
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(a[i], b[i], 1e-5) << "step " << i + 1;
    EXPECT_EQ(plain.steps, nccl.steps);
}

} // namespace
} // namespace vitscope

// vitscope-cli's measuring commands as a user runs them: the machine's limits (bench
// matmul, bench memory), the CLIP benches' FLOP and byte counts, and the bfloat16
// precision commands.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>
#include <string>

#include "common/cli_run.h"

using vitscope::test::CliRun;
using vitscope::test::runCli;

// The machine's limits: every kernel at one thread and at every core, the best of them on
// top, and the triad's arithmetic checked by the command itself.
TEST(CliBench, MatmulAndMemoryReportEveryRunAndTheBest)
{
    const CliRun m = runCli("bench matmul --size 64,96 --repeats 2 --device cpu");
    ASSERT_EQ(m.status, 0) << m.err;
    const auto j = nlohmann::json::parse(m.out);
    ASSERT_TRUE(j["runs"].is_array());
    const int cores = j["cores"].get<int>();
    double best = 0, bestBf16 = 0; // bfloat16 operands are reported apart
    std::set<std::string> names;
    for (const auto &r : j["runs"]) {
        EXPECT_GT(r["gflops_median"].get<double>(), 0.0);
        double &top = r["kernel"] == "bf16" ? bestBf16 : best;
        top = std::max(top, r["gflops_median"].get<double>());
        names.insert(r["kernel"].get<std::string>());
        // GFLOP/s = 2 n^3 / median seconds, recomputed here.
        const double n = r["size"].get<double>();
        EXPECT_NEAR(r["gflops_median"].get<double>(), 2 * n * n * n / r["median_s"].get<double>() / 1e9,
                    1e-9 * r["gflops_median"].get<double>());
    }
    EXPECT_EQ(j["runs"].size(), 2 * names.size() * (cores > 1 ? 2 : 1)); // sizes x kernels x threads
    EXPECT_DOUBLE_EQ(j["gflops_median"].get<double>(), best);
    EXPECT_EQ(names.count(j["kernel"].get<std::string>()), 1u);
    EXPECT_NE(j["kernel"], "bf16");
    ASSERT_EQ(j.contains("best_bf16"), names.count("bf16") == 1);
    if (j.contains("best_bf16")) {
        EXPECT_DOUBLE_EQ(j["best_bf16"]["gflops_median"].get<double>(), bestBf16);
    }
    EXPECT_EQ(names.count("openblas"), j["openblas_core"].get<std::string>().empty() ? 0u : 1u);
    EXPECT_FALSE(j["cpu"].get<std::string>().empty());
    EXPECT_TRUE(j["cpu_flags"].is_array());

    const CliRun mem = runCli("bench memory --mb 8 --repeats 2 --threads 1");
    ASSERT_EQ(mem.status, 0) << mem.err;
    const auto k = nlohmann::json::parse(mem.out);
    ASSERT_EQ(k["runs"].size(), 2u);
    EXPECT_GT(k["triad_gbps"].get<double>(), 0.0);
    EXPECT_GT(k["read_gbps"].get<double>(), 0.0);
    for (const auto &r : k["runs"]) {
        const double bytes = (r["kernel"] == "triad" ? 3.0 : 1.0) * 8 * 1024 * 1024;
        EXPECT_NEAR(r["gbps_median"].get<double>(), bytes / r["median_s"].get<double>() / 1e9,
                    1e-9 * r["gbps_median"].get<double>());
    }

    EXPECT_EQ(runCli("bench matmul --size 64,x").status, 2);
    EXPECT_EQ(runCli("bench matmul --threads many").status, 2);
    EXPECT_EQ(runCli("bench memory --mb 0").status, 2);
}

// The yardsticks the report divides by, worked out by hand for ViT-B/32 (224 px, 50 tokens,
// width 768, MLP 3072, 12 layers; text width 512, MLP 2048, 12 layers, 77 positions):
//   image: patches 2*49*3072*768 + 12 * (8*50*768^2 + 4*50*768*3072 + 4*50^2*768)
//          + projection 2*768*512 = 8,817,623,040 FLOP;
//   text, one 8-token prompt: per layer 4*512^2 + 4*512 (q, k, v, out) + 2*512*2048 + 2048
//          + 512 (MLP) + 4*512 (two norms) = 3,152,384 weights; 12 layers, 77*512 positions,
//          1024 (final norm), 512*512 projection, 8 rows of the token table: 38,135,296
//          float32 weights = 152,541,184 bytes.
TEST(CliBench, ClipBenchesCountFlopsAndWeightBytesAsWorkedByHand)
{
    const CliRun img = runCli("bench clip-image --preset vit-b32 --batch 1 --repeats 1 --warmup 0 --device cpu");
    ASSERT_EQ(img.status, 0) << img.err;
    const auto i = nlohmann::json::parse(img.out);
    EXPECT_NEAR(i["model_gflop_per_image"].get<double>(), 8.81762304, 1e-9);
    EXPECT_NEAR(i["model_gflops"].get<double>(),
                i["model_gflop_per_image"].get<double>() * i["images_per_s"].get<double>(), 1e-6);
    const CliRun txt = runCli("bench clip-text --preset vit-b32 --tokens 8 --repeats 1 --warmup 0 --device cpu");
    ASSERT_EQ(txt.status, 0) << txt.err;
    const auto t = nlohmann::json::parse(txt.out);
    EXPECT_EQ(t["weight_bytes_read"].get<double>(), 152541184.0);
    EXPECT_NE(t["threads_choice"], "scope") << "the prompt's own choice, not its length group's inside it";
    EXPECT_NEAR(t["weight_gbps"].get<double>(),
                152541184.0 / (t["true_length_ms_median"].get<double>() / 1e3) / 1e9, 1e-6);
}

// Both precision commands on the bundled CLIP: the same test images twice, one tower on
// bfloat16 copies; what they print agrees with itself (accuracy from the same labels,
// agreement from the disagreements) and stays within docs/performance.md's tolerance.
TEST(CliClip, PrecisionCommandsCompareEachTowerWithFloat32)
{
    if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist") && !std::getenv("VITSCOPE_FASHION_MNIST_DIR"))
        GTEST_SKIP() << "Fashion-MNIST absent";
    for (const std::string tower : {"text", "image"}) {
        const CliRun r = runCli("eval " + tower + "-precision --model fmnist-clip --limit 200");
        if (r.status == 1 && r.err.find("no AVX512_BF16") != std::string::npos)
            GTEST_SKIP() << "this CPU computes no bfloat16 natively: " << r.err;
        ASSERT_EQ(r.status, 0) << r.err;
        const auto j = nlohmann::json::parse(r.out);
        EXPECT_EQ(j["fast_path"], "bf16-" + tower);
        EXPECT_EQ(j["test_images"], 200);
        const std::string what = tower == "text" ? "prompt" : "image";
        EXPECT_GT(j[what + "_cosine_min"].get<double>(), 0.9999);
        EXPECT_LE(j[what + "_cosine_min"].get<double>(), j[what + "_cosine_mean"].get<double>());
        EXPECT_LT(j["prob_abs_diff_max"].get<double>(), 0.01);
        EXPECT_GT(j["prob_abs_diff_max"].get<double>(), 0.0) << "no rounding happened";
        EXPECT_NEAR(j["top1_agreement"].get<double>(), 1.0 - j["top1_disagreements"].get<double>() / 200, 1e-12);
        EXPECT_GE(j["top1_agreement"].get<double>(), 0.99);
        EXPECT_NEAR(j["accuracy_float32"].get<double>(), j["accuracy_bf16"].get<double>(),
                    j["top1_disagreements"].get<double>() / 200 + 1e-12);
    }
    const CliRun bad = runCli("eval image-precision --model fmnist-mae --limit 10");
    EXPECT_NE(bad.status, 0);
}

// --threads auto: the redraw measures both counts in a fresh cache, keeps the one the rule
// in models/runtime/tuning.h picks from the medians it prints, and reads it back next time;
// --threads N runs at N.
TEST(CliBench, ExplorerRedrawChoosesItsThreadsAndCachesThem)
{
    vitscope::test::TempDir cache;
    const std::string env = "VITSCOPE_THREADS=auto OMP_NUM_THREADS=2 VITSCOPE_CACHE_DIR='" + cache.path().string() + "' ";
    const std::string cmd = "bench mae-explore --preset fmnist --repeats 2 --device cpu";
    const CliRun first = runCli(cmd, env);
    ASSERT_EQ(first.status, 0) << first.err;
    const auto a = nlohmann::json::parse(first.out);
    EXPECT_EQ(a["threads_choice"], "measured") << a.dump();
    const double one = a["threads_medians_ms"]["1"].get<double>(), two = a["threads_medians_ms"]["2"].get<double>();
    EXPECT_EQ(a["threads"].get<int>(), one < 0.9 * two ? 1 : 2) << "1 thread: " << one << " ms, 2: " << two << " ms";
    EXPECT_EQ(a["threads_workload"].get<std::string>().rfind("mae-visualize ", 0), 0u) << a["threads_workload"];

    const CliRun again = runCli(cmd, env);
    ASSERT_EQ(again.status, 0) << again.err;
    const auto b = nlohmann::json::parse(again.out);
    EXPECT_EQ(b["threads_choice"], "cache");
    EXPECT_EQ(b["threads"], a["threads"]);

    const CliRun fixed = runCli(cmd + " --threads 1", env);
    ASSERT_EQ(fixed.status, 0) << fixed.err;
    const auto f = nlohmann::json::parse(fixed.out);
    EXPECT_EQ(f["threads"], 1);
    EXPECT_EQ(f["threads_choice"], "set (--threads)");

    const CliRun bad = runCli(cmd + " --threads none", env);
    EXPECT_NE(bad.status, 0);
    EXPECT_NE(bad.err.find("--threads"), std::string::npos) << bad.err;
}

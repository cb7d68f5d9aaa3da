// A training run must survive being killed at any moment and a disk that fills up: the
// run folder always resumes, no file in it is torn, and the last good checkpoint stays.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

#include "common/cli_run.h"
#include "common/temp_dir.h"
#include "models/safetensors.h"

using vitscope::test::CliRun;
using vitscope::test::runCli;
using vitscope::test::stepLosses;
namespace fs = std::filesystem;

namespace {

bool haveFashionMnist()
{
    return fs::exists("/usr/share/datasets/fashion-mnist") || std::getenv("VITSCOPE_FASHION_MNIST_DIR");
}

struct Exit {
    bool killed = false;
    int status = -1;
    std::string err;
};

// Runs vitscope-cli; SIGKILLs it after `killAfterMs` (0: never); with `fileSizeLimit` > 0
// every file it writes is capped at that many bytes (RLIMIT_FSIZE: writes past it fail
// with EFBIG, as on a full disk).
Exit runCliWith(const std::vector<std::string> &args, int killAfterMs, rlim_t fileSizeLimit, const std::string &errFile)
{
    const pid_t pid = fork();
    if (pid == 0) {
        if (fileSizeLimit > 0) {
            std::signal(SIGXFSZ, SIG_IGN); // get EFBIG instead of being killed
            const rlimit lim{fileSizeLimit, fileSizeLimit};
            setrlimit(RLIMIT_FSIZE, &lim);
        }
        std::vector<char *> argv{const_cast<char *>(VITSCOPE_CLI_PATH)};
        for (const auto &a : args)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        if (!freopen("/dev/null", "w", stdout) || !freopen(errFile.c_str(), "w", stderr))
            _exit(126);
        execv(VITSCOPE_CLI_PATH, argv.data());
        _exit(127);
    }
    Exit e;
    if (pid < 0)
        return e;
    int status = 0;
    if (killAfterMs > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(killAfterMs));
        kill(pid, SIGKILL);
    }
    waitpid(pid, &status, 0);
    e.killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    e.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    e.err = vitscope::test::readBytes(errFile);
    return e;
}

// Everything in a run folder a reader relies on parses: config.json, every complete line
// of metrics.jsonl (a torn last line without its newline is allowed: the next resume cuts
// it), every finished checkpoint.
void expectRunFolderWhole(const std::string &run, const std::string &when)
{
    if (!fs::exists(run + "/config.json"))
        return; // killed before the folder was made
    std::ifstream config(run + "/config.json");
    EXPECT_NO_THROW(nlohmann::json::parse(config).is_object()) << when;
    const std::string metrics = vitscope::test::readBytes(run + "/metrics.jsonl");
    std::size_t start = 0;
    for (std::size_t nl; (nl = metrics.find('\n', start)) != std::string::npos; start = nl + 1) {
        EXPECT_NO_THROW(nlohmann::json::parse(metrics.substr(start, nl - start)).is_object())
            << when << ": metrics line at byte " << start;
    }
    if (!fs::exists(run + "/checkpoints"))
        return;
    for (const auto &e : fs::directory_iterator(run + "/checkpoints")) {
        if (e.path().extension() == ".safetensors") {
            EXPECT_NO_THROW((void)vitscope::readSafetensors(e.path().string())) << when << ": " << e.path();
        }
    }
}

std::vector<std::string> words(const std::string &text)
{
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string w; in >> w;)
        out.push_back(w);
    return out;
}

} // namespace

TEST(ReliabilitySlow, ThirtyKillsAtRandomMomentsThenTheRunFinishesAsIfUninterrupted)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    vitscope::test::TempDir dir;
    const std::string common = "--limit 640 --batch 16 --epochs 2 --log-every 1 --checkpoint-every 2 --eval-every 0 "
                               "--seed 5 --device cpu --base-lr 2e-3";
    const CliRun ref = runCli("train mae " + common + " --out '" + dir.file("ref") + "'");
    ASSERT_EQ(ref.status, 0) << ref.err;
    const auto expected = stepLosses(dir.file("ref"));
    ASSERT_EQ(expected.size(), 80u);

    const std::string victim = dir.file("victim");
    auto trainArgs = words("train mae " + common);
    trainArgs.push_back("--out");
    trainArgs.push_back(victim);
    std::mt19937 rng(2026);
    int kills = 0, attempts = 0;
    for (; attempts < 30; ++attempts) {
        // LibTorch starts in about 0.5 s; a step takes a few tens of ms: kills land anywhere.
        const int ms = 400 + int(rng() % 1600);
        const bool fresh = !fs::exists(victim + "/config.json");
        const Exit e = runCliWith(fresh ? trainArgs : std::vector<std::string>{"resume", victim}, ms, 0,
                                  dir.file("stderr"));
        kills += e.killed;
        if (!e.killed) {
            ASSERT_EQ(e.status, 0) << "attempt " << attempts << ": " << e.err;
            break; // the run reached its end between kills
        }
        expectRunFolderWhole(victim, "after kill " + std::to_string(kills));
        if (HasFailure())
            return;
    }
    std::cout << "[ reliability ] kills survived: " << kills << " of " << attempts << " attempts" << std::endl;
    RecordProperty("kills_survived", kills);
    EXPECT_GE(kills, 20) << "most kills should land while the run is going";
    const CliRun done = runCli("resume '" + victim + "'");
    ASSERT_EQ(done.status, 0) << done.err << " after " << kills << " kills";
    expectRunFolderWhole(victim, "at the end");
    const auto got = stepLosses(victim);
    ASSERT_EQ(got.size(), expected.size());
    for (std::size_t i = 0; i < got.size(); ++i)
        EXPECT_EQ(got[i], expected[i]) << "step " << i + 1; // bit-identical on the CPU
    EXPECT_TRUE(fs::exists(victim + "/model/model.safetensors"));
    EXPECT_NO_THROW((void)vitscope::readSafetensors(victim + "/model/model.safetensors"));
}

TEST(Reliability, FullDiskIsAClearErrorAndTheLastCheckpointSurvives)
{
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    vitscope::test::TempDir dir;
    const std::string run = dir.file("run");
    // A run with checkpoints, stopped by a kill once the second checkpoint is on disk.
    auto args = words("train mae --limit 256 --batch 16 --epochs 2 --log-every 1 --checkpoint-every 2 "
                      "--eval-every 0 --seed 1 --device cpu");
    args.push_back("--out");
    args.push_back(run);
    const pid_t pid = fork();
    if (pid == 0) {
        std::vector<char *> argv{const_cast<char *>(VITSCOPE_CLI_PATH)};
        for (auto &a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(126);
        execv(VITSCOPE_CLI_PATH, argv.data());
        _exit(127);
    }
    ASSERT_GT(pid, 0);
    auto checkpoints = [&] {
        std::vector<fs::path> found;
        if (fs::exists(run + "/checkpoints"))
            for (const auto &e : fs::directory_iterator(run + "/checkpoints"))
                if (e.path().extension() == ".safetensors")
                    found.push_back(e.path());
        std::sort(found.begin(), found.end());
        return found;
    };
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
    while (checkpoints().size() < 2 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    const auto before = checkpoints();
    ASSERT_GE(before.size(), 1u);
    const fs::path last = before.back();
    const std::string lastBytes = vitscope::test::readBytes(last.string());

    // Resume on a "disk" where no file may grow past 1 MB: a checkpoint (about 15 MB)
    // cannot be written.
    const Exit full = runCliWith({"resume", run}, 0, 1 << 20, dir.file("stderr"));
    EXPECT_FALSE(full.killed);
    EXPECT_EQ(full.status, 1) << full.err;
    EXPECT_NE(full.err.find("checkpoint"), std::string::npos) << full.err;
    // Progress lines may come first; the error is one line, the last.
    const std::string lastLine = full.err.substr(full.err.rfind('\n', full.err.size() - 2) + 1);
    EXPECT_EQ(lastLine.rfind("vitscope-cli: error: ", 0), 0u) << full.err;
    EXPECT_NE(lastLine.find("checkpoint-"), std::string::npos) << lastLine;
    EXPECT_NE(lastLine.find("File too large"), std::string::npos) << lastLine; // EFBIG, named
    EXPECT_EQ(full.err.find("error:"), full.err.rfind("error:")) << "one error line: " << full.err;
    std::cout << "[ reliability ] full disk: " << lastLine;
    // The last good checkpoint is still there, byte for byte, and nothing half-written
    // passes for a checkpoint.
    ASSERT_TRUE(fs::exists(last));
    EXPECT_EQ(vitscope::test::readBytes(last.string()), lastBytes);
    expectRunFolderWhole(run, "after the full disk");

    // With space again, the run resumes and finishes.
    const CliRun done = runCli("resume '" + run + "'");
    ASSERT_EQ(done.status, 0) << done.err;
    EXPECT_EQ(nlohmann::json::parse(done.out)["status"], "finished");
    EXPECT_EQ(stepLosses(run).size(), 32u);
}

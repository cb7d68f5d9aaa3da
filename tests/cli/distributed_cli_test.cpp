// Distributed training through vitscope-cli: --nproc-per-node 2 against one process with
// the same global batch and seed, a rank killed or hung mid-run, and the launch mistakes
// people make (a wrong WORLD_SIZE or RANK, a port in use, an unreachable MASTER_ADDR).
#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/cli_run.h"
#include "common/fashion_mnist.h"
#include "common/free_port.h"
#include "common/temp_dir.h"
#include "models/checkpoints/safetensors.h"

namespace {

using vitscope::test::haveFashionMnist;

using nlohmann::json;
using vitscope::test::CliRun;
using vitscope::test::freePort;
using vitscope::test::spawnCli;
using vitscope::test::runCli;
using vitscope::test::stepLosses;
using vitscope::test::TempDir;
namespace fs = std::filesystem;

// Whether this vitscope-cli was built with Gloo (its --version lists the backends).
bool cliHasGloo()
{
    static const bool has = runCli("--version").out.find("distributed: gloo") != std::string::npos;
    return has;
}
#define REQUIRE_GLOO()                                                                                                 \
    if (!cliHasGloo())                                                                                                 \
    GTEST_SKIP() << "this vitscope-cli has no Gloo"

double secondsSince(std::chrono::steady_clock::time_point t)
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// vitscope-cli with environment assignments in front ("RANK=0 WORLD_SIZE=2").
CliRun runEnvCli(const std::string &env, const std::string &args)
{
    TempDir tmp;
    const std::string errFile = tmp.file("stderr");
    const std::string cmd = "env " + env + " '" + VITSCOPE_CLI_PATH + "' " + args + " 2>'" + errFile + "'";
    CliRun r;
    FILE *p = popen(cmd.c_str(), "r");
    if (!p)
        return r;
    char buf[4096];
    std::size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        r.out.append(buf, n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.err = vitscope::test::readBytes(errFile);
    return r;
}

void expectSameModel(const std::string &a, const std::string &b, double tol)
{
    const auto ta = vitscope::readSafetensors(a + "/model.safetensors");
    const auto tb = vitscope::readSafetensors(b + "/model.safetensors");
    ASSERT_EQ(ta.size(), tb.size());
    for (const auto &[name, t] : ta) {
        // key biases: zero gradient in exact arithmetic (see tests/trainer/distributed_test.cpp)
        if (name.find("key.bias") != std::string::npos || name.find("k_proj.bias") != std::string::npos)
            continue;
        const double d = (t.to(torch::kFloat64) - tb.at(name).to(torch::kFloat64)).abs().max().item<double>();
        EXPECT_LE(d, tol) << name;
    }
}

TEST(CliDistributed, TwoLocalRanksTrainAsOneProcessWithTheGlobalBatch)
{
    REQUIRE_GLOO();
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    for (const std::string kind : {"mae", "clip"}) {
        const std::string common = "train " + kind + " --limit 128 --batch 32 --epochs 1 --eval-every 0 --device cpu " +
                                   "--log-every 1 --seed 21 --workers 1" + (kind == "clip" ? " --bpe-merges 60" : "");
        const CliRun one = runCli(common + " --out '" + dir.file(kind + "1") + "'");
        ASSERT_EQ(one.status, 0) << one.err;
        const CliRun two = runCli(common + " --nproc-per-node 2 --dist-timeout 60 --out '" + dir.file(kind + "2") + "'");
        ASSERT_EQ(two.status, 0) << two.err;
        const auto summary = json::parse(two.out); // rank 0 alone prints it
        EXPECT_EQ(summary["world_size"], 2);
        EXPECT_GT(summary["allreduce_mb_per_step"].get<double>(), 0.0);
        const auto config = json::parse(vitscope::test::readBytes(dir.file(kind + "2/config.json")));
        EXPECT_EQ(config["distributed"]["world_size"], 2);
        EXPECT_EQ(config["distributed"]["batch_per_rank"], 16);
        const auto a = stepLosses(dir.file(kind + "1")), b = stepLosses(dir.file(kind + "2"));
        ASSERT_EQ(a.size(), 4u);
        ASSERT_EQ(b.size(), a.size());
        for (std::size_t i = 0; i < a.size(); ++i)
            EXPECT_NEAR(a[i], b[i], 1e-5) << kind << " step " << i + 1;
        expectSameModel(dir.file(kind + "1/model"), dir.file(kind + "2/model"), 1e-5);
    }
}

// The child of `launcher` started as RANK=rank, or -1.
pid_t rankPid(pid_t launcher, int rank)
{
    for (const auto &e : fs::directory_iterator("/proc")) {
        const std::string name = e.path().filename();
        if (name.find_first_not_of("0123456789") != std::string::npos)
            continue;
        std::ifstream stat(e.path() / "stat");
        std::string statLine;
        std::getline(stat, statLine);
        const auto close = statLine.rfind(')');
        if (close == std::string::npos)
            continue;
        std::istringstream rest(statLine.substr(close + 2));
        char state;
        int ppid = 0;
        rest >> state >> ppid;
        if (ppid != launcher)
            continue;
        std::ifstream environ(e.path() / "environ");
        std::string entry;
        while (std::getline(environ, entry, '\0'))
            if (entry == "RANK=" + std::to_string(rank))
                return pid_t(std::stol(name));
    }
    return -1;
}

bool hasCheckpoint(const std::string &run)
{
    std::error_code ec;
    for (const auto &e : fs::directory_iterator(run + "/checkpoints", ec))
        if (e.path().extension() == ".safetensors")
            return true;
    return false;
}

// Waits for `pid` up to `seconds`; the exit status, or -1 on timeout (then kills it).
int waitFor(pid_t pid, double seconds)
{
    const auto start = std::chrono::steady_clock::now();
    int status = 0;
    while (secondsSince(start) < seconds) {
        if (waitpid(pid, &status, WNOHANG) == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

// Starts `args` (a 2-rank training into `run`, stderr to `errFile`) and waits for its first
// checkpoint; returns the launcher's pid and rank 1's, or fails the test (ending the launcher).
std::pair<pid_t, pid_t> launchUntilFirstCheckpoint(const std::vector<std::string> &args, const std::string &run,
                                                   const std::string &errFile)
{
    const pid_t launcher = spawnCli(args, errFile);
    EXPECT_GT(launcher, 0);
    const auto start = std::chrono::steady_clock::now();
    while (launcher > 0 && !hasCheckpoint(run) && secondsSince(start) < 120)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    const pid_t rank1 = launcher > 0 && hasCheckpoint(run) ? rankPid(launcher, 1) : -1;
    if (rank1 <= 0 && launcher > 0) {
        ADD_FAILURE() << "no checkpoint or no rank 1 within 120 s:\n" << vitscope::test::readBytes(errFile);
        waitFor(launcher, 0); // kills it
    }
    return {launcher, rank1};
}

// Rank 1 killed after the first checkpoint: rank 0 stops within seconds naming rank 1, the
// launcher exits non-zero, and the run resumes on one process to the same losses as an
// uninterrupted run.
TEST(CliDistributed, AKilledRankStopsTheOthersAndTheRunResumesOnOneProcess)
{
    REQUIRE_GLOO();
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    const std::vector<std::string> common = {"train", "mae", "--limit", "512", "--batch", "32", "--epochs", "2",
                                             "--eval-every", "0", "--device", "cpu", "--log-every", "1",
                                             "--checkpoint-every", "4", "--seed", "8", "--workers", "1"};
    auto args = common;
    for (const char *a : {"--nproc-per-node", "2", "--dist-timeout", "60", "--out"})
        args.push_back(a);
    args.push_back(dir.file("run"));
    const auto [launcher, victim] = launchUntilFirstCheckpoint(args, dir.file("run"), dir.file("err"));
    ASSERT_GT(victim, 0);
    ASSERT_EQ(kill(victim, SIGKILL), 0);
    const auto killed = std::chrono::steady_clock::now();
    const int status = waitFor(launcher, 60);
    const double took = secondsSince(killed);
    const std::string err = vitscope::test::readBytes(dir.file("err"));
    EXPECT_NE(status, 0) << err;
    EXPECT_NE(status, -1) << "the launcher was still running a minute after rank 1 was killed:\n" << err;
    EXPECT_LT(took, 15.0) << "rank 0 should notice a dead peer in seconds, not after the timeout";
    EXPECT_NE(err.find("rank 1 was killed by signal 9"), std::string::npos) << err;
    EXPECT_NE(err.find("rank 0: rank 1"), std::string::npos) << err; // rank 0's own diagnosis
    EXPECT_NE(err.find("stopped responding"), std::string::npos) << err;

    // One process resumes the run from the checkpoint: same losses as a run never killed.
    const CliRun rest = runCli("resume '" + dir.file("run") + "'");
    ASSERT_EQ(rest.status, 0) << rest.err;
    EXPECT_EQ(json::parse(rest.out)["steps"], 32);
    std::string reference;
    for (const auto &a : common)
        reference += a + " ";
    const CliRun ref = runCli(reference + "--out '" + dir.file("ref") + "'");
    ASSERT_EQ(ref.status, 0) << ref.err;
    const auto a = stepLosses(dir.file("ref")), b = stepLosses(dir.file("run"));
    ASSERT_EQ(b.size(), a.size());
    for (std::size_t i = 0; i < a.size(); ++i)
        EXPECT_NEAR(a[i], b[i], 1e-5) << "step " << i + 1;
}

// A rank that hangs (SIGSTOP: alive, silent) keeps rank 0 waiting no longer than the
// collective timeout; rank 0 names it, and the launcher ends the stopped rank.
TEST(CliDistributedSlow, AHungRankIsNamedAfterTheTimeout)
{
    REQUIRE_GLOO();
    if (!haveFashionMnist())
        GTEST_SKIP() << "Fashion-MNIST absent";
    TempDir dir;
    const std::vector<std::string> args = {"train", "mae", "--limit", "1024", "--batch", "32", "--epochs", "2",
                                           "--eval-every", "0", "--device", "cpu", "--log-every", "1",
                                           "--checkpoint-every", "4", "--nproc-per-node", "2",
                                           "--dist-timeout", "6", "--out", dir.file("run")};
    const auto [launcher, victim] = launchUntilFirstCheckpoint(args, dir.file("run"), dir.file("err"));
    ASSERT_GT(victim, 0);
    ASSERT_EQ(kill(victim, SIGSTOP), 0);
    const auto stopped = std::chrono::steady_clock::now();
    const int status = waitFor(launcher, 90);
    const std::string err = vitscope::test::readBytes(dir.file("err"));
    EXPECT_NE(status, 0) << err;
    EXPECT_NE(status, -1) << err;
    // 6 s of collective timeout, 2.5 s of diagnosis, 15 + 5 s for the launcher to end rank 1
    EXPECT_LT(secondsSince(stopped), 45.0) << err;
    EXPECT_NE(err.find("rank 0: rank 1"), std::string::npos) << err;
    EXPECT_TRUE(hasCheckpoint(dir.file("run")));
}

TEST(CliDistributed, LaunchMistakesAreOneClearLine)
{
    REQUIRE_GLOO();
    TempDir dir;
    const std::string train = "train mae --limit 64 --batch 32 --epochs 1 --eval-every 0 --device cpu --dist-timeout 3 ";
    auto lastLine = [](const std::string &err) {
        std::string s = err;
        while (!s.empty() && s.back() == '\n')
            s.pop_back();
        return s.substr(s.rfind('\n') == std::string::npos ? 0 : s.rfind('\n') + 1);
    };
    {
        const auto r = runEnvCli("RANK=2 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=29500",
                                 train + "--out '" + dir.file("a") + "'");
        EXPECT_EQ(r.status, 1);
        EXPECT_EQ(r.err, "vitscope-cli: error: RANK 2 is not below WORLD_SIZE 2\n");
    }
    {
        // A port someone else listens on.
        const int fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_ANY);
        socklen_t len = sizeof a;
        ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a), 0);
        listen(fd, 1);
        getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
        const int port = ntohs(a.sin_port);
        const auto r = runEnvCli("RANK=0 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port),
                                 train + "--out '" + dir.file("b") + "'");
        close(fd);
        EXPECT_EQ(r.status, 1);
        EXPECT_EQ(r.err, "vitscope-cli: error: rank 0 cannot host the rendezvous store: port " + std::to_string(port) +
                             " is in use (MASTER_PORT); pick a free port\n");
    }
    {
        const auto start = std::chrono::steady_clock::now();
        const auto r = runEnvCli("RANK=1 WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(freePort()),
                                 train + "--out '" + dir.file("c") + "'");
        EXPECT_EQ(r.status, 1);
        EXPECT_LT(secondsSince(start), 20.0);
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_NE(r.err.find("rank 1 cannot reach the rendezvous store at 127.0.0.1:"), std::string::npos) << r.err;
    }
    {
        // WORLD_SIZE 3 but only rank 0 started.
        const auto r = runEnvCli("RANK=0 WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(freePort()),
                                 train + "--out '" + dir.file("d") + "'");
        EXPECT_EQ(r.status, 1);
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_NE(lastLine(r.err).find("3 ranks (WORLD_SIZE)"), std::string::npos) << r.err;
    }
    {
        const auto r = runEnvCli("RANK=0 WORLD_SIZE=2", train + "--nproc-per-node 2 --out '" + dir.file("e") + "'");
        EXPECT_EQ(r.status, 2);
        EXPECT_NE(r.err.find("--nproc-per-node starts its own ranks, but RANK / WORLD_SIZE are set"), std::string::npos);
    }
    {
        const auto r = runCli(train + "--nproc-per-node 0 --out '" + dir.file("f") + "'");
        EXPECT_EQ(r.status, 2);
        EXPECT_NE(r.err.find("--nproc-per-node must be a positive integer, not '0'"), std::string::npos) << r.err;
    }
}

} // namespace

#pragma once
// Running vitscope-cli from a test: capture its output, or time a training run.
// VITSCOPE_CLI_PATH is the binary (a compile definition of the test target).
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/run_metrics.h"
#include "common/temp_dir.h"

namespace vitscope::test {

struct CliRun {
    int status = -1;
    std::string out;
    std::string err;
};

// env: assignments put before the command ("NAME='value' "), or empty.
inline CliRun runCli(const std::string &args, const std::string &env = {})
{
    vitscope::test::TempDir tmp;
    const std::string errFile = tmp.file("stderr");
    const std::string cmd = env + "'" + VITSCOPE_CLI_PATH + "' " + args + " 2>'" + errFile + "'";
    CliRun r;
    FILE *p = popen(cmd.c_str(), "r");
    if (!p)
        return r;
    std::array<char, 4096> buf;
    std::size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0)
        r.out.append(buf.data(), n);
    const int st = pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    r.err = vitscope::test::readBytes(errFile);
    return r;
}

// Starts vitscope-cli `args` in the background, stdout to /dev/null and stderr to `errFile`
// (/dev/null when empty); returns its pid (or -1).
inline pid_t spawnCli(const std::vector<std::string> &args, const std::string &errFile = {})
{
    const pid_t pid = fork();
    if (pid == 0) {
        std::vector<char *> argv{const_cast<char *>(VITSCOPE_CLI_PATH)};
        for (const auto &a : args)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        if (!freopen("/dev/null", "w", stdout) || !freopen(errFile.empty() ? "/dev/null" : errFile.c_str(), "w", stderr))
            _exit(126);
        execv(VITSCOPE_CLI_PATH, argv.data());
        _exit(127);
    }
    return pid;
}

// Runs vitscope-cli `args`, a training command that writes the run folder `run`, to its
// end, and notes when the folder's config.json and its first "step" line appeared. The
// kill tests place their kills by these times, so that a kill means the same moment of a
// run on a slow build (the sanitizer preset starts ten times slower) as on a fast one.
struct RunTiming {
    int status = -1;
    double configSeconds = 0, firstStepSeconds = 0, totalSeconds = 0;
};

inline RunTiming timeRun(const std::vector<std::string> &args, const std::string &run)
{
    RunTiming t;
    const auto start = std::chrono::steady_clock::now();
    const pid_t pid = spawnCli(args);
    if (pid < 0)
        return t;
    auto now = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (t.configSeconds == 0 && std::ifstream(run + "/config.json"))
            t.configSeconds = now();
        if (t.configSeconds > 0 && t.firstStepSeconds == 0) {
            std::ifstream in(run + "/metrics.jsonl");
            const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
            if (text.find("\"type\":\"step\"") != std::string::npos)
                t.firstStepSeconds = now();
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    t.totalSeconds = now();
    t.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return t;
}

} // namespace vitscope::test

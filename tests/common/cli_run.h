#pragma once
// Running vitscope-cli from a test: capture its output, or kill it at a chosen moment.
// VITSCOPE_CLI_PATH is the binary (a compile definition of the test target).
#include <array>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/temp_dir.h"

namespace vitscope::test {

struct CliRun {
    int status = -1;
    std::string out;
    std::string err;
};

inline CliRun runCli(const std::string &args)
{
    vitscope::test::TempDir tmp;
    const std::string errFile = tmp.file("stderr");
    const std::string cmd = std::string("'") + VITSCOPE_CLI_PATH + "' " + args + " 2>'" + errFile + "'";
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

inline std::vector<double> stepLosses(const std::string &run)
{
    std::vector<double> losses;
    std::ifstream in(run + "/metrics.jsonl");
    std::string line;
    while (std::getline(in, line)) {
        const auto j = nlohmann::json::parse(line); // throws on a torn line: none may remain
        if (j["type"] == "step")
            losses.push_back(j["loss"]);
    }
    return losses;
}

// Starts vitscope-cli with `args` and SIGKILLs it after `ms` milliseconds; true when the
// kill landed (the process was still running).
inline bool runAndKill(const std::vector<std::string> &args, int ms)
{
    const pid_t pid = fork();
    if (pid == 0) {
        std::vector<char *> argv{const_cast<char *>(VITSCOPE_CLI_PATH)};
        for (const auto &a : args)
            argv.push_back(const_cast<char *>(a.c_str()));
        argv.push_back(nullptr);
        freopen("/dev/null", "w", stdout);
        freopen("/dev/null", "w", stderr);
        execv(VITSCOPE_CLI_PATH, argv.data());
        _exit(127);
    }
    if (pid < 0)
        return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

} // namespace vitscope::test

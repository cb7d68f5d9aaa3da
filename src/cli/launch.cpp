#include "src/cli/launch.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "src/cli/args.h"

namespace vitscope::cli {

namespace {

volatile std::sig_atomic_t g_forward = 0;

void onSignal(int sig)
{
    g_forward = sig;
}

// A port the kernel says is free now (the store binds it a moment later).
int freePort()
{
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        throw std::runtime_error(std::string("cannot open a socket: ") + std::strerror(errno));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    if (::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0) {
        ::close(fd);
        throw std::runtime_error(std::string("cannot find a free port: ") + std::strerror(errno));
    }
    ::close(fd);
    return ntohs(a.sin_port);
}

std::string describeStatus(int status)
{
    if (WIFSIGNALED(status))
        return std::string("was killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
               ::strsignal(WTERMSIG(status)) + ")";
    return "exited with status " + std::to_string(WEXITSTATUS(status));
}

int exitCodeOf(int status)
{
    return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

} // namespace

int takeNprocPerNode(std::vector<std::string> &args)
{
    int n = 0;
    for (std::size_t i = 0; i < args.size();) {
        std::string value;
        std::size_t span = 0;
        if (args[i] == "--nproc-per-node") {
            if (i + 1 >= args.size())
                throw UsageError("--nproc-per-node needs a value");
            value = args[i + 1];
            span = 2;
        } else if (args[i].rfind("--nproc-per-node=", 0) == 0) {
            value = args[i].substr(17);
            span = 1;
        } else {
            ++i;
            continue;
        }
        char *end = nullptr;
        const long x = std::strtol(value.c_str(), &end, 10);
        if (value.empty() || *end || x < 1 || x > 1024)
            throw UsageError("--nproc-per-node must be a positive integer, not '" + value + "'");
        n = int(x);
        args.erase(args.begin() + long(i), args.begin() + long(i + span));
    }
    return n;
}

int launchLocalRanks(const std::vector<std::string> &commandWords, std::vector<std::string> args, int nproc,
                     int graceSeconds)
{
    // Every rank must write to the same run folder: fix the default --out once, here.
    if (!commandWords.empty() && commandWords[0] == "train" &&
        std::none_of(args.begin(), args.end(), [](const std::string &a) { return a == "--out" || a.rfind("--out=", 0) == 0; })) {
        char stamp[32];
        const std::time_t now = std::time(nullptr);
        std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
        args.push_back("--out");
        args.push_back("runs/" + (commandWords.size() > 1 ? commandWords[1] : std::string("run")) + "-" + stamp);
    }
    const char *userPort = std::getenv("MASTER_PORT");
    const int port = userPort && *userPort ? std::atoi(userPort) : freePort();
    const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
    const std::string threads = std::to_string(std::max(1u, cores / unsigned(nproc)));

    std::vector<std::string> argvStore{"/proc/self/exe"};
    argvStore.insert(argvStore.end(), commandWords.begin(), commandWords.end());
    argvStore.insert(argvStore.end(), args.begin(), args.end());
    char self[4096];
    const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0)
        throw std::runtime_error("cannot find this program's path (/proc/self/exe)");
    self[len] = 0;

    std::signal(SIGINT, onSignal);
    std::signal(SIGTERM, onSignal);
    std::vector<pid_t> pids(std::size_t(nproc), -1);
    for (int r = 0; r < nproc; ++r) {
        const pid_t pid = ::fork();
        if (pid < 0)
            throw std::runtime_error(std::string("cannot start rank ") + std::to_string(r) + ": " + std::strerror(errno));
        if (pid == 0) {
            std::signal(SIGINT, SIG_DFL);
            std::signal(SIGTERM, SIG_DFL);
            ::setenv("RANK", std::to_string(r).c_str(), 1);
            ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
            ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
            ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
            ::setenv("MASTER_ADDR", "127.0.0.1", 1);
            ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
            ::setenv("OMP_NUM_THREADS", threads.c_str(), 0); // as torchrun: the cores shared out
            ::unsetenv("TORCHELASTIC_USE_AGENT_STORE");
            std::vector<char *> argv;
            for (auto &a : argvStore)
                argv.push_back(a.data());
            argv.push_back(nullptr);
            ::execv(self, argv.data());
            std::fprintf(stderr, "vitscope-cli: cannot start rank %d: %s\n", r, std::strerror(errno));
            ::_exit(127);
        }
        pids[std::size_t(r)] = pid;
    }
    std::fprintf(stderr, "vitscope-cli: started %d ranks on this machine (MASTER_ADDR=127.0.0.1 MASTER_PORT=%d, %s threads each)\n",
                 nproc, port, threads.c_str());

    int result = 0;
    int running = nproc;
    bool failed = false;
    std::chrono::steady_clock::time_point terminateAt, killAt;
    bool terminated = false, killed = false;
    while (running > 0) {
        if (g_forward) {
            const int sig = g_forward;
            g_forward = 0;
            for (const pid_t p : pids)
                if (p > 0)
                    ::kill(p, sig);
        }
        int status = 0;
        const pid_t done = ::waitpid(-1, &status, WNOHANG);
        if (done > 0) {
            const auto it = std::find(pids.begin(), pids.end(), done);
            if (it == pids.end())
                continue;
            const int rank = int(it - pids.begin());
            *it = -1;
            --running;
            const int code = exitCodeOf(status);
            // 130: the rank stopped on Ctrl-C / SIGTERM after a checkpoint, as all ranks do
            // together; the others are finishing the same stop, not failing.
            if (code == 130 && result == 0)
                result = code;
            if (code != 0 && code != 130 && !failed) {
                failed = true;
                result = code;
                if (running > 0) {
                    std::fprintf(stderr, "vitscope-cli: rank %d %s; the other ranks get %d s to stop\n", rank,
                                 describeStatus(status).c_str(), graceSeconds);
                    terminateAt = std::chrono::steady_clock::now() + std::chrono::seconds(graceSeconds);
                    killAt = terminateAt + std::chrono::seconds(5);
                }
            } else if (code != 0 && (result == 0 || result == 130)) {
                result = code;
            }
            continue;
        }
        if (done < 0 && errno != EINTR && errno != ECHILD)
            break;
        if (failed && !terminated && std::chrono::steady_clock::now() >= terminateAt) {
            terminated = true;
            for (const pid_t p : pids)
                if (p > 0)
                    ::kill(p, SIGTERM);
        }
        if (failed && terminated && !killed && std::chrono::steady_clock::now() >= killAt) {
            killed = true;
            for (const pid_t p : pids)
                if (p > 0)
                    ::kill(p, SIGKILL);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return result;
}

} // namespace vitscope::cli

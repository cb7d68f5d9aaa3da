#include "models/runtime/machine.h"

#include <dlfcn.h>
#include <fstream>
#include <sstream>
#include <thread>

#include <sched.h>
#include <sys/resource.h>

namespace vitscope {

const std::vector<std::string> kCpuFlagsThatMatter = {"avx2",        "fma",      "avx512f",  "avx512_vnni",
                                                      "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"};

std::vector<std::string> cpuFlagsThatMatter(const std::string &cpuinfoText)
{
    std::istringstream in(cpuinfoText);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("flags", 0) != 0)
            continue;
        const auto colon = line.find(':');
        if (colon == std::string::npos)
            continue;
        std::istringstream words(line.substr(colon + 1));
        std::vector<std::string> has;
        for (std::string w; words >> w;)
            has.push_back(w);
        std::vector<std::string> out;
        for (const auto &f : kCpuFlagsThatMatter)
            for (const auto &h : has)
                if (h == f) {
                    out.push_back(f);
                    break;
                }
        return out;
    }
    return {};
}

CpuInfo cpuInfo()
{
    CpuInfo info;
    std::ifstream in("/proc/cpuinfo");
    std::stringstream text;
    text << in.rdbuf();
    const std::string all = text.str();
    std::istringstream lines(all);
    for (std::string line; std::getline(lines, line);)
        if (line.rfind("model name", 0) == 0) {
            const auto c = line.find(':');
            const auto start = c == std::string::npos ? std::string::npos : line.find_first_not_of(' ', c + 1);
            info.model = start == std::string::npos ? line : line.substr(start);
            break;
        }
    if (info.model.empty())
        info.model = "unknown CPU";
    info.flags = cpuFlagsThatMatter(all);
    cpu_set_t set;
    CPU_ZERO(&set);
    info.cores = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set)
                                                               : static_cast<int>(std::thread::hardware_concurrency());
    return info;
}

std::string openBlasCore()
{
    using CoreName = char *(*)();
    if (auto name = reinterpret_cast<CoreName>(dlsym(RTLD_DEFAULT, "openblas_get_corename")))
        if (const char *n = name())
            return n;
    return {};
}

int openBlasThreads()
{
    using GetThreads = int (*)();
    if (auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")))
        return get();
    return -1;
}

bool setOpenBlasThreads(int threads)
{
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
        set(threads);
        return true;
    }
    return false;
}

MemoryLimit memoryLimit()
{
    MemoryLimit best;
    auto consider = [&](unsigned long long bytes, const char *what) {
        if (bytes > 0 && (best.bytes == 0 || bytes < best.bytes))
            best = {bytes, what};
    };
    rlimit as{};
    if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY)
        consider(as.rlim_cur, "ulimit -v");
    std::ifstream cg("/sys/fs/cgroup/memory.max");
    std::string max;
    if (cg >> max && max != "max")
        try {
            consider(std::stoull(max), "the cgroup's memory.max");
        } catch (const std::exception &) {
        }
    std::ifstream meminfo("/proc/meminfo");
    for (std::string key; meminfo >> key;) {
        unsigned long long kb = 0;
        meminfo >> kb;
        if (key == "MemAvailable:") {
            consider(kb * 1024ULL, "available on this machine");
            break;
        }
        meminfo.ignore(256, '\n');
    }
    return best;
}

} // namespace vitscope

#include "models/runtime/tuning.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <dlfcn.h>
#include <exception>
#include <fstream>
#include <mutex>
#include <unistd.h>

#include <ATen/Parallel.h>
#include <spdlog/spdlog.h>
#include <torch/version.h>

#include "models/runtime/data_files.h"
#include "models/runtime/machine.h"

namespace vitscope {

namespace {

std::string isa()
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f"))
        return "avx512";
    if (__builtin_cpu_supports("avx2"))
        return "avx2";
    return "sse";
#else
    return "other";
#endif
}

// OpenMP's entry points, found at run time in the runtime LibTorch loaded (libgomp on
// Debian): this file needs no OpenMP flag, and a LibTorch without OpenMP leaves every
// count as it is.
using SetThreads = void (*)(int);
using GetThreads = int (*)();
SetThreads ompSet()
{
    static const auto f = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
    return f;
}
GetThreads ompGet()
{
    static const auto f = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "omp_get_max_threads"));
    return f;
}

// The calling thread's count. at::get_num_threads() first: LibTorch sets each thread's
// count from the process's on that thread's first parallel call, which would undo ours.
int threadCount()
{
    const int torchView = at::get_num_threads();
    return ompGet() ? ompGet()() : torchView;
}
void setThreadCount(int threads)
{
    (void)at::get_num_threads();
    if (ompSet())
        ompSet()(std::max(1, threads));
}

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

thread_local int t_depth = 0; // scopes (ThreadCountScope, active WorkloadThreads) open on this thread
thread_local int t_base = 1;  // the thread's count before its outermost scope
thread_local int t_workloads = 0; // active WorkloadThreads on this thread
thread_local std::optional<ThreadDecision> t_last;

// Read at each call (a getenv): a test or a bench may set it.
bool choosing()
{
    const char *mode = std::getenv("VITSCOPE_THREADS");
    const std::string m = mode ? mode : "";
    if (m == "fixed")
        return false;
    if (!m.empty() && m != "auto") {
        static std::once_flag warned;
        std::call_once(warned, [&] { spdlog::warn("VITSCOPE_THREADS='{}' is not auto or fixed; using auto", m); });
    }
    const char *omp = std::getenv("OMP_NUM_THREADS");
    return m == "auto" || !(omp && *omp);
}

void enterScope(int threads)
{
    if (t_depth++ == 0)
        t_base = threadCount();
    setThreadCount(threads);
}

std::vector<int> candidates()
{
    const int p = processThreads();
    std::vector<int> c{p};
    if (p >= 4)
        c.push_back(p / 2);
    if (p > 1)
        c.push_back(1);
    return c;
}

struct Entry {
    ThreadChooser chooser{candidates()};
    std::string source = "measuring";
};

std::mutex g_mutex;
std::map<std::string, Entry> g_entries;
// Workloads running now on any thread, and calls started so far: a call that overlapped
// another (the app's explorer and zero-shot views at once) shared the cores, and its time
// says nothing about its own count, so it is not counted.
std::atomic<int> g_running{0};
std::atomic<unsigned long long> g_started{0};

std::string cacheKey(const std::string &workload)
{
    return tuningMachineKey() + "|threads|" + workload;
}

// The workload's entry, its decision read from the cache the first time. Under g_mutex.
Entry &entryFor(const std::string &workload)
{
    auto it = g_entries.find(workload);
    if (it != g_entries.end())
        return it->second;
    Entry &e = g_entries[workload];
    const auto file = tuningCacheFile();
    if (file.empty())
        return e;
    const auto j = readTuningCache(file);
    const auto c = j.find(cacheKey(workload));
    if (c == j.end())
        return e;
    try {
        const int t = c->at("threads").get<int>();
        const auto all = candidates();
        if (std::find(all.begin(), all.end(), t) != all.end()) {
            e.chooser.decide(t);
            e.source = "cache";
        }
    } catch (const std::exception &x) {
        spdlog::warn("{}: a bad thread entry for '{}' ({}); measuring again", file.string(), workload, x.what());
    }
    return e;
}

ThreadDecision decisionOf(const std::string &workload, const Entry &e)
{
    return {workload, e.chooser.decided() ? e.chooser.choice() : e.chooser.next(),
            e.chooser.decided() ? e.source : "measuring", e.chooser.medians()};
}

} // namespace

// ------------------------------------------------------------------- the tuning cache

std::string tuningMachineKey()
{
    std::string key = cpuInfo().model + "|" + isa() + "|threads " + std::to_string(processThreads()) + "|torch " +
                      TORCH_VERSION;
    // Settings that change a library's code path are part of the machine.
    for (const char *var : {"ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "OPENBLAS_CORETYPE", "OPENBLAS_NUM_THREADS"})
        if (const char *v = std::getenv(var); v && *v)
            key += std::string("|") + var + "=" + v;
    return key;
}

std::filesystem::path tuningCacheFile()
{
    const std::string dir = cacheDir();
    return dir.empty() ? std::filesystem::path() : std::filesystem::path(dir) / "kernels.json";
}

nlohmann::json readTuningCache(const std::filesystem::path &file, bool warn)
{
    std::ifstream in(file);
    if (!in)
        return nlohmann::json::object();
    try {
        auto j = nlohmann::json::parse(in);
        if (j.is_object())
            return j;
        if (warn)
            spdlog::warn("{}: not a kernel cache (not a JSON object); measuring again and replacing it", file.string());
    } catch (const std::exception &x) {
        if (warn)
            spdlog::warn("{}: not a kernel cache ({}); measuring again and replacing it", file.string(), x.what());
    }
    return nlohmann::json::object();
}

void writeTuningEntry(const std::filesystem::path &file, const std::string &key, const nlohmann::json &value)
{
    if (file.empty())
        return;
    try {
        std::filesystem::create_directories(file.parent_path());
        auto j = readTuningCache(file, false);
        j[key] = value;
        const auto tmp = file.string() + ".tmp" + std::to_string(::getpid());
        {
            std::ofstream out(tmp, std::ios::trunc);
            out << j.dump(2) << "\n";
            if (!out)
                throw std::runtime_error("cannot write " + tmp);
        }
        std::filesystem::rename(tmp, file);
    } catch (const std::exception &x) {
        spdlog::debug("kernel cache not written ({}): {}", file.string(), x.what());
    }
}

// ------------------------------------------------------------------------ the threads

int processThreads()
{
    return std::max(1, t_depth > 0 ? t_base : at::get_num_threads());
}

ThreadCountScope::ThreadCountScope(int threads) : m_outer(threadCount())
{
    enterScope(threads);
}

ThreadCountScope::~ThreadCountScope()
{
    setThreadCount(m_outer);
    --t_depth;
}

ThreadChooser::ThreadChooser(std::vector<int> candidates, int samplesEach, double margin)
    : m_candidates(std::move(candidates)), m_samples(std::max(1, samplesEach)), m_margin(margin)
{
    if (m_candidates.empty())
        m_candidates.push_back(1);
    if (m_candidates.size() == 1)
        m_choice = m_candidates.front();
}

int ThreadChooser::next() const
{
    if (m_choice)
        return *m_choice;
    if (!m_warm)
        return m_candidates.front();
    // The count with the fewest samples, the earlier one on a tie: the counts alternate.
    int best = m_candidates.front();
    std::size_t fewest = SIZE_MAX;
    for (int c : m_candidates) {
        const auto it = m_times.find(c);
        const std::size_t n = it == m_times.end() ? 0 : it->second.size();
        if (n < fewest)
            fewest = n, best = c;
    }
    return best;
}

std::map<int, double> ThreadChooser::medians() const
{
    std::map<int, double> out;
    for (const auto &[threads, times] : m_times) {
        if (times.empty())
            continue;
        auto s = times;
        std::sort(s.begin(), s.end());
        out[threads] = s.size() % 2 ? s[s.size() / 2] : 0.5 * (s[s.size() / 2 - 1] + s[s.size() / 2]);
    }
    return out;
}

void ThreadChooser::record(int threads, double seconds)
{
    if (m_choice)
        return;
    if (!m_warm) { // the first call: lazy copies, allocations, caches
        m_warm = true;
        return;
    }
    if (std::find(m_candidates.begin(), m_candidates.end(), threads) == m_candidates.end())
        return;
    m_times[threads].push_back(seconds);
    for (int c : m_candidates)
        if (m_times[c].size() < std::size_t(m_samples))
            return;
    const auto med = medians();
    const int all = m_candidates.front();
    int best = all;
    for (int c : m_candidates)
        if (med.at(c) < m_margin * med.at(all) && med.at(c) < med.at(best))
            best = c;
    m_choice = best;
}

WorkloadThreads::WorkloadThreads(std::string workload, bool enabled) : m_workload(std::move(workload))
{
    if (!enabled) {
        t_last = ThreadDecision{m_workload, at::get_num_threads(), "not chosen", {}};
        return;
    }
    if (t_workloads > 0) // a part of an outer workload's call, which reports for both
        return;
    if (t_depth > 0 || !choosing() || processThreads() == 1) {
        const std::string why = t_depth > 0 ? "scope" : processThreads() == 1 ? "one core" : "fixed";
        t_last = ThreadDecision{m_workload, threadCount(), why, {}};
        return;
    }
    {
        std::lock_guard<std::mutex> lock(g_mutex);
        Entry &e = entryFor(m_workload);
        m_threads = e.chooser.next();
        m_timing = !e.chooser.decided();
        t_last = decisionOf(m_workload, e);
    }
    m_outer = threadCount();
    enterScope(m_threads);
    ++t_workloads;
    m_active = true;
    m_exceptions = std::uncaught_exceptions();
    m_overlapped = g_running.fetch_add(1) > 0;
    m_startedBefore = g_started.fetch_add(1) + 1;
    m_start = now();
}

WorkloadThreads::~WorkloadThreads()
{
    if (!m_active)
        return;
    const double seconds = now() - m_start;
    const bool overlapped = m_overlapped || g_started.load() != m_startedBefore;
    g_running.fetch_sub(1);
    setThreadCount(m_outer);
    --t_depth;
    --t_workloads;
    if (!m_timing || overlapped || std::uncaught_exceptions() > m_exceptions)
        return;
    std::lock_guard<std::mutex> lock(g_mutex);
    Entry &e = entryFor(m_workload);
    if (e.chooser.decided())
        return;
    e.chooser.record(m_threads, seconds);
    if (!e.chooser.decided())
        return;
    e.source = "measured";
    const auto med = e.chooser.medians();
    nlohmann::json medians = nlohmann::json::object();
    std::string said;
    for (const auto &[t, s] : med) {
        medians[std::to_string(t)] = s;
        said += (said.empty() ? "" : ", ") + fmt::format("{:.1f} ms at {}", s * 1e3, t);
    }
    spdlog::debug("threads for {}: {} (medians {})", m_workload, e.chooser.choice(), said);
    writeTuningEntry(tuningCacheFile(), cacheKey(m_workload), {{"threads", e.chooser.choice()}, {"medians_s", medians}});
    if (t_last && t_last->workload == m_workload) { // this call's count, the decision's source and medians
        t_last->source = e.source;
        t_last->medians = med;
    }
}

std::optional<ThreadDecision> lastWorkloadThreads()
{
    return t_last;
}

ThreadDecision workloadThreads(const std::string &workload)
{
    std::lock_guard<std::mutex> lock(g_mutex);
    return decisionOf(workload, entryFor(workload));
}

void resetWorkloadThreads()
{
    std::lock_guard<std::mutex> lock(g_mutex);
    g_entries.clear();
}

std::string threadChoiceSummary()
{
    const int p = processThreads();
    if (p == 1)
        return "1";
    if (!choosing()) {
        const char *mode = std::getenv("VITSCOPE_THREADS");
        return std::to_string(p) + " for every workload (" +
               (mode && std::string(mode) == "fixed" ? "VITSCOPE_THREADS=fixed" : "OMP_NUM_THREADS is set") + ")";
    }
    std::string counts;
    for (int c : candidates())
        counts += (counts.empty() ? "" : " or ") + std::to_string(c);
    return counts + ", chosen per workload by timing its first calls, cached in " + tuningCacheFile().string();
}

std::string sizeBucket(long long n)
{
    if (n <= 2)
        return std::to_string(std::max(0LL, n));
    long long hi = 2;
    while (hi < n)
        hi *= 2;
    return std::to_string(hi / 2 + 1) + "-" + std::to_string(hi);
}

} // namespace vitscope

#pragma once
// What vitscope measures about this machine and remembers: the tuning cache, and each
// workload's thread count.
//
// The cache. $VITSCOPE_CACHE_DIR/kernels.json (else ~/.cache/vitscope/kernels.json), one
// JSON object keyed by the machine (CPU model, instruction set, the process's threads,
// LibTorch's version, the environment variables that change a library's code path) and by
// what was measured: the linear layers' kernel (models/kernels/linear.h), each workload's
// threads (below). A damaged file is measured again and replaced, never trusted.
//
// Threads (issue 27). On a small machine a second LibTorch thread can make one workload
// nearly twice as fast (arithmetic-bound: the bf16 kernel, 426 to 759 GFLOP/s on two
// cores) and another slower (OpenMP workers that spin, memory-bound steps: PyTorch's
// float32 image batch lost half its speed at two threads on the same machine). No constant
// serves every machine and workload, so each workload (its kind and size, e.g. "clip-image
// 768x12/32 batch 5-8 float32") times its own first calls at every core and at one thread,
// alternating (the very first call is a warm-up and is not counted), keeps the faster one
// (fewer threads only when its median is at least 10% below every core's: a tie keeps every
// core) and caches the answer for the machine. Until then its calls run at the counts being
// tried, which are all correct results: only their time differs.
//
// The count is the calling thread's own (OpenMP's nthreads ICV, which LibTorch's kernels,
// oneDNN's and vitscope's bf16 kernel read when they start their parallel regions), set for
// the length of one call: the GUI's other threads and other workloads keep theirs.
// OpenBLAS keeps its own pool (one thread: models/runtime/device.cpp).
//
// VITSCOPE_THREADS: "auto" (the default) chooses as above; "fixed" runs every workload at
// the process's count. With OMP_NUM_THREADS set the user has chosen, and every workload
// runs at that count unless VITSCOPE_THREADS=auto is set too.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vitscope {

// ------------------------------------------------------------------- the tuning cache

// The machine part of every cache key. `threads` is the process's count (processThreads()).
std::string tuningMachineKey();
// The cache file ("" when no cache folder can be found: nothing is cached).
std::filesystem::path tuningCacheFile();
// The file's object; {} when it is missing, and (with a warning naming the file) when it is
// not a JSON object.
nlohmann::json readTuningCache(const std::filesystem::path &file, bool warn = true);
// Sets one key (read, modify, write to a temporary file, rename); failures are logged only.
void writeTuningEntry(const std::filesystem::path &file, const std::string &key, const nlohmann::json &value);

// ------------------------------------------------------------------------ the threads

// LibTorch's intra-op thread count as the process set it (at::set_num_threads,
// OMP_NUM_THREADS, every core by default): the calling thread's count outside the scopes
// below, whatever scope is open.
int processThreads();

// The calling thread's count for the length of a scope, nested scopes restoring the outer
// one. A workload inside it runs at this count and chooses nothing.
class ThreadCountScope {
public:
    explicit ThreadCountScope(int threads);
    ~ThreadCountScope();
    ThreadCountScope(const ThreadCountScope &) = delete;
    ThreadCountScope &operator=(const ThreadCountScope &) = delete;

private:
    int m_outer;
};

// One workload's choice: candidates (every core first, the default, then one thread),
// samples, decision. Logic only, no clock: the tests feed it times.
class ThreadChooser {
public:
    explicit ThreadChooser(std::vector<int> candidates, int samplesEach = 3, double margin = 0.9);
    int next() const;                         // the count for the next call
    void record(int threads, double seconds); // one call's time (the first call is dropped)
    bool decided() const { return m_choice.has_value(); }
    int choice() const { return m_choice.value_or(m_candidates.front()); }
    void decide(int threads) { m_choice = threads; } // from the cache
    std::map<int, double> medians() const;           // per count, of the samples so far

private:
    std::vector<int> m_candidates;
    int m_samples;
    double m_margin;
    bool m_warm = false;
    std::map<int, std::vector<double>> m_times;
    std::optional<int> m_choice;
};

// How a call's count was set.
struct ThreadDecision {
    std::string workload;
    int threads = 1;
    // "measuring", "measured", "cache"; or why nothing was chosen: "one core", "fixed"
    // (VITSCOPE_THREADS / OMP_NUM_THREADS), "scope" (inside another), "not chosen" (CUDA, training)
    std::string source;
    std::map<int, double> medians; // seconds per count, once measured here
};

// A workload's call: sets the calling thread's count for it and, while the workload is
// still being measured, times the call (not counted when it throws, nor when another
// workload ran on another thread meanwhile: they shared the cores). Inside another
// WorkloadThreads or a ThreadCountScope it changes nothing. `enabled` false (a CUDA call)
// changes nothing either.
class WorkloadThreads {
public:
    explicit WorkloadThreads(std::string workload, bool enabled = true);
    ~WorkloadThreads();
    WorkloadThreads(const WorkloadThreads &) = delete;
    WorkloadThreads &operator=(const WorkloadThreads &) = delete;
    int threads() const { return m_threads; }

private:
    std::string m_workload;
    int m_threads = 0;
    bool m_timing = false;
    bool m_active = false;
    int m_outer = 0;
    int m_exceptions = 0;
    bool m_overlapped = false;             // another workload was running when this one started
    unsigned long long m_startedBefore = 0; // calls started, this one included
    double m_start = 0;
};

// The last WorkloadThreads opened on this thread (benchmarks report it): the count that
// call ran at; after the call that completed the measurement, its source is "measured"
// and its medians those of the decision.
std::optional<ThreadDecision> lastWorkloadThreads();
// A workload's decision as it stands ("measuring" before it has one).
ThreadDecision workloadThreads(const std::string &workload);
// Forgets the process's decisions (tests; the cache file stays).
void resetWorkloadThreads();

// For --version: "1 or 2, chosen per workload ...", or the fixed count and why.
std::string threadChoiceSummary();

// A size's bucket for workload names: "1", "2", "3-4", "5-8", "9-16", ...
std::string sizeBucket(long long n);

} // namespace vitscope

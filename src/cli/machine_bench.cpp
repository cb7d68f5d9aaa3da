// The machine's own limits, the yardsticks for the model benchmarks: the best float32
// matrix-product rate any kernel present reaches (`bench matmul`), and memory bandwidth
// (`bench memory`). Each tries one thread and every core, since on small machines the
// second thread can slow a kernel down, and reports every run beside the best.
#include "src/cli/commands.h"

#include <algorithm>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include <torch/torch.h>

#include "models/error.h"
#include "models/kernels/bf16_gemm.h"
#include "models/kernels/linear.h"
#include "models/runtime/device.h"
#include "models/runtime/machine.h"
#include "models/runtime/timing.h"

namespace vitscope::cli {

namespace {

using nlohmann::json;

json machineJson()
{
    const CpuInfo cpu = cpuInfo();
    return json{{"cpu", cpu.model},
                {"cpu_flags", cpu.flags},
                {"cores", cpu.cores},
                {"openblas_core", openBlasCore()},
                {"linear_kernel", linearKernelSummary()}};
}

// Prints `out` with the machine's description added; the exit status.
int printWithMachine(json out)
{
    out.update(machineJson());
    std::cout << out.dump(2) << std::endl;
    return 0;
}

std::vector<int64_t> parseSizes(const std::string &text)
{
    std::vector<int64_t> sizes;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
        try {
            std::size_t used = 0;
            const long long n = std::stoll(item, &used);
            if (used != item.size())
                throw std::invalid_argument(item);
            sizes.push_back(n);
        } catch (const std::exception &) {
            throw UsageError("--size: '" + item + "' is not a number (a size or a list: 1024,2048)");
        }
    }
    if (sizes.empty())
        throw UsageError("--size: give a size or a list, e.g. 1024,2048");
    for (auto n : sizes)
        if (n <= 0 || n > 16384)
            throw UsageError("--size must be in 1..16384");
    return sizes;
}

// One thread and every core (just one where they are the same).
std::vector<int> threadCounts(const std::string &spec)
{
    const int cores = std::max(1, cpuInfo().cores);
    if (spec == "all")
        return cores == 1 ? std::vector<int>{1} : std::vector<int>{1, cores};
    try {
        const int t = std::stoi(spec);
        if (t >= 1 && t <= 1024)
            return {t};
    } catch (const std::exception &) {
    }
    throw UsageError("--threads: 'all' (1 and every core) or a number");
}

// Sets LibTorch's intra-op threads and OpenBLAS's for the duration; restores both.
class ThreadsFor {
public:
    explicit ThreadsFor(int threads) : m_torch(at::get_num_threads()), m_blas(openBlasThreads())
    {
        at::set_num_threads(threads);
        setOpenBlasThreads(threads);
    }
    ~ThreadsFor()
    {
        at::set_num_threads(m_torch);
        if (m_blas > 0)
            setOpenBlasThreads(m_blas);
    }
    ThreadsFor(const ThreadsFor &) = delete;
    ThreadsFor &operator=(const ThreadsFor &) = delete;

private:
    int m_torch, m_blas;
};

} // namespace

// Float32 N x N products: CUDA's matmul on a GPU; on the CPU, LibTorch's BLAS (OpenBLAS
// on Debian) and oneDNN's sgemm (the linear layers' other kernel), each at one thread and
// at every core. The top-level figures are the best run's.
int benchMatmulCommand(Args &args)
{
    const auto sizes = parseSizes(args.value("size", "1024"));
    const auto repeats = args.integer("repeats", 10);
    const std::string deviceSpec = args.value("device", "auto");
    const std::string threadSpec = args.value("threads", "all");
    args.finish();
    if (repeats <= 0)
        throw UsageError("--repeats must be positive");
    const torch::Device device = parseDevice(deviceSpec);
    const std::vector<int> threads = device.is_cuda() ? std::vector<int>{at::get_num_threads()} : threadCounts(threadSpec);
    std::vector<std::string> kernels = {device.is_cuda() ? "cuda" : (openBlasCore().empty() ? "torch" : "openblas")};
    if (!device.is_cuda() && oneDnnAvailable())
        kernels.push_back("onednn");
    // The packed AVX512_BF16 kernel of bf16-text: a product on bfloat16-rounded operands,
    // so its rate is reported apart (best_bf16) and never counts as the float32 best.
    if (!device.is_cuda() && bf16KernelAvailable())
        kernels.push_back("bf16");

    json runs = json::array();
    json best, bestBf16;
    for (const auto n : sizes) {
        auto a = torch::randn({n, n}, torch::TensorOptions().device(device));
        auto b = torch::randn({n, n}, torch::TensorOptions().device(device));
        const auto bT = b.t().contiguous(); // linear() takes W as (out, in): a @ b = linear(a, b^T)
        const auto packed = bf16KernelAvailable() && !device.is_cuda() ? packBf16Weight(bT) : PackedBf16Weight();
        const double flops = 2.0 * double(n) * double(n) * double(n);
        for (const auto &kernel : kernels)
            for (const int t : threads) {
                ThreadsFor scope(device.is_cuda() ? at::get_num_threads() : t);
                const auto product = [&] {
                    if (kernel == "onednn")
                        (void)linearWith(LinearKernel::OneDnn, a, bT);
                    else if (kernel == "bf16")
                        (void)bf16Linear(a, packed);
                    else
                        (void)torch::matmul(a, b);
                };
                const auto timing = bench::time(product, 2, static_cast<int>(repeats), device.is_cuda());
                json run{{"size", n},
                         {"kernel", kernel},
                         {"threads", t},
                         {"median_s", timing.median()},
                         {"gflops_median", flops / timing.median() / 1e9},
                         {"gflops_best", flops / timing.min() / 1e9}};
                json &top = kernel == "bf16" ? bestBf16 : best;
                if (top.is_null() || run["gflops_median"].get<double>() > top["gflops_median"].get<double>())
                    top = run;
                runs.push_back(std::move(run));
            }
    }
    json out{{"bench", "matmul"},
             {"dtype", "float32"},
             {"device", device.str()},
             {"repeats", repeats},
             {"size", best["size"]},
             {"kernel", best["kernel"]},
             {"threads", best["threads"]},
             {"median_s", best["median_s"]},
             {"gflops_median", best["gflops_median"]},
             {"gflops_best", best["gflops_best"]},
             {"runs", runs}};
    if (!bestBf16.is_null())
        out["best_bf16"] = bestBf16;
    return printWithMachine(std::move(out));
}

// STREAM's triad (a = b + s c, 12 bytes per float element moved) and a read (the sum of
// one array, 4 bytes per element: what a batch-1 prompt does to its weights), on arrays
// far larger than the caches, at one thread and at every core. GB/s are 1e9 bytes.
int benchMemoryCommand(Args &args)
{
    const auto mb = args.integer("mb", 256);
    const auto repeats = args.integer("repeats", 10);
    const std::string threadSpec = args.value("threads", "all");
    args.finish();
    if (mb < 1 || mb > 8192 || repeats <= 0)
        throw UsageError("--mb must be in 1..8192 (per array) and --repeats positive");
    const int64_t n = mb * (int64_t(1) << 20) / int64_t(sizeof(float));
    auto a = torch::empty({n});
    auto b = torch::empty({n});
    auto c = torch::empty({n});
    b.fill_(1.0f);
    c.fill_(2.0f);
    a.fill_(0.0f);
    const double bytes = double(n) * double(sizeof(float));
    json runs = json::array();
    double bestTriad = 0, bestRead = 0;
    json bestTriadRun, bestReadRun;
    for (const int t : threadCounts(threadSpec)) {
        ThreadsFor scope(t);
        const auto triad = bench::time([&] { torch::add_out(a, b, c, 3.0); }, 2, static_cast<int>(repeats));
        float sink = 0;
        const auto read = bench::time([&] { sink += b.sum().item<float>(); }, 2, static_cast<int>(repeats));
        const double triadGbps = 3 * bytes / triad.median() / 1e9, readGbps = bytes / read.median() / 1e9;
        json triadRun{{"kernel", "triad"}, {"threads", t}, {"median_s", triad.median()}, {"gbps_median", triadGbps},
                      {"gbps_best", 3 * bytes / triad.min() / 1e9}};
        json readRun{{"kernel", "read"}, {"threads", t}, {"median_s", read.median()}, {"gbps_median", readGbps},
                     {"gbps_best", bytes / read.min() / 1e9}};
        if (triadGbps > bestTriad)
            bestTriad = triadGbps, bestTriadRun = triadRun;
        if (readGbps > bestRead)
            bestRead = readGbps, bestReadRun = readRun;
        runs.push_back(std::move(triadRun));
        runs.push_back(std::move(readRun));
        if (sink != sink)
            std::cerr << ""; // keeps the sum from being optimised away
    }
    // The triad's answer, checked: every element 1 + 3 * 2.
    const float wrong = (a - 7.0f).abs().max().item<float>();
    if (wrong != 0.0f)
        throw Error("bench memory: the triad computed a wrong value (off by " + std::to_string(wrong) + ")");
    json out{{"bench", "memory"},
             {"mb_per_array", mb},
             {"repeats", repeats},
             {"triad_gbps", bestTriad},
             {"triad_threads", bestTriadRun["threads"]},
             {"read_gbps", bestRead},
             {"read_threads", bestReadRun["threads"]},
             {"runs", runs}};
    return printWithMachine(std::move(out));
}


} // namespace vitscope::cli

#pragma once
// What the machine is, for benchmarks and kernel caches: the CPU's model name and the
// instruction sets that decide which kernels run fast, and LibTorch's BLAS where it is
// OpenBLAS (its core type and its threads, read and set through its own C entry points,
// found at run time: nothing when the BLAS is another library).

#include <string>
#include <vector>

namespace vitscope {

struct CpuInfo {
    std::string model;              // /proc/cpuinfo's "model name", else "unknown CPU"
    std::vector<std::string> flags; // those of kCpuFlagsThatMatter the CPU has, in that order
    int cores = 0;                  // logical CPUs this process may run on
};
// avx2, fma, avx512f, avx512_vnni, avx512_bf16, amx_tile, amx_bf16, amx_int8
extern const std::vector<std::string> kCpuFlagsThatMatter;
CpuInfo cpuInfo();
// The flags of a /proc/cpuinfo text that are in kCpuFlagsThatMatter (first CPU's line).
std::vector<std::string> cpuFlagsThatMatter(const std::string &cpuinfoText);

// OpenBLAS as LibTorch loaded it: its core name ("Haswell", "SkylakeX", "Zen"...), or ""
// when the BLAS is not OpenBLAS.
std::string openBlasCore();
// Its thread count, -1 without OpenBLAS; setting returns false without OpenBLAS.
int openBlasThreads();
bool setOpenBlasThreads(int threads);

// The memory this process may use: the smallest of its address-space limit (ulimit -v),
// its cgroup's memory.max and the machine's MemAvailable; `what` says which one.
struct MemoryLimit {
    unsigned long long bytes = 0; // 0: none could be read
    std::string what;             // "ulimit -v", "the cgroup's memory.max", "available on this machine"
};
MemoryLimit memoryLimit();

} // namespace vitscope

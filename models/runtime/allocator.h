#pragma once
// glibc's malloc set up for LibTorch's CPU tensors.
//
// LibTorch allocates every CPU tensor with posix_memalign and frees it when its last
// reference goes. By default glibc serves a block of 32 MiB or more (less until its
// threshold adapts) with a fresh mmap and unmaps it on free, and it hands the top of a heap
// back to the kernel as soon as a little of it is free. So the activations of every forward
// pass arrive in new pages, and each page costs a fault: on the 2-core VMs this project is
// measured on, 18% of a CLIP ViT-B/32 image batch was spent in the kernel's fault handler,
// and the batch ran twice as fast without it (docs/performance.md, "The allocator").
//
// The setting: blocks come from the heaps, never from mmap, and freeing does not shrink the
// heaps; freed blocks are reused by the next pass. Memory the process no longer uses is
// handed back by malloc_trim where the program knows it is idle (the app's idle timer).
//
// Left alone (glibc's own defaults, or the user's settings) when VITSCOPE_MALLOC=glibc,
// when any of MALLOC_MMAP_MAX_, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or
// MALLOC_TOP_PAD_ is set, when GLIBC_TUNABLES names a glibc.malloc tunable, when LD_PRELOAD
// brings another malloc (jemalloc, tcmalloc, mimalloc), and on a C library other than glibc.
// No LibTorch here: the app calls it before its threads start.
#include <functional>
#include <string>

namespace vitscope {

struct AllocatorSetting {
    bool keep = false;       // true: heaps kept (no mmap for blocks, no trim on free)
    std::string description; // for --version and the benches' JSON
};

// What the environment asks for; `env` reads one variable (nullptr when unset).
AllocatorSetting allocatorSettingFor(const std::function<const char *(const char *)> &env, bool glibc);

// Decides from the process's environment and applies it, once per process; later calls
// return the first answer. Call it before threads start where possible.
const AllocatorSetting &configureAllocator();

} // namespace vitscope

// ThreadCountScope sets the count that LibTorch's parallel regions started from the calling
// thread use, and no other thread's. This file is compiled with OpenMP (like the kernels that
// call at::parallel_for), so the loop below really runs on the threads it reports.
#include <gtest/gtest.h>

#include <mutex>
#include <set>
#include <thread>

#include <ATen/Parallel.h>

#include "models/runtime/tuning.h"

namespace {

// The distinct worker threads a parallel loop of 64 slow items ran on.
std::size_t workersOfOneLoop()
{
    std::mutex m;
    std::set<int> ids;
    at::parallel_for(0, 64, 1, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i)
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        std::lock_guard<std::mutex> lock(m);
        ids.insert(at::get_thread_num());
    });
    return ids.size();
}

} // namespace

TEST(ThreadCountScope, SetsTheWorkersOfTheCallingThreadsLoopsOnly)
{
#ifndef _OPENMP
    GTEST_SKIP() << "built without OpenMP: at::parallel_for runs serially in this file";
#else
    const int saved = at::get_num_threads();
    at::set_num_threads(2);
    EXPECT_EQ(workersOfOneLoop(), 2u);
    {
        const vitscope::ThreadCountScope one(1);
        EXPECT_EQ(at::get_num_threads(), 1);
        EXPECT_EQ(workersOfOneLoop(), 1u);
        std::size_t elsewhere = 0;
        std::thread other([&] { elsewhere = workersOfOneLoop(); });
        other.join();
        EXPECT_EQ(elsewhere, 2u) << "another thread keeps the process's count";
        EXPECT_EQ(vitscope::processThreads(), 2);
    }
    EXPECT_EQ(at::get_num_threads(), 2);
    EXPECT_EQ(workersOfOneLoop(), 2u);
    at::set_num_threads(saved);
#endif
}

#include "models/runtime/timing.h"

#include <algorithm>
#include <chrono>

#include <torch/cuda.h>
#include <torch/torch.h>

namespace vitscope::bench {

double Timing::median() const
{
    if (seconds.empty())
        return 0;
    std::vector<double> s = seconds;
    std::sort(s.begin(), s.end());
    const std::size_t n = s.size();
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

double Timing::min() const
{
    return seconds.empty() ? 0 : *std::min_element(seconds.begin(), seconds.end());
}

Timing time(const std::function<void()> &fn, int warmup, int repeats, bool sync)
{
    auto barrier = [sync] {
        if (sync && torch::cuda::is_available())
            torch::cuda::synchronize();
    };
    for (int i = 0; i < warmup; ++i)
        fn();
    barrier();
    Timing t;
    for (int i = 0; i < repeats; ++i) {
        const auto start = std::chrono::steady_clock::now();
        fn();
        barrier();
        t.seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    return t;
}

} // namespace vitscope::bench

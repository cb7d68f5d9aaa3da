#pragma once
// Timing helpers for `vitscope-cli bench ...`: medians of repeated runs, wall clock.
#include <functional>
#include <vector>

namespace vitscope::bench {

struct Timing {
    std::vector<double> seconds; // one per repeat
    double median() const;
    double min() const;
};

// Runs `fn` `warmup` times untimed, then `repeats` times timed (synchronising CUDA
// when `device` work is queued asynchronously: pass sync = true).
Timing time(const std::function<void()> &fn, int warmup, int repeats, bool sync = false);

} // namespace vitscope::bench

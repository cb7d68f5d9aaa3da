#pragma once
// The thread choice's environment for one test (models/runtime/tuning.h): VITSCOPE_THREADS,
// the cache folder and LibTorch's process count, set for the test and restored after it,
// the process's decisions forgotten at both ends.
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <ATen/Parallel.h>

#include "models/runtime/tuning.h"

namespace vitscope::test {

// The environment and process count a test sets, restored after it.
class TuningEnv {
public:
    TuningEnv(const std::string &mode, const std::string &cacheDir, int threads) : m_threads(at::get_num_threads())
    {
        save("VITSCOPE_THREADS", mode);
        save("VITSCOPE_CACHE_DIR", cacheDir);
        at::set_num_threads(threads);
        resetWorkloadThreads();
    }
    ~TuningEnv()
    {
        for (const auto &[name, value] : m_saved)
            if (value)
                ::setenv(name.c_str(), value->c_str(), 1);
            else
                ::unsetenv(name.c_str());
        at::set_num_threads(m_threads);
        resetWorkloadThreads();
    }

private:
    void save(const std::string &name, const std::string &value)
    {
        const char *old = std::getenv(name.c_str());
        m_saved.emplace_back(name, old ? std::optional<std::string>(old) : std::nullopt);
        ::setenv(name.c_str(), value.c_str(), 1);
    }
    int m_threads;
    std::vector<std::pair<std::string, std::optional<std::string>>> m_saved;
};

} // namespace vitscope::test

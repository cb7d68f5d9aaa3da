// Every committed fuzz input (tests/fuzz/seeds/<target>, the minimized corpora, and
// tests/fuzz/regressions/<target>, the inputs of fixed findings) through its fuzz target,
// compiled into the ordinary test build: CI replays them on every run, without clang,
// libFuzzer or the sanitizers (the fuzz preset runs those). Each target's entry point is
// its LLVMFuzzerTestOneInput, renamed per file (tests/CMakeLists.txt). An input passes when
// the target returns: a crash, an abort or an escaped exception fails the run, a hang
// meets ctest's timeout, and the process's peak memory must stay under libFuzzer's
// default -rss_limit_mb (2048 MB).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <sys/resource.h>
#include <unistd.h>

#define VITSCOPE_FUZZ_ENTRY(name) extern "C" int vitscope_fuzz_##name(const std::uint8_t *data, std::size_t size);
VITSCOPE_FUZZ_ENTRY(caption_csv)
VITSCOPE_FUZZ_ENTRY(config)
VITSCOPE_FUZZ_ENTRY(idx)
VITSCOPE_FUZZ_ENTRY(image)
VITSCOPE_FUZZ_ENTRY(pickle)
VITSCOPE_FUZZ_ENTRY(safetensors)
VITSCOPE_FUZZ_ENTRY(tokenizer)
VITSCOPE_FUZZ_ENTRY(torch_archive)
#undef VITSCOPE_FUZZ_ENTRY

namespace vitscope {
namespace {

namespace fs = std::filesystem;
using Entry = int (*)(const std::uint8_t *, std::size_t);

struct Target {
    const char *name;
    Entry entry;
};

std::ostream &operator<<(std::ostream &out, const Target &t) { return out << t.name; }

std::vector<fs::path> inputsOf(const std::string &target)
{
    std::vector<fs::path> files;
    for (const char *kind : {"seeds", "regressions"}) {
        const fs::path dir = fs::path(VITSCOPE_SOURCE_DIR) / "tests" / "fuzz" / kind / target;
        if (fs::is_directory(dir))
            for (const auto &e : fs::directory_iterator(dir))
                if (e.is_regular_file())
                    files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

long peakRssMb()
{
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss / 1024;
}

class FuzzReplay : public ::testing::TestWithParam<Target> {
protected:
    void TearDown() override
    {
        // The path-based targets' input files (tests/fuzz/fuzz_common.h).
        const std::string prefix = "vitscope-fuzz-" + std::to_string(::getpid());
        for (const char *dir : {"/dev/shm", "/tmp"}) {
            std::error_code ec;
            for (const auto &e : fs::directory_iterator(dir, ec))
                if (e.path().filename().string().rfind(prefix, 0) == 0)
                    fs::remove(e.path(), ec);
        }
    }
};

TEST_P(FuzzReplay, EveryCommittedInputReturns)
{
    const Target t = GetParam();
    const auto files = inputsOf(t.name);
    ASSERT_GE(files.size(), 5u) << "tests/fuzz/seeds/" << t.name << " is missing or nearly empty";
    for (const auto &f : files) {
        std::ifstream in(f, std::ios::binary);
        ASSERT_TRUE(in) << f;
        const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        SCOPED_TRACE(f.string());
        EXPECT_EQ(t.entry(reinterpret_cast<const std::uint8_t *>(bytes.data()), bytes.size()), 0);
    }
    EXPECT_LT(peakRssMb(), 2048) << "the process's peak resident memory after " << files.size() << " inputs";
    std::cout << t.name << ": " << files.size() << " inputs, peak resident memory " << peakRssMb() << " MB\n";
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay,
                         ::testing::Values(Target{"caption_csv", vitscope_fuzz_caption_csv},
                                           Target{"config", vitscope_fuzz_config}, Target{"idx", vitscope_fuzz_idx},
                                           Target{"image", vitscope_fuzz_image}, Target{"pickle", vitscope_fuzz_pickle},
                                           Target{"safetensors", vitscope_fuzz_safetensors},
                                           Target{"tokenizer", vitscope_fuzz_tokenizer},
                                           Target{"torch_archive", vitscope_fuzz_torch_archive}),
                         [](const ::testing::TestParamInfo<Target> &info) { return std::string(info.param.name); });

} // namespace
} // namespace vitscope

#pragma once
// A fresh folder per test, removed afterwards. Under $VITSCOPE_TEST_TMP (set by CTest to
// build/test-tmp) or the system temp folder.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <cstdio>
#include <fstream>
#include <ftw.h>
#include <string>
#include <unistd.h>

namespace vitscope::test {

class TempDir {
public:
    TempDir()
    {
        static std::atomic<int> counter{0};
        const char *base = std::getenv("VITSCOPE_TEST_TMP");
        const auto *info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "vitscope";
        m_path = std::filesystem::path(base && *base ? base : std::filesystem::temp_directory_path().string()) /
                 (name + "-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::remove_all(m_path);
        std::filesystem::create_directories(m_path);
    }
    // Removed with POSIX nftw rather than std::filesystem::remove_all: on the GPU machine
    // (GCC 13 and PyTorch 2.11's libraries in one process) remove_all jumped to a null
    // address after a CUDA training run; the test bodies had passed.
    ~TempDir()
    {
        ::nftw(
            m_path.c_str(),
            [](const char *p, const struct stat *, int, struct FTW *) {
                std::remove(p); // what cannot be removed stays; the walk goes on
                return 0;
            },
            16,
            FTW_DEPTH | FTW_PHYS);
    }
    TempDir(const TempDir &) = delete;
    TempDir &operator=(const TempDir &) = delete;

    const std::filesystem::path &path() const { return m_path; }
    std::string file(const std::string &name) const { return (m_path / name).string(); }

private:
    std::filesystem::path m_path;
};

inline void writeBytes(const std::string &path, const std::string &bytes)
{
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string readBytes(const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

} // namespace vitscope::test

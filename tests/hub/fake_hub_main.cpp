// vitscope_fake_hub: the tests' loopback Hub as a program, for benchmarks
// (tests/bench/download_bench.sh). Serves every file of DIR as the repository ORG/NAME
// (files over 1 MB as LFS files, redirected to the storage host), prints the endpoint,
// and stops after SECONDS (at most 1800) or when its standard input closes.
//     vitscope_fake_hub DIR ORG/NAME [SECONDS]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include <poll.h>
#include <unistd.h>

#include "common/fake_hub.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        std::cerr << "usage: vitscope_fake_hub DIR ORG/NAME [SECONDS]\n";
        return 2;
    }
    const int seconds = std::min(1800, argc > 3 ? std::atoi(argv[3]) : 600);
    vitscope::test::FakeHub hub;
    for (const auto &entry : std::filesystem::directory_iterator(argv[1])) {
        if (!entry.is_regular_file())
            continue;
        std::ifstream in(entry.path(), std::ios::binary);
        std::string content((std::istreambuf_iterator<char>(in)), {});
        const bool lfs = content.size() > (1u << 20);
        hub.addFile(argv[2], entry.path().filename().string(), std::move(content), lfs);
    }
    std::cout << hub.endpoint() << std::endl;
    const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    pollfd in{0, POLLIN, 0};
    while (std::chrono::steady_clock::now() < end) {
        if (::poll(&in, 1, 200) > 0) {
            char c;
            if (::read(0, &c, 1) <= 0)
                break; // stdin closed
        }
    }
    return 0;
}

#pragma once
// Shared by the fuzz targets: most readers take a path, so each input is written to a
// file of this process first, in RAM (/dev/shm) where the machine has it: on ext4 the
// rewrite of one file per input waits for the disk (truncating a file that holds data
// flushes it), which held fuzz_safetensors at 40% of a core. Every vitscope reader must either return or throw a
// std::exception for any bytes; anything else (a crash, a sanitizer report, a hang, an
// allocation past libFuzzer's -rss_limit_mb) is a bug.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <unistd.h>

namespace vitscope::fuzz {

inline std::string writeInput(const std::uint8_t *data, std::size_t size, const std::string &suffix)
{
    static const std::string base = std::string(::access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") +
                                    "/vitscope-fuzz-" + std::to_string(::getpid());
    const std::string path = base + suffix;
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(size));
    return path;
}

} // namespace vitscope::fuzz

#pragma once
// Reader for the IDX format of MNIST and Fashion-MNIST (gzip-compressed or plain).
//
// Layout: two zero bytes, a type byte (0x08 = unsigned byte, the only type read here), a
// dimension count, one big-endian uint32 per dimension, then the data in row-major order.
// Every failure throws vitscope::FileError naming the file: missing or unreadable file,
// corrupt gzip stream, wrong magic number, data shorter than the header says (truncated)
// or bytes left over after it. The header is checked before anything is allocated, and
// the buffer only grows with the bytes actually read, so a header that claims terabytes
// cannot make it allocate them.

#include <cstdint>
#include <string>
#include <vector>

namespace vitscope::data {

struct IdxArray {
    std::vector<std::int64_t> dims;   // e.g. {10000, 28, 28}
    std::vector<std::uint8_t> values; // product(dims) bytes, row-major

    std::int64_t count() const { return dims.empty() ? 0 : dims.front(); }
};

// Reads the whole file. `path` may be gzip-compressed (detected from its content).
IdxArray readIdx(const std::string &path);

// Reads only the header (magic and dimensions) without reading the data.
std::vector<std::int64_t> readIdxDims(const std::string &path);

// Writes `array` as IDX (gzip-compressed when `gzip`). Used by tests and tools; throws
// vitscope::FileError when the file cannot be written.
void writeIdx(const std::string &path, const IdxArray &array, bool gzip);

} // namespace vitscope::data

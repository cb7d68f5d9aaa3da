#include "trainer/data/idx.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "models/error.h"

namespace vitscope::data {
namespace {

constexpr std::uint8_t kTypeUnsignedByte = 0x08;
constexpr int kMaxDims = 4;
// 2^34 bytes: far above any real IDX file, far below what would exhaust memory through
// std::vector growth before a short file is noticed.
constexpr std::int64_t kMaxElements = std::int64_t(1) << 34;

struct GzCloser {
    void operator()(gzFile_s *f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

GzFile openForRead(const std::string &path)
{
    errno = 0;
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f)
        throw FileError(path, std::string("cannot open: ") + (errno ? std::strerror(errno) : "out of memory"));
    return GzFile(f);
}

// Reads up to `n` bytes; returns how many were read. Throws on a corrupt stream.
std::size_t readSome(gzFile f, const std::string &path, void *dst, std::size_t n)
{
    std::size_t done = 0;
    auto *out = static_cast<unsigned char *>(dst);
    while (done < n) {
        const unsigned chunk = static_cast<unsigned>(std::min<std::size_t>(n - done, 1u << 30));
        const int got = gzread(f, out + done, chunk);
        if (got < 0) {
            int code = 0;
            const char *msg = gzerror(f, &code);
            throw FileError(path, std::string("corrupt or unreadable gzip data: ") + (msg ? msg : "unknown error"));
        }
        if (got == 0)
            break;
        done += static_cast<std::size_t>(got);
    }
    return done;
}

std::vector<std::int64_t> readHeader(gzFile f, const std::string &path)
{
    unsigned char magic[4];
    if (readSome(f, path, magic, 4) != 4)
        throw FileError(path, "truncated: file ends inside the 4-byte IDX magic number");
    if (magic[0] != 0 || magic[1] != 0 || magic[2] != kTypeUnsignedByte || magic[3] == 0 ||
        magic[3] > kMaxDims) {
        char found[16];
        std::snprintf(found, sizeof found, "%02x %02x %02x %02x", magic[0], magic[1], magic[2], magic[3]);
        throw FileError(path, std::string("not an IDX file of unsigned bytes: magic number expected "
                                          "00 00 08 0N (N = 1..4 dimensions), found ") +
                                  found);
    }
    const int ndims = magic[3];
    std::vector<std::int64_t> dims;
    std::int64_t elements = 1;
    for (int i = 0; i < ndims; ++i) {
        unsigned char b[4];
        if (readSome(f, path, b, 4) != 4)
            throw FileError(path, "truncated: file ends inside the IDX header (dimension " + std::to_string(i) + ")");
        const std::int64_t d = (std::int64_t(b[0]) << 24) | (std::int64_t(b[1]) << 16) |
                               (std::int64_t(b[2]) << 8) | std::int64_t(b[3]);
        if (d == 0)
            throw FileError(path, "IDX header has a zero-length dimension " + std::to_string(i));
        // Bound before multiplying: three 32-bit dimensions overflow 64 bits.
        if (d > kMaxElements / elements)
            throw FileError(path, "IDX header claims more than 2^34 values: not a dataset file");
        elements *= d;
        dims.push_back(d);
    }
    return dims;
}

} // namespace

std::vector<std::int64_t> readIdxDims(const std::string &path)
{
    GzFile f = openForRead(path);
    return readHeader(f.get(), path);
}

IdxArray readIdx(const std::string &path)
{
    GzFile f = openForRead(path);
    IdxArray array;
    array.dims = readHeader(f.get(), path);
    std::int64_t expected = 1;
    for (auto d : array.dims)
        expected *= d;

    // Grow in chunks as the bytes arrive, so a lying header costs at most one chunk.
    constexpr std::size_t kChunk = std::size_t(16) << 20;
    std::size_t have = 0;
    while (have < static_cast<std::size_t>(expected)) {
        const std::size_t want = std::min<std::size_t>(kChunk, static_cast<std::size_t>(expected) - have);
        array.values.resize(have + want);
        const std::size_t got = readSome(f.get(), path, array.values.data() + have, want);
        have += got;
        if (got < want)
            throw FileError(path, "truncated: header declares " + std::to_string(expected) +
                                      " data bytes, file holds " + std::to_string(have));
    }
    unsigned char extra[1];
    if (readSome(f.get(), path, extra, 1) != 0)
        throw FileError(path, "unexpected bytes after the " + std::to_string(expected) +
                                  " data bytes the header declares");
    return array;
}

void writeIdx(const std::string &path, const IdxArray &array, bool gzip)
{
    std::int64_t expected = 1;
    for (auto d : array.dims)
        expected *= d;
    if (array.dims.empty() || array.dims.size() > kMaxDims || expected != std::int64_t(array.values.size()))
        throw FileError(path, "writeIdx: dims do not match the number of values");
    errno = 0;
    gzFile f = gzopen(path.c_str(), gzip ? "wb6" : "wbT");
    if (!f)
        throw FileError(path, std::string("cannot create: ") + (errno ? std::strerror(errno) : "out of memory"));
    GzFile guard(f);
    std::vector<unsigned char> header = {0, 0, kTypeUnsignedByte, static_cast<unsigned char>(array.dims.size())};
    for (auto d : array.dims) {
        const auto u = static_cast<std::uint32_t>(d);
        header.insert(header.end(), {static_cast<unsigned char>(u >> 24), static_cast<unsigned char>(u >> 16),
                                     static_cast<unsigned char>(u >> 8), static_cast<unsigned char>(u)});
    }
    auto write = [&](const void *p, std::size_t n) {
        if (n && gzwrite(f, p, static_cast<unsigned>(n)) != static_cast<int>(n)) {
            int zerr = 0;
            const char *why = gzerror(f, &zerr);
            throw FileError(path, std::string("write failed (") +
                                      (zerr == Z_ERRNO ? std::strerror(errno) : why ? why : "unknown error") + ")");
        }
    };
    write(header.data(), header.size());
    write(array.values.data(), array.values.size());
    if (gzclose(guard.release()) != Z_OK)
        throw FileError(path, std::string("write failed while closing (") +
                                  (errno ? std::strerror(errno) : "unknown error") + ")");
}

} // namespace vitscope::data

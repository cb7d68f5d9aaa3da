#include <gtest/gtest.h>

#include <zlib.h>

#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "models/error.h"
#include "trainer/data/idx.h"

using vitscope::FileError;
using vitscope::data::IdxArray;
using vitscope::data::readIdx;
using vitscope::data::readIdxDims;
using vitscope::data::writeIdx;
using vitscope::test::TempDir;
using vitscope::test::writeBytes;

namespace {

// Builds IDX bytes by hand from the format's definition (not with writeIdx).
std::string idxBytes(std::vector<std::uint32_t> dims, const std::string &data, unsigned char type = 0x08)
{
    std::string s = {'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
    for (auto d : dims)
        for (int shift : {24, 16, 8, 0})
            s.push_back(static_cast<char>((d >> shift) & 0xff));
    return s + data;
}

std::string gzipBytes(const std::string &raw, const std::string &path)
{
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, raw.data(), static_cast<unsigned>(raw.size()));
    gzclose(f);
    return vitscope::test::readBytes(path);
}

// Expects readIdx(path) to throw a FileError whose message names the file and contains `needle`.
void expectIdxError(const std::string &path, const std::string &needle)
{
    vitscope::test::expectFileError([&] { readIdx(path); }, path, needle);
}

} // namespace

TEST(Idx, ReadsHandWrittenPlainFile)
{
    TempDir dir;
    writeBytes(dir.file("a.idx"), idxBytes({2, 3}, std::string("\x01\x02\x03\x04\x05\xff", 6)));
    const IdxArray a = readIdx(dir.file("a.idx"));
    EXPECT_EQ(a.dims, (std::vector<std::int64_t>{2, 3}));
    EXPECT_EQ(a.values, (std::vector<std::uint8_t>{1, 2, 3, 4, 5, 255}));
    EXPECT_EQ(a.count(), 2);
}

TEST(Idx, ReadsGzipFileAndHeaderOnly)
{
    TempDir dir;
    std::string data(4 * 5 * 7, '\0');
    for (std::size_t i = 0; i < data.size(); ++i)
        data[i] = static_cast<char>(i * 37 % 256);
    gzipBytes(idxBytes({4, 5, 7}, data), dir.file("b.idx.gz"));
    const IdxArray a = readIdx(dir.file("b.idx.gz"));
    ASSERT_EQ(a.values.size(), data.size());
    EXPECT_EQ(std::string(a.values.begin(), a.values.end()), data);
    EXPECT_EQ(readIdxDims(dir.file("b.idx.gz")), (std::vector<std::int64_t>{4, 5, 7}));
}

TEST(Idx, WriteThenReadRoundTrips)
{
    TempDir dir;
    IdxArray a;
    a.dims = {3, 2, 2};
    a.values = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    for (bool gzip : {false, true}) {
        const std::string path = dir.file(gzip ? "c.gz" : "c.idx");
        writeIdx(path, a, gzip);
        const IdxArray b = readIdx(path);
        EXPECT_EQ(b.dims, a.dims);
        EXPECT_EQ(b.values, a.values);
    }
    // The plain file is byte-for-byte the format's definition.
    EXPECT_EQ(vitscope::test::readBytes(dir.file("c.idx")),
              idxBytes({3, 2, 2}, std::string(a.values.begin(), a.values.end())));
}

TEST(Idx, MissingFileNamesIt)
{
    TempDir dir;
    expectIdxError(dir.file("nope.gz"), "cannot open");
}

TEST(Idx, WrongMagicNumber)
{
    TempDir dir;
    writeBytes(dir.file("png.idx"), std::string("\x89PNG\r\n\x1a\n", 8));
    expectIdxError(dir.file("png.idx"), "magic number");
    writeBytes(dir.file("float.idx"), idxBytes({1}, std::string(4, '\0'), 0x0d)); // IDX float type
    expectIdxError(dir.file("float.idx"), "found 00 00 0d 01");
    writeBytes(dir.file("nodims.idx"), std::string("\0\0\x08\0", 4));
    expectIdxError(dir.file("nodims.idx"), "magic number");
}

TEST(Idx, TruncatedHeaderAndData)
{
    TempDir dir;
    writeBytes(dir.file("short.idx"), std::string("\0\0", 2));
    expectIdxError(dir.file("short.idx"), "truncated");
    writeBytes(dir.file("hdr.idx"), idxBytes({5, 5}, "").substr(0, 6));
    expectIdxError(dir.file("hdr.idx"), "truncated");
    writeBytes(dir.file("data.idx"), idxBytes({10, 10}, std::string(99, 'x')));
    expectIdxError(dir.file("data.idx"), "declares 100 data bytes, file holds 99");
    gzipBytes(idxBytes({10, 10}, std::string(50, 'x')), dir.file("data.gz"));
    expectIdxError(dir.file("data.gz"), "file holds 50");
}

TEST(Idx, TrailingBytesAreAnError)
{
    TempDir dir;
    writeBytes(dir.file("long.idx"), idxBytes({2, 2}, std::string(5, 'x')));
    expectIdxError(dir.file("long.idx"), "unexpected bytes after");
}

TEST(Idx, CorruptGzipStream)
{
    TempDir dir;
    std::string gz = gzipBytes(idxBytes({64, 64}, std::string(4096, 'a')), dir.file("ok.gz"));
    for (std::size_t i = 12; i < gz.size() - 8; ++i)
        gz[i] = static_cast<char>(gz[i] ^ 0x5a);
    writeBytes(dir.file("bad.gz"), gz);
    EXPECT_THROW(readIdx(dir.file("bad.gz")), FileError);
}

TEST(Idx, HeaderClaimingHugeSizeIsRefusedWithoutAllocating)
{
    TempDir dir;
    // 4 x 2^32-1 ... would be ~3e38 bytes: refused from the header alone.
    writeBytes(dir.file("huge.idx"), idxBytes({0xffffffffu, 0xffffffffu, 0xffffffffu}, "abc"));
    expectIdxError(dir.file("huge.idx"), "2^34");
    // 1.6e10 bytes claimed (under the cap) but 3 present: refused after one chunk at most.
    writeBytes(dir.file("big.idx"), idxBytes({1000000u, 16000u}, "abc"));
    expectIdxError(dir.file("big.idx"), "truncated");
}

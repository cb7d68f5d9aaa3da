// The byte reader under the unpickler (models/checkpoints/byte_cursor.h), on buffers worked
// by hand: little-endian numbers, lengths checked against what is left, errors naming the
// file and the byte offset.
#include <gtest/gtest.h>

#include <string>

#include "common/expect_error.h"
#include "models/checkpoints/byte_cursor.h"

using vitscope::ByteCursor;

namespace {

struct Reader : ByteCursor {
    Reader(const std::string &bytes, const std::string &source) : ByteCursor(bytes.data(), bytes.size(), source) {}
    using ByteCursor::readBytes;
    using ByteCursor::readLe;
    using ByteCursor::readLine;
    using ByteCursor::take;
};

} // namespace

TEST(ByteCursor, ReadsLittleEndianBytesAndLines)
{
    const std::string bytes = std::string("\x01\x02\x03\x04\xff", 5) + "abc" + "line one\nrest";
    const std::string source = "data.pkl";
    Reader r(bytes, source);
    EXPECT_EQ(r.readLe(2), 0x0201u);     // 0x01 + 0x02 * 256
    EXPECT_EQ(r.readLe(3), 0xff0403u);   // 0x03 + 0x04 * 256 + 0xff * 65536
    EXPECT_EQ(r.readBytes(3), "abc");
    EXPECT_EQ(r.readLine(), "line one");
    EXPECT_EQ(r.readBytes(4), "rest");
}

TEST(ByteCursor, LengthsPastTheEndNameTheFileAndTheOffset)
{
    const std::string bytes = "abcdef";
    const std::string source = "archive/data.pkl";
    {
        Reader r(bytes, source);
        r.take(4);
        vitscope::test::expectFileError([&] { r.readLe(4); }, source, "pickle at byte 4: wants 4 bytes, 2 left (truncated?)");
    }
    {
        Reader r(bytes, source);
        vitscope::test::expectFileError([&] { r.readBytes(1u << 30); }, source, "a string of 1073741824 bytes, only 6 left");
    }
    {
        Reader r(bytes, source);
        vitscope::test::expectFileError([&] { r.readLine(); }, source, "a text argument without its newline");
    }
}

#include <gtest/gtest.h>

#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "models/error.h"
#include "models/checkpoints/safetensors.h"

using namespace vitscope;
using vitscope::test::TempDir;
using vitscope::test::writeBytes;

namespace {

// A safetensors file built by hand from the format's definition.
std::string fileBytes(const std::string &header, const std::string &data)
{
    std::string s;
    std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i, n >>= 8)
        s.push_back(static_cast<char>(n & 0xff));
    return s + header + data;
}

std::string floats(std::initializer_list<float> v)
{
    std::string s(v.size() * 4, '\0');
    std::memcpy(s.data(), std::data(v), s.size());
    return s;
}

void expectLoadError(const std::string &path, const std::string &needle)
{
    vitscope::test::expectFileError([&] { readSafetensors(path); }, path, needle);
}

} // namespace

TEST(Safetensors, ReadsAHandWrittenFile)
{
    TempDir dir;
    const std::string header =
        R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]},"a":{"dtype":"F32","shape":[3],"data_offsets":[0,12]},"__metadata__":{"format":"pt"}})";
    writeBytes(dir.file("x.safetensors"), fileBytes(header, floats({1, 2, 3, -4.5f, 5})));
    Metadata meta;
    const auto t = readSafetensors(dir.file("x.safetensors"), &meta);
    ASSERT_EQ(t.size(), 2u);
    EXPECT_TRUE(torch::equal(t.at("a"), torch::tensor({1.0f, 2.0f, 3.0f})));
    EXPECT_TRUE(torch::equal(t.at("b"), torch::tensor({-4.5f, 5.0f})));
    EXPECT_EQ(meta.at("format"), "pt");
}

TEST(Safetensors, RoundTripIsBitIdenticalForEveryDtype)
{
    TempDir dir;
    torch::manual_seed(0);
    TensorMap in;
    in["f32"] = torch::randn({3, 5});
    in["f16"] = torch::randn({7}).to(torch::kFloat16);
    in["bf16"] = torch::randn({2, 2, 2}).to(torch::kBFloat16);
    in["i64"] = torch::arange(10);
    in["scalar"] = torch::tensor(3.5f);
    in["empty"] = torch::zeros({0, 4});
    writeSafetensors(dir.file("r.safetensors"), in, {{"k", "v"}});
    Metadata meta;
    const auto out = readSafetensors(dir.file("r.safetensors"), &meta);
    ASSERT_EQ(out.size(), in.size());
    for (const auto &[name, t] : in) {
        EXPECT_EQ(out.at(name).scalar_type(), t.scalar_type()) << name;
        EXPECT_EQ(out.at(name).sizes(), t.sizes()) << name;
        if (t.numel() > 0) { // an empty tensor may have no storage at all (memcmp of null is undefined)
            EXPECT_EQ(std::memcmp(out.at(name).data_ptr(), t.data_ptr(), t.numel() * t.element_size()), 0) << name;
        }
    }
    EXPECT_EQ(meta.at("k"), "v");
    // The header length is little-endian and the data starts 8-byte aligned.
    const std::string bytes = vitscope::test::readBytes(dir.file("r.safetensors"));
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i)
        n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<std::size_t>(i)]);
    EXPECT_EQ(n % 8, 0u);
    EXPECT_EQ(bytes[8], '{');
    EXPECT_FALSE(std::filesystem::exists(dir.file("r.safetensors.partial")));
}

TEST(Safetensors, CorruptAndHostileFilesGiveClearErrors)
{
    TempDir dir;
    auto write = [&](const std::string &name, const std::string &bytes) {
        writeBytes(dir.file(name), bytes);
        return dir.file(name);
    };
    const std::string d12 = floats({1, 2, 3});
    expectLoadError(dir.file("absent.safetensors"), "cannot open");
    expectLoadError(write("short", "abc"), "shorter than the 8-byte header length");
    expectLoadError(write("biglen", std::string("\xff\xff\xff\xff\xff\xff\xff\x7f", 8) + "{}"), "exceeds");
    expectLoadError(write("notjson", fileBytes("{\"a\":", "")), "not valid JSON");
    expectLoadError(write("array", fileBytes("[1,2]", "")), "not a JSON object");
    expectLoadError(write("dtype", fileBytes(R"({"a":{"dtype":"F8","shape":[3],"data_offsets":[0,12]}})", d12)),
                "unsupported dtype 'F8'");
    expectLoadError(write("bytes", fileBytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,12]}})", d12)),
                "F32 (2) needs 8 bytes, data_offsets give 12");
    expectLoadError(write("outside", fileBytes(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", d12)),
                "fall outside the data section of 12 bytes");
    expectLoadError(write("overlap", fileBytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                           R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                                           d12)),
                "overlaps");
    expectLoadError(write("gap", fileBytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", d12)),
                "unused bytes 0..4");
    expectLoadError(write("trailing", fileBytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", d12)),
                "4 unexpected bytes after the last tensor");
    // Claims 2^60 elements: refused from the header, nothing allocated.
    expectLoadError(write("huge", fileBytes(R"({"a":{"dtype":"F32","shape":[1073741824,1073741824],"data_offsets":[0,12]}})",
                                        d12)),
                "larger than the file's data");
    expectLoadError(write("negshape", fileBytes(R"({"a":{"dtype":"F32","shape":[-3],"data_offsets":[0,12]}})", d12)),
                "not a size");
    expectLoadError(write("nooffsets", fileBytes(R"({"a":{"dtype":"F32","shape":[3]}})", d12)),
                "expected an object with dtype, shape and data_offsets");
}

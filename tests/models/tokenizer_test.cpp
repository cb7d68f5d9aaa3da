// The CLIP tokenizer against hand-worked examples and, when the full OpenAI vocabulary is
// present (VITSCOPE_CLIP_VOCAB_DIR holding vocab.json + merges.txt), the published ids.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>
#include <thread>

#include "common/clip_fixture.h"
#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "models/error.h"
#include "models/tokenizer.h"

namespace vitscope {
namespace {

using test::smallTokenizer;
using test::TempDir;
using test::writeBytes;
using Pieces = std::vector<std::string>;

TEST(ClipTokenizer, ByteTableMatchesKnownSymbols)
{
    const auto &t = ClipTokenizer::byteSymbols();
    ASSERT_EQ(t.size(), 256u);
    EXPECT_EQ(t[' '], "\xc4\xa0");  // U+0120 'Ġ', GPT-2's well-known space
    EXPECT_EQ(t['\n'], "\xc4\x8a"); // U+010A 'Ċ'
    EXPECT_EQ(t[0], "\xc4\x80");    // U+0100 'Ā': the first non-printable byte
    EXPECT_EQ(t[0xAD], "\xc5\x83"); // U+0143: soft hyphen is the 68th stand-in (0x100 + 67)
    EXPECT_EQ(t['a'], "a");
    EXPECT_EQ(t[0xFF], "\xc3\xbf"); // 'ÿ' stands for itself
    EXPECT_EQ(std::set<std::string>(t.begin(), t.end()).size(), 256u);
}

TEST(ClipTokenizer, CleaningUnescapesTwiceCollapsesSpaceAndLowercases)
{
    EXPECT_EQ(ClipTokenizer::clean("  Hello&amp;amp;World\t\n  FOO  "), "hello&world foo");
    EXPECT_EQ(ClipTokenizer::clean("&lt;B&gt; caf&eacute;"), "<b> caf\xc3\xa9");
    EXPECT_EQ(ClipTokenizer::clean("&#x41;&#66;&#128;"), "ab\xe2\x82\xac");   // &#128; is the euro sign
    EXPECT_EQ(ClipTokenizer::clean("&#0;|&#x110000;"), "\xef\xbf\xbd|\xef\xbf\xbd"); // U+FFFD
    EXPECT_EQ(ClipTokenizer::clean("&notit; &ampx &unknown;"), "\xc2\xacit; &x &unknown;");
    EXPECT_EQ(ClipTokenizer::clean("a\xc2\xa0" "b\xe3\x80\x80" "c"), "a b c");       // no-break and ideographic space
    EXPECT_EQ(ClipTokenizer::clean("\xc4\xb0"), "i\xcc\x87");                       // 'İ' -> 'i' + combining dot
    EXPECT_EQ(ClipTokenizer::clean("\xce\xa3\xce\x91\xce\xa3"), "\xcf\x83\xce\xb1\xcf\x82"); // ΣΑΣ -> σας
    EXPECT_EQ(ClipTokenizer::clean("\xc3\x84\xc3\x96\xc3\x9c \xd0\x9c\xd0\x98\xd0\xa0"),
              "\xc3\xa4\xc3\xb6\xc3\xbc \xd0\xbc\xd0\xb8\xd1\x80"); // ÄÖÜ МИР
}

TEST(ClipTokenizer, PreTokenizationFollowsThePattern)
{
    EXPECT_EQ(ClipTokenizer::preTokenize("hello, world!! it's 2024 caf\xc3\xa9 <|endoftext|>"),
              (Pieces{"hello", ",", "world", "!!", "it", "'s", "2", "0", "2", "4", "caf\xc3\xa9", "<|endoftext|>"}));
    EXPECT_EQ(ClipTokenizer::preTokenize("don't we'll i'm they're you've he'd"),
              (Pieces{"don", "'t", "we", "'ll", "i", "'m", "they", "'re", "you", "'ve", "he", "'d"}));
    // A symbol run is greedy; a contraction only counts where a match starts.
    EXPECT_EQ(ClipTokenizer::preTokenize("''s a-b !<|endoftext|>"), (Pieces{"''", "s", "a", "-", "b", "!<|", "endoftext", "|>"}));
    // Letters of any script; numbers one character at a time, including No (½, ²).
    EXPECT_EQ(ClipTokenizer::preTokenize("\xe4\xb8\xad\xe6\x96\x87 \xc2\xbdx2\xc2\xb2"),
              (Pieces{"\xe4\xb8\xad\xe6\x96\x87", "\xc2\xbd", "x", "2", "\xc2\xb2"}));
    // A combining mark is neither letter nor number.
    EXPECT_EQ(ClipTokenizer::preTokenize("i\xcc\x87stanbul"), (Pieces{"i", "\xcc\x87", "stanbul"}));
    EXPECT_TRUE(ClipTokenizer::preTokenize("").empty());
}

TEST(ClipTokenizer, MergesApplyByRankAsWorkedByHand)
{
    // low: l o w</w> -> (l,o) has rank 0 -> lo w</w> -> (lo,w</w>) rank 1 -> low</w>.
    // lower: l o w e r</w> -> lo w e r</w>; (o,w) would be rank 2 but 'o' is gone.
    const auto tok = smallTokenizer({{"l", "o"}, {"lo", "w</w>"}, {"o", "w"}, {"e", "r</w>"}});
    EXPECT_EQ(tok.tokenize("low"), (Pieces{"low</w>"}));
    EXPECT_EQ(tok.tokenize("lower"), (Pieces{"lo", "w", "er</w>"}));
    EXPECT_EQ(tok.tokenize("owl"), (Pieces{"ow", "l</w>"}));
    // Ids: bytes 0..255, bytes</w> 256..511, merges 512.., then start and end.
    const int64_t lo = 512, low = 513, er = 515;
    EXPECT_EQ(tok.startId(), 516);
    EXPECT_EQ(tok.endId(), 517);
    EXPECT_EQ(tok.encode("Low"), (std::vector<int64_t>{516, low, 517}));
    EXPECT_EQ(tok.encode("lower"), (std::vector<int64_t>{516, lo, int64_t('w'), er, 517}));
    // Space byte is not in any word: "a b" is two pieces, each ending a word.
    EXPECT_EQ(tok.encode("a b"), (std::vector<int64_t>{516, 256 + 'a', 256 + 'b', 517}));
    EXPECT_EQ(tok.encode(""), (std::vector<int64_t>{516, 517}));
    EXPECT_EQ(tok.encode("<|endoftext|>"), (std::vector<int64_t>{516, 517, 517}));
}

TEST(ClipTokenizer, NonAsciiTextGoesThroughTheByteTable)
{
    const auto tok = smallTokenizer({});
    // 'é' is bytes C3 A9: both printable Latin-1, so the symbols are "Ã" and "©</w>".
    EXPECT_EQ(tok.tokenize("\xc3\xa9"), (Pieces{"\xc3\x83", "\xc2\xa9</w>"}));
    EXPECT_EQ(tok.encode("\xc3\xa9"), (std::vector<int64_t>{tok.startId(), 0xC3, 256 + 0xA9, tok.endId()}));
    EXPECT_EQ(tok.decode(tok.encode("Caf\xc3\xa9 au lait!")), "caf\xc3\xa9 au lait !");
}

TEST(ClipTokenizer, TruncationKeepsTheEndTokenLast)
{
    const auto tok = smallTokenizer({}, 6);
    const auto ids = tok.encode("a b c d e f g", Truncation::Truncate);
    EXPECT_EQ(ids, (std::vector<int64_t>{tok.startId(), 256 + 'a', 256 + 'b', 256 + 'c', 256 + 'd', tok.endId()}));
    EXPECT_EQ(tok.encode("a b c d").size(), 6u); // exactly the context: fine
    try {
        tok.encode("a b c d e");
        FAIL() << "expected an error for text longer than the context";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("7 tokens"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("context of 6"), std::string::npos) << e.what();
    }
}

TEST(ClipTokenizer, CacheIsFilledAndSharedSafelyAcrossThreads)
{
    const auto tok = smallTokenizer(test::promptMerges());
    const auto expected = tok.encode("a photo of a boot");
    EXPECT_EQ(tok.cacheSize(), 4u); // a, photo, of, boot
    std::vector<std::thread> threads;
    std::vector<int> ok(4, 0);
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i)
                ok[std::size_t(t)] += tok.encode("a photo of a boot") == expected;
        });
    for (auto &th : threads)
        th.join();
    EXPECT_EQ(ok, (std::vector<int>{200, 200, 200, 200}));
    EXPECT_EQ(tok.tokenize("a photo of a cat"), (Pieces{"a</w>", "photo</w>", "of</w>", "a</w>", "cat</w>"}));
}

TEST(ClipTokenizer, FilesRoundTripAndBadFilesNameThemselves)
{
    TempDir dir;
    const auto tok = smallTokenizer(test::promptMerges());
    tok.save(dir.file("vocab.json"), dir.file("merges.txt"));
    const auto back = ClipTokenizer::fromFiles(dir.file("vocab.json"), dir.file("merges.txt"));
    EXPECT_EQ(back.encode("a photo of a boot!"), tok.encode("a photo of a boot!"));
    EXPECT_EQ(back.vocabSize(), tok.vocabSize());

    test::expectFileError([&] { ClipTokenizer::fromFiles(dir.file("none.json"), dir.file("merges.txt")); },
                          dir.file("none.json"), "missing");
    writeBytes(dir.file("bad.json"), "{\"a\": ");
    test::expectFileError([&] { ClipTokenizer::fromFiles(dir.file("bad.json"), dir.file("merges.txt")); },
                          dir.file("bad.json"), "not valid JSON");
    writeBytes(dir.file("nospecial.json"), "{\"a\": 0, \"b</w>\": 1}");
    writeBytes(dir.file("empty.txt"), "#version: 0.2\n");
    test::expectFileError([&] { ClipTokenizer::fromFiles(dir.file("nospecial.json"), dir.file("empty.txt")); },
                          dir.file("nospecial.json"), "no <|startoftext|>");
    writeBytes(dir.file("m1.txt"), "#version: 0.2\np h\nthree parts here\n");
    test::expectFileError([&] { ClipTokenizer::fromFiles(dir.file("vocab.json"), dir.file("m1.txt")); },
                          dir.file("m1.txt"), "line 3");
    writeBytes(dir.file("m2.txt"), "#version: 0.2\nq z\n");
    test::expectFileError([&] { ClipTokenizer::fromFiles(dir.file("vocab.json"), dir.file("m2.txt")); },
                          dir.file("m2.txt"), "not in the vocabulary");
}

TEST(ClipTokenizer, PublishedIdsWithTheFullOpenAiVocabulary)
{
    const char *dir = std::getenv("VITSCOPE_CLIP_VOCAB_DIR");
    if (!dir || !std::filesystem::exists(std::filesystem::path(dir) / "vocab.json"))
        GTEST_SKIP() << "set VITSCOPE_CLIP_VOCAB_DIR to a folder with OpenAI CLIP's vocab.json and merges.txt";
    const auto tok = ClipTokenizer::fromFiles(std::string(dir) + "/vocab.json", std::string(dir) + "/merges.txt");
    EXPECT_EQ(tok.vocabSize(), 49408);
    EXPECT_EQ(tok.encode("a photo of a fox"), (std::vector<int64_t>{49406, 320, 1125, 539, 320, 3240, 49407}));
}

} // namespace
} // namespace vitscope

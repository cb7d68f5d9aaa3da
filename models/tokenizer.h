#pragma once
// CLIP's byte-level BPE tokenizer (REFERENCE.md, CLIP), compatible with OpenAI's
// simple_tokenizer and transformers' CLIPTokenizer (with ftfy), reading the Hugging Face
// vocab.json + merges.txt:
//   text -> HTML unescaped twice -> whitespace runs to one space, stripped -> lowercased
//        -> split by <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//        -> each piece's UTF-8 bytes through the printable byte table, "</w>" on the last
//           symbol -> merges by rank -> ids; <|startoftext|> first, <|endoftext|> last.
// Unicode classes, lowercasing and the HTML5 entity list come from tables generated from
// Python (models/gen_unicode_tables.py), so no ICU is needed and the results are those of
// the Python original. Not reproduced: ftfy's mojibake repair (a no-op on clean text).
// Torch-free. encode() is thread-safe (the BPE cache is guarded).

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "models/unicode.h"

namespace vitscope {



enum class Truncation {
    Error,    // text longer than the context throws vitscope::Error
    Truncate, // keep the first context - 1 ids and end with <|endoftext|>
};

class ClipTokenizer {
public:
    static constexpr const char *kStartToken = "<|startoftext|>";
    static constexpr const char *kEndToken = "<|endoftext|>";

    // vocab: token -> id; merges in rank order (first = applied first). Throws
    // vitscope::Error (FileError naming `source` when given) if the start or end token is
    // missing or a merge's result is not in the vocabulary.
    ClipTokenizer(std::unordered_map<std::string, int64_t> vocab,
                  std::vector<std::pair<std::string, std::string>> merges, int64_t contextLength = 77,
                  const std::string &source = {});

    // vocab.json + merges.txt ("#version" first line optional). FileError naming the file
    // and, for merges, the line.
    static ClipTokenizer fromFiles(const std::string &vocabPath, const std::string &mergesPath,
                                   int64_t contextLength = 77);
    // OpenAI's bpe_simple_vocab_16e6.txt.gz (open_clip ships the same file): a header line,
    // then the merges; the vocabulary is implied by them, as OpenAI's SimpleTokenizer
    // builds it. FileError naming the file.
    static ClipTokenizer fromOpenAiBpe(const std::string &gzPath, int64_t contextLength = 77);
    // Writes both files (atomically), in the Hugging Face layout.
    void save(const std::string &vocabPath, const std::string &mergesPath) const;

    // Ids with start and end tokens, no padding.
    std::vector<int64_t> encode(const std::string &text, Truncation truncation = Truncation::Error) const;
    // The BPE tokens of the text (no start / end), e.g. {"a</w>", "photo</w>"}.
    std::vector<std::string> tokenize(const std::string &text) const;
    // Ids back to text: "</w>" becomes a space; special tokens dropped when skipSpecial.
    std::string decode(const std::vector<int64_t> &ids, bool skipSpecial = true) const;

    // The steps, public for the BPE trainer and the tests.
    static std::string clean(const std::string &text); // unescape, whitespace, strip, lowercase
    static std::vector<std::string> preTokenize(const std::string &cleanedText);
    // The printable stand-in (UTF-8) of each byte (OpenAI's bytes_to_unicode).
    static const std::vector<std::string> &byteSymbols();
    // A piece as the symbols BPE starts from: byte symbols, "</w>" on the last.
    static std::vector<std::string> initialSymbols(const std::string &piece);

    int64_t startId() const { return m_startId; }
    int64_t endId() const { return m_endId; }
    int64_t contextLength() const { return m_contextLength; }
    int64_t vocabSize() const { return int64_t(m_idToToken.size()); }
    const std::vector<std::pair<std::string, std::string>> &merges() const { return m_merges; }
    const std::unordered_map<std::string, int64_t> &vocab() const { return m_vocab; }
    std::size_t cacheSize() const;

private:
    std::vector<int64_t> bpe(const std::string &piece) const;

    std::unordered_map<std::string, int64_t> m_vocab;
    std::vector<std::string> m_idToToken;
    std::vector<std::pair<std::string, std::string>> m_merges;
    std::unordered_map<std::string, int> m_ranks; // "a b" -> rank
    int64_t m_startId = 0, m_endId = 0, m_contextLength = 77;
    // Piece -> ids. Shared by copies (they have the same vocabulary and merges).
    struct Cache {
        std::mutex mutex;
        std::unordered_map<std::string, std::vector<int64_t>> ids;
    };
    std::shared_ptr<Cache> m_cache = std::make_shared<Cache>();
};

} // namespace vitscope

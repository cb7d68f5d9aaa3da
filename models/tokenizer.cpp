#include "models/tokenizer.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>
#include <zlib.h>

#include "models/error.h"
#include "models/json_io.h"

namespace vitscope {

// ---------------------------------------------------------------------------- tokenizer

namespace {

const char32_t *const kSpecials[] = {U"<|startoftext|>", U"<|endoftext|>"};
const char32_t *const kContractions[] = {U"'s", U"'t", U"'re", U"'ve", U"'m", U"'ll", U"'d"};

bool startsWithAt(const std::u32string &s, std::size_t i, const char32_t *lit)
{
    for (std::size_t k = 0; lit[k]; ++k)
        if (i + k >= s.size() || s[i + k] != lit[k])
            return false;
    return true;
}

std::size_t litLength(const char32_t *lit)
{
    std::size_t n = 0;
    while (lit[n])
        ++n;
    return n;
}

constexpr std::size_t kCacheLimit = 200000;

} // namespace

namespace {

// "a b": one merge of a merges file; FileError naming the file and line otherwise.
std::pair<std::string, std::string> parseMergeLine(const std::string &line, const std::string &path, int64_t lineNo)
{
    const auto space = line.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 >= line.size() ||
        line.find(' ', space + 1) != std::string::npos)
        throw FileError(path, "line " + std::to_string(lineNo) + ": expected two symbols separated by one space");
    return {line.substr(0, space), line.substr(space + 1)};
}

} // namespace

ClipTokenizer ClipTokenizer::fromOpenAiBpe(const std::string &gzPath, int64_t contextLength)
{
    gzFile gz = gzopen(gzPath.c_str(), "rb");
    if (!gz)
        throw FileError(gzPath, std::filesystem::exists(gzPath) ? std::string("cannot open: ") + std::strerror(errno)
                                                                : "missing");
    std::string text;
    char buffer[1 << 16];
    int n = 0;
    while ((n = gzread(gz, buffer, sizeof buffer)) > 0) {
        if (gzdirect(gz)) { // zlib passes plain files through: this one is not gzip
            gzclose(gz);
            throw FileError(gzPath, "not a gzip file: expected OpenAI's bpe_simple_vocab_16e6.txt.gz");
        }
        text.append(buffer, std::size_t(n));
        if (text.size() > (std::size_t(64) << 20)) {
            gzclose(gz);
            throw FileError(gzPath, "more than 64 MB uncompressed: not OpenAI's BPE merges file");
        }
    }
    int err = Z_OK;
    const char *msg = gzerror(gz, &err);
    const bool failed = n < 0 || (err != Z_OK && err != Z_STREAM_END);
    const std::string why = failed ? std::string(msg ? msg : "read error") : "";
    gzclose(gz);
    if (failed)
        throw FileError(gzPath, "not a readable gzip file: " + why);
    // OpenAI's SimpleTokenizer: the first line is a header; the next 49152 - 256 - 2 lines are
    // the merges in rank order. The vocabulary is the 256 byte symbols (in the order of
    // bytes_to_unicode: printable bytes first), the same with </w>, one token per merge, and
    // the two special tokens.
    std::vector<std::pair<std::string, std::string>> merges;
    std::istringstream in(text);
    std::string line;
    int64_t lineNo = 0;
    const std::size_t maxMerges = 49152 - 256 - 2;
    while (std::getline(in, line) && merges.size() < maxMerges) {
        if (++lineNo == 1)
            continue;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (!line.empty())
            merges.push_back(parseMergeLine(line, gzPath, lineNo));
    }
    std::vector<std::string> order;
    for (int pass = 0; pass < 2; ++pass)
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            if (printable == (pass == 0))
                order.push_back(byteSymbols()[std::size_t(b)]);
        }
    std::unordered_map<std::string, int64_t> vocab;
    auto add = [&](const std::string &token) { vocab.emplace(token, int64_t(vocab.size())); };
    for (const auto &sym : order)
        add(sym);
    for (const auto &sym : order)
        add(sym + "</w>");
    for (const auto &[a, b] : merges)
        if (!vocab.count(a + b))
            add(a + b);
    add(kStartToken);
    add(kEndToken);
    return ClipTokenizer(std::move(vocab), std::move(merges), contextLength, gzPath);
}

const std::vector<std::string> &ClipTokenizer::byteSymbols()
{
    // Printable bytes ('!'..'~', U+00A1..U+00AC, U+00AE..U+00FF) stand for themselves; the
    // others, in byte order, take U+0100, U+0101, ...
    static const std::vector<std::string> table = [] {
        std::vector<std::string> t(256);
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            t[std::size_t(b)] = unicode::encodeUtf8(printable ? char32_t(b) : next++);
        }
        return t;
    }();
    return table;
}

std::vector<std::string> ClipTokenizer::initialSymbols(const std::string &piece)
{
    std::vector<std::string> symbols;
    symbols.reserve(piece.size());
    for (unsigned char b : piece)
        symbols.push_back(byteSymbols()[b]);
    if (!symbols.empty())
        symbols.back() += "</w>";
    return symbols;
}

std::string ClipTokenizer::clean(const std::string &text)
{
    std::u32string s = unicode::htmlUnescape(unicode::htmlUnescape(unicode::decodeUtf8(text)));
    std::u32string collapsed;
    collapsed.reserve(s.size());
    bool inSpace = false;
    for (char32_t c : s) {
        if (unicode::isSpace(c)) {
            inSpace = true;
            continue;
        }
        if (inSpace && !collapsed.empty())
            collapsed.push_back(U' ');
        inSpace = false;
        collapsed.push_back(c);
    }
    return unicode::encodeUtf8(unicode::toLower(collapsed));
}

std::vector<std::string> ClipTokenizer::preTokenize(const std::string &cleanedText)
{
    const std::u32string s = unicode::decodeUtf8(cleanedText);
    std::vector<std::string> pieces;
    const std::size_t n = s.size();
    std::size_t i = 0;
    auto plain = [](char32_t c) { return !unicode::isSpace(c) && !unicode::isLetter(c) && !unicode::isNumber(c); };
    while (i < n) {
        std::size_t len = 0;
        for (const char32_t *lit : kSpecials)
            if (!len && startsWithAt(s, i, lit))
                len = litLength(lit);
        for (const char32_t *lit : kContractions)
            if (!len && startsWithAt(s, i, lit))
                len = litLength(lit);
        if (!len && unicode::isLetter(s[i])) {
            len = 1;
            while (i + len < n && unicode::isLetter(s[i + len]))
                ++len;
        }
        if (!len && unicode::isNumber(s[i]))
            len = 1;
        if (!len && plain(s[i])) {
            len = 1;
            while (i + len < n && plain(s[i + len]))
                ++len;
        }
        if (!len) { // whitespace
            ++i;
            continue;
        }
        pieces.push_back(unicode::encodeUtf8(s.substr(i, len)));
        i += len;
    }
    return pieces;
}

ClipTokenizer::ClipTokenizer(std::unordered_map<std::string, int64_t> vocab,
                             std::vector<std::pair<std::string, std::string>> merges, int64_t contextLength,
                             const std::string &source)
    : m_vocab(std::move(vocab)), m_merges(std::move(merges)), m_contextLength(contextLength)
{
    auto fail = [&](const std::string &what) -> void {
        if (source.empty())
            throw Error("tokenizer: " + what);
        throw FileError(source, what);
    };
    if (contextLength < 2)
        fail("context length " + std::to_string(contextLength) + " leaves no room for the start and end tokens");
    int64_t maxId = -1;
    for (const auto &[token, id] : m_vocab) {
        if (id < 0 || id >= (int64_t(1) << 31))
            fail("token id " + std::to_string(id) + " of '" + token + "' is out of range");
        maxId = std::max(maxId, id);
    }
    if (maxId >= int64_t(m_vocab.size()) * 4 + 1024)
        fail("token ids are sparse (largest " + std::to_string(maxId) + " for " + std::to_string(m_vocab.size()) +
             " tokens)");
    m_idToToken.assign(std::size_t(maxId + 1), std::string());
    for (const auto &[token, id] : m_vocab)
        m_idToToken[std::size_t(id)] = token;
    for (const char *special : {kStartToken, kEndToken})
        if (!m_vocab.count(special))
            fail(std::string("the vocabulary has no ") + special + " token");
    m_startId = m_vocab.at(kStartToken);
    m_endId = m_vocab.at(kEndToken);
    m_ranks.reserve(m_merges.size());
    for (std::size_t r = 0; r < m_merges.size(); ++r) {
        const auto &[a, b] = m_merges[r];
        if (!m_vocab.count(a + b))
            fail("merge " + std::to_string(r + 1) + " '" + a + " " + b + "' makes '" + a + b +
                 "', which is not in the vocabulary: vocab.json and merges.txt do not belong together");
        m_ranks.emplace(a + " " + b, int(r));
    }
}

ClipTokenizer ClipTokenizer::fromFiles(const std::string &vocabPath, const std::string &mergesPath,
                                       int64_t contextLength)
{
    const nlohmann::json j = readJsonFile(vocabPath);
    if (!j.is_object() || j.empty())
        throw FileError(vocabPath, "expected a JSON object mapping tokens to ids");
    std::unordered_map<std::string, int64_t> vocab;
    vocab.reserve(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (!it.value().is_number_integer())
            throw FileError(vocabPath, "the id of token '" + it.key() + "' is not an integer");
        vocab.emplace(it.key(), it.value().get<int64_t>());
    }
    std::ifstream in(mergesPath);
    if (!in)
        throw FileError(mergesPath, std::filesystem::exists(mergesPath)
                                        ? std::string("cannot open: ") + std::strerror(errno)
                                        : "missing");
    std::vector<std::pair<std::string, std::string>> merges;
    std::string line;
    int64_t lineNo = 0;
    while (std::getline(in, line)) {
        ++lineNo;
        if (!line.empty() && line.back() == '\r')
            line.pop_back();
        if (line.empty() || (lineNo == 1 && line.rfind("#version", 0) == 0))
            continue;
        merges.push_back(parseMergeLine(line, mergesPath, lineNo));
    }
    try {
        return ClipTokenizer(std::move(vocab), std::move(merges), contextLength, vocabPath);
    } catch (const FileError &e) {
        if (std::string(e.what()).find("merge ") != std::string::npos)
            throw FileError(mergesPath, std::string(e.what()).substr(vocabPath.size() + 2));
        throw;
    }
}

void ClipTokenizer::save(const std::string &vocabPath, const std::string &mergesPath) const
{
    nlohmann::json j = nlohmann::json::object();
    for (std::size_t id = 0; id < m_idToToken.size(); ++id)
        if (!m_idToToken[id].empty())
            j[m_idToToken[id]] = id;
    const std::string vocabText = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::ostringstream merges;
    merges << "#version: 0.2\n";
    for (const auto &[a, b] : m_merges)
        merges << a << ' ' << b << '\n';
    for (const auto &[path, text] : {std::pair{vocabPath, vocabText + "\n"}, std::pair{mergesPath, merges.str()}}) {
        const std::string tmp = path + ".partial";
        {
            std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
            if (!out)
                throw FileError(path, std::string("cannot create: ") + std::strerror(errno));
            out << text;
            out.flush();
            if (!out) {
                const int err = errno;
                throw FileError(path,
                                std::string("write failed (") + (err ? std::strerror(err) : "unknown error") + ")");
            }
        }
        std::error_code ec;
        std::filesystem::rename(tmp, path, ec);
        if (ec)
            throw FileError(path, "cannot replace: " + ec.message());
    }
}

std::vector<int64_t> ClipTokenizer::bpe(const std::string &piece) const
{
    if (piece == kStartToken)
        return {m_startId};
    if (piece == kEndToken)
        return {m_endId};
    {
        std::lock_guard<std::mutex> lock(m_cache->mutex);
        auto it = m_cache->ids.find(piece);
        if (it != m_cache->ids.end())
            return it->second;
    }
    std::vector<std::string> word = initialSymbols(piece);
    while (word.size() > 1) {
        int best = std::numeric_limits<int>::max();
        std::size_t bestAt = 0;
        for (std::size_t i = 0; i + 1 < word.size(); ++i) {
            auto it = m_ranks.find(word[i] + " " + word[i + 1]);
            if (it != m_ranks.end() && it->second < best)
                best = it->second, bestAt = i;
        }
        if (best == std::numeric_limits<int>::max())
            break;
        const std::string first = word[bestAt], second = word[bestAt + 1];
        std::vector<std::string> merged;
        merged.reserve(word.size());
        for (std::size_t i = 0; i < word.size();) {
            if (i + 1 < word.size() && word[i] == first && word[i + 1] == second) {
                merged.push_back(first + second);
                i += 2;
            } else {
                merged.push_back(word[i++]);
            }
        }
        word = std::move(merged);
    }
    std::vector<int64_t> ids;
    ids.reserve(word.size());
    for (const auto &symbol : word) {
        auto it = m_vocab.find(symbol);
        ids.push_back(it == m_vocab.end() ? m_endId : it->second); // unknown -> <|endoftext|>, as transformers
    }
    std::lock_guard<std::mutex> lock(m_cache->mutex);
    if (m_cache->ids.size() >= kCacheLimit)
        m_cache->ids.clear();
    m_cache->ids.emplace(piece, ids);
    return ids;
}

std::vector<int64_t> ClipTokenizer::encode(const std::string &text, Truncation truncation) const
{
    std::vector<int64_t> ids{m_startId};
    for (const auto &piece : preTokenize(clean(text))) {
        const auto part = bpe(piece);
        ids.insert(ids.end(), part.begin(), part.end());
    }
    ids.push_back(m_endId);
    if (int64_t(ids.size()) > m_contextLength) {
        if (truncation == Truncation::Error)
            throw Error("text is " + std::to_string(ids.size()) + " tokens long with the start and end tokens, "
                        "more than the model's context of " + std::to_string(m_contextLength) +
                        ": shorten it or allow truncation");
        ids.resize(std::size_t(m_contextLength));
        ids.back() = m_endId;
    }
    return ids;
}

std::vector<std::string> ClipTokenizer::tokenize(const std::string &text) const
{
    std::vector<std::string> tokens;
    for (const auto &piece : preTokenize(clean(text)))
        for (int64_t id : bpe(piece))
            tokens.push_back(m_idToToken[std::size_t(id)]);
    return tokens;
}

std::string ClipTokenizer::decode(const std::vector<int64_t> &ids, bool skipSpecial) const
{
    static const std::unordered_map<std::string, unsigned char> byteOf = [] {
        std::unordered_map<std::string, unsigned char> m;
        for (int b = 0; b < 256; ++b)
            m.emplace(byteSymbols()[std::size_t(b)], static_cast<unsigned char>(b));
        return m;
    }();
    std::string text;
    std::string bytes;
    for (int64_t id : ids) {
        if (id < 0 || id >= int64_t(m_idToToken.size()) || m_idToToken[std::size_t(id)].empty())
            throw Error("token id " + std::to_string(id) + " is not in the vocabulary");
        if (id == m_startId || id == m_endId) {
            if (!skipSpecial)
                text += m_idToToken[std::size_t(id)];
            continue;
        }
        text += m_idToToken[std::size_t(id)];
    }
    // Symbols back to bytes; "</w>" marks a word end.
    const std::u32string symbols = unicode::decodeUtf8(text);
    for (std::size_t i = 0; i < symbols.size(); ++i) {
        if (symbols.compare(i, 4, U"</w>") == 0) {
            bytes += ' ';
            i += 3;
            continue;
        }
        auto it = byteOf.find(unicode::encodeUtf8(symbols[i]));
        bytes += it != byteOf.end() ? std::string(1, char(it->second)) : unicode::encodeUtf8(symbols[i]);
    }
    while (!bytes.empty() && bytes.back() == ' ')
        bytes.pop_back();
    return unicode::encodeUtf8(unicode::decodeUtf8(bytes)); // invalid UTF-8 -> U+FFFD
}

std::size_t ClipTokenizer::cacheSize() const
{
    std::lock_guard<std::mutex> lock(m_cache->mutex);
    return m_cache->ids.size();
}

} // namespace vitscope

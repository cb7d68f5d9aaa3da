#include "trainer/bpe_trainer.h"

#include <map>
#include <unordered_map>

namespace vitscope::train {

ClipTokenizer trainBpe(const std::vector<std::string> &corpus, const BpeOptions &o)
{
    // Distinct words with their counts, as symbol sequences.
    std::map<std::string, int64_t> counts;
    for (const auto &text : corpus)
        for (const auto &piece : ClipTokenizer::preTokenize(ClipTokenizer::clean(text)))
            if (piece != ClipTokenizer::kStartToken && piece != ClipTokenizer::kEndToken)
                ++counts[piece];
    std::vector<std::pair<std::vector<std::string>, int64_t>> words;
    for (const auto &[piece, n] : counts)
        words.emplace_back(ClipTokenizer::initialSymbols(piece), n);

    std::vector<std::pair<std::string, std::string>> merges;
    while (int64_t(merges.size()) < o.merges) {
        std::map<std::pair<std::string, std::string>, int64_t> pairs; // ordered: ties go to the smaller pair
        for (const auto &[symbols, n] : words)
            for (std::size_t i = 0; i + 1 < symbols.size(); ++i)
                pairs[{symbols[i], symbols[i + 1]}] += n;
        const std::pair<std::string, std::string> *best = nullptr;
        int64_t bestCount = 0;
        for (const auto &[pair, n] : pairs)
            if (n > bestCount)
                best = &pair, bestCount = n;
        if (!best || bestCount < std::max<int64_t>(o.minFrequency, 1))
            break;
        const auto [a, b] = *best;
        merges.emplace_back(a, b);
        for (auto &[symbols, n] : words) {
            std::vector<std::string> merged;
            merged.reserve(symbols.size());
            for (std::size_t i = 0; i < symbols.size();) {
                if (i + 1 < symbols.size() && symbols[i] == a && symbols[i + 1] == b) {
                    merged.push_back(a + b);
                    i += 2;
                } else {
                    merged.push_back(symbols[i++]);
                }
            }
            symbols = std::move(merged);
        }
    }

    std::unordered_map<std::string, int64_t> vocab;
    auto add = [&](const std::string &t) { vocab.emplace(t, int64_t(vocab.size())); };
    for (const auto &s : ClipTokenizer::byteSymbols())
        add(s);
    for (const auto &s : ClipTokenizer::byteSymbols())
        add(s + "</w>");
    for (const auto &[a, b] : merges)
        add(a + b); // a merge result already present (possible in principle) keeps its first id
    add(ClipTokenizer::kStartToken);
    add(ClipTokenizer::kEndToken);
    return ClipTokenizer(std::move(vocab), std::move(merges), o.contextLength);
}

} // namespace vitscope::train

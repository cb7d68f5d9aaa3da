#pragma once
// A byte-level BPE trainer of the project's own, producing a vocabulary in the layout of
// OpenAI's CLIP tokenizer: the 256 byte symbols, the same with "</w>", one token per
// learned merge, then <|startoftext|> and <|endoftext|> (the largest id). Because every
// byte and byte+"</w>" is in it, any text tokenizes, typed words the corpus never had
// included. Words are the pieces of ClipTokenizer's pre-tokenization of cleaned text.
// Each round merges the most frequent adjacent pair (ties: the smaller pair in byte
// order) in every word, until `merges` rounds or no pair occurs `minFrequency` times.

#include <cstdint>
#include <string>
#include <vector>

#include "models/tokenizer.h"

namespace vitscope::train {

struct BpeOptions {
    int64_t merges = 1000;
    int64_t minFrequency = 2;
    int64_t contextLength = 77;
};

ClipTokenizer trainBpe(const std::vector<std::string> &corpus, const BpeOptions &options = {});

} // namespace vitscope::train

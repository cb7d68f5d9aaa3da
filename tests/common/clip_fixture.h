#pragma once
// A small CLIP vocabulary built the way OpenAI built theirs (byte symbols, the same with
// "</w>", one token per merge, then the two special tokens), and a tiny CLIP model
// folder around it, for tests that must not depend on downloaded files.
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "models/clip.h"
#include "models/checkpoints/hf_folder.h"
#include "models/tokenizer.h"

namespace vitscope::test {

inline ClipTokenizer smallTokenizer(const std::vector<std::pair<std::string, std::string>> &merges,
                                    int64_t contextLength = 77)
{
    std::unordered_map<std::string, int64_t> vocab;
    auto add = [&](const std::string &t) { vocab.emplace(t, int64_t(vocab.size())); };
    for (const auto &s : ClipTokenizer::byteSymbols())
        add(s);
    for (const auto &s : ClipTokenizer::byteSymbols())
        add(s + "</w>");
    for (const auto &[a, b] : merges)
        add(a + b);
    add("<|startoftext|>");
    add("<|endoftext|>");
    return ClipTokenizer(vocab, merges, contextLength);
}

// Merges that make the words of "a photo of a {}" prompts single tokens.
inline std::vector<std::pair<std::string, std::string>> promptMerges()
{
    return {{"o", "f</w>"}, {"p", "h"}, {"o", "t"}, {"ph", "ot"}, {"phot", "o</w>"}, {"b", "o"},
            {"bo", "o"},    {"boo", "t</w>"}, {"c", "a"}, {"ca", "t</w>"}};
}

// A tiny CLIP (2 x 16-wide blocks per tower, 16 x 16 RGB images in 8 x 8 patches) whose
// eos_token_id is the vocabulary's <|endoftext|>.
inline ClipConfig tinyClipConfig(const ClipTokenizer &tok, int64_t channels = 3)
{
    ClipConfig c;
    c.vision.imageSize = 16, c.vision.patchSize = 8, c.vision.numChannels = channels;
    c.vision.hiddenSize = 16, c.vision.intermediateSize = 32, c.vision.numHiddenLayers = 2;
    c.vision.numAttentionHeads = 2;
    c.text.hiddenSize = 16, c.text.intermediateSize = 32, c.text.numHiddenLayers = 2, c.text.numAttentionHeads = 2;
    c.text.vocabSize = tok.vocabSize(), c.text.maxPositionEmbeddings = tok.contextLength();
    c.text.eosTokenId = tok.endId(), c.text.bosTokenId = tok.startId(), c.text.padTokenId = tok.endId();
    c.projectionDim = 8;
    return c;
}

// That tiny CLIP in eval mode, its weights drawn after manual_seed(seed), with its
// tokenizer and `batch` random images of its size.
struct TinyClip {
    std::shared_ptr<const ClipTokenizer> tok;
    Clip model{nullptr};
    torch::Tensor pixels;
};
inline TinyClip tinyClip(uint64_t seed, int64_t batch)
{
    TinyClip t;
    t.tok = std::make_shared<const ClipTokenizer>(smallTokenizer(promptMerges()));
    torch::manual_seed(seed);
    t.model = Clip(tinyClipConfig(*t.tok));
    t.model->eval();
    const auto &v = t.model->config.vision;
    t.pixels = torch::randn({batch, v.numChannels, v.imageSize, v.imageSize});
    return t;
}

} // namespace vitscope::test

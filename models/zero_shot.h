#pragma once
// Zero-shot classification with CLIP (REFERENCE.md, CLIP): for each class, each template
// filled with the class name is embedded and L2-normalized; the class embedding is the
// normalized mean of those (prompt ensembling) or, in single-template mode, the first
// template's embedding alone. logits = scale * normalize(image) . class, softmax.
// Prompt embeddings are cached by (model key, text): typing one more class name encodes
// only that class's prompts, and each prompt runs on its true length.

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <torch/torch.h>

#include "models/clip.h"
#include "models/tokenizer.h"

namespace vitscope {

// Templates, one per line, each holding "{}" where the class name goes; blank lines and
// lines starting with '#' are skipped. FileError naming the file and line otherwise.
std::vector<std::string> readTemplateFile(const std::string &path);
// Every "{}" replaced by the class name.
std::string fillTemplate(const std::string &templ, const std::string &className);
// Class names from what a user types: one per line, or comma-separated; trimmed, empty
// entries and repeats dropped (first kept).
std::vector<std::string> parseClassNames(const std::string &text);

// Thread-safe (model key, text) -> projected text feature (CPU float32, before
// normalization). Bounded: cleared when full.
class TextEmbeddingCache {
public:
    explicit TextEmbeddingCache(std::size_t capacity = 200000) : m_capacity(capacity) {}
    std::optional<torch::Tensor> find(const std::string &modelKey, const std::string &text) const;
    void insert(const std::string &modelKey, const std::string &text, const torch::Tensor &feature);
    std::size_t size() const;
    void clear();

private:
    std::size_t m_capacity;
    mutable std::mutex m_mutex;
    std::unordered_map<std::string, torch::Tensor> m_map; // key: modelKey + '\0' + text
};

struct ClassScore {
    int64_t index = 0;
    float probability = 0;
};

class ZeroShotClassifier {
public:
    // modelKey identifies the weights (e.g. the folder path plus a load counter): cached
    // embeddings are never shared between different weights.
    ZeroShotClassifier(Clip model, std::shared_ptr<const ClipTokenizer> tokenizer, std::string modelKey,
                       std::shared_ptr<TextEmbeddingCache> cache = std::make_shared<TextEmbeddingCache>());

    // (N, P) projected features before normalization; only uncached texts are encoded.
    torch::Tensor textFeatures(const std::vector<std::string> &texts);
    // (K, P), rows L2-normalized. ensemble false: templates[0] only.
    torch::Tensor classEmbeddings(const std::vector<std::string> &classNames, const std::vector<std::string> &templates,
                                  bool ensemble = true);
    // pixels (B, C, S, S) preprocessed -> (B, P) projected features before normalization.
    torch::Tensor imageFeatures(const torch::Tensor &pixels);
    // (B, K) softmax(scale * normalize(imageFeatures) . classEmbeddings^T).
    torch::Tensor probabilities(const torch::Tensor &imageFeatures, const torch::Tensor &classEmbeddings);

    // Prompts run through the text tower so far (not counting cache hits).
    int64_t promptsEncoded() const { return m_promptsEncoded; }
    Clip &model() { return m_model; }
    const ClipTokenizer &tokenizer() const { return *m_tokenizer; }

private:
    Clip m_model;
    std::shared_ptr<const ClipTokenizer> m_tokenizer;
    std::string m_key;
    std::shared_ptr<TextEmbeddingCache> m_cache;
    int64_t m_promptsEncoded = 0;
};

// The k most probable classes of one row of probabilities, highest first (ties: lower
// index first).
std::vector<ClassScore> topK(const torch::Tensor &probabilities, int64_t k);

} // namespace vitscope

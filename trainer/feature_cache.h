#pragma once
// Extracted features kept on disk, so that a second linear probe, kNN or k-shot run on
// the same model and data starts in seconds instead of encoding the whole split again.
//
// An entry is keyed by what determines the features: the model's content (a hash of the
// bytes of every file in its folder, so a retrained model in the same folder is a new
// entry), the data (its description plus a fingerprint of its files: names, sizes,
// modification times), the split, the sample limit, the pooling and the evaluation
// transform. Entries live in $VITSCOPE_CACHE_DIR/features or ~/.cache/vitscope/features
// as KEY.pt (the tensors, torch::save) and KEY.json (what they are, for people). A
// damaged entry is reported and extracted again; the cache never makes a run fail.
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "trainer/evaluation.h"
#include "trainer/data/transforms.h"

namespace vitscope::train {

// 64-bit hash of the bytes of every regular file under `path` (a file or a folder, its
// files in name order, names included), as 16 hex digits. Throws FileError when unreadable.
std::string contentHash(const std::string &path);
// Cheaper: names, sizes and modification times only (a dataset folder of many images).
std::string metadataFingerprint(const std::string &path);

struct FeatureRequest {
    std::string model;       // content hash of the model folder (contentHash)
    std::string data;        // the data source's description
    std::string dataPrint;   // metadataFingerprint of its files, when it has any
    std::string split;       // "train", "test"
    int64_t limit = 0;       // 0: the whole split
    std::string pool;        // "cls", "mean"
    data::ImageTransform transform;
    nlohmann::json describe() const;
    std::string key() const; // 16 hex digits of the description's hash
};

class FeatureCache {
public:
    // `folder` empty: the default ($VITSCOPE_CACHE_DIR/features, ~/.cache/vitscope/features).
    explicit FeatureCache(std::string folder = {});
    const std::string &folder() const { return m_folder; }

    // The stored features for the request, or nothing (absent or damaged: a warning names
    // the file).
    std::optional<Features> load(const FeatureRequest &request) const;
    // Writes atomically (a temporary file renamed); a failure to write is a warning only.
    void store(const FeatureRequest &request, const Features &features) const;

private:
    std::string m_folder;
};

} // namespace vitscope::train

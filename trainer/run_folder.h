#pragma once
// Run folders: what every training run writes, from the CLI or the app, so that a run can
// be plotted live, resumed after a crash, and its model used anywhere.
//   config.json      every option, the seed, device, LibTorch and vitscope versions
//   metrics.jsonl    one JSON object per line: {"type": "step", ...}, {"type": "epoch", ...},
//                    {"type": "end" | "stopped" | "error", ...}; a reader following the file
//                    should ignore a last line without its newline (being written)
//   checkpoints/checkpoint-STEP.safetensors
//                    model, optimizer and loop state (tensors + JSON metadata), written to a
//                    temporary file and renamed, the last N kept
//   model/           the final model in Hugging Face layout
// A kill -9 at any moment leaves a folder that resumes: the newest complete checkpoint is
// used and metrics.jsonl is cut back to what had been written when it was saved.

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "models/checkpoints/safetensors.h"

namespace vitscope::train {

struct Checkpoint {
    std::string path;
    int64_t step = 0;
    nlohmann::json state; // loop state: step, epoch, batch, optimizer steps, metrics_bytes, ...
    TensorMap tensors;
};

class RunFolder {
public:
    // A new run in `dir` (created; FileError if it already holds a run).
    static RunFolder create(const std::string &dir, const nlohmann::json &config);
    // An existing run (FileError naming config.json when there is none).
    static RunFolder open(const std::string &dir);
    // The run as ranks other than 0 of a data-parallel run know it: its path and config,
    // nothing read or written (rank 0 alone writes the folder; it may not even be visible).
    static RunFolder follower(const std::string &dir, const nlohmann::json &config);

    const std::string &dir() const { return m_dir; }
    const nlohmann::json &config() const { return m_config; }
    std::string modelDir() const;
    std::string metricsPath() const;

    void appendMetrics(const nlohmann::json &record);
    // Atomic; records metrics.jsonl's size in the state; keeps the newest `keep`.
    std::string saveCheckpoint(int64_t step, const TensorMap &tensors, nlohmann::json state, int keep);
    // The newest checkpoint that reads back whole (older ones are tried when the newest is
    // damaged), or nothing.
    std::optional<Checkpoint> latestCheckpoint() const;
    // Cuts metrics.jsonl back to `bytes` (resuming), or empties it (restarting).
    void truncateMetrics(uint64_t bytes);

private:
    std::string m_dir;
    nlohmann::json m_config;
};

} // namespace vitscope::train

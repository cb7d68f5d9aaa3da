#pragma once
// Batches assembled on background threads with a bounded queue, deterministic under a
// seed: the order of an epoch is a permutation seeded by (seed, epoch) and each sample's
// augmentation by (seed, epoch, position in that order), so the batches are the same
// whatever the thread timing or the number of ranks sharing the epoch, and an epoch can be
// restarted at any batch (resuming a run).

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "trainer/data/sources.h"

namespace vitscope::data {

struct Batch {
    torch::Tensor images;              // (B, C, S, S) float32
    torch::Tensor labels;              // (B) int64 (-1 where the source has no classes)
    std::vector<int64_t> indices;      // source indices
    std::vector<int64_t> positions;    // places in the epoch's global order (the seeds of each sample's random choices)
    std::vector<std::string> captions; // empty strings where the source has none
    int64_t epoch = 0;
    int64_t index = 0; // batch number within the epoch
};

struct LoaderOptions {
    int64_t batchSize = 64;
    uint64_t seed = 0;
    bool shuffle = true;
    bool dropLast = true; // training: every batch full
    int workers = 0;      // 0: auto, one per four cores (at least one: measured best on 2 cores)
    int capacity = 4;     // batches made ahead at most
    bool pinMemory = false; // images in page-locked memory (CUDA training: asynchronous copies)
    // Data-parallel training, as PyTorch's DistributedSampler: the epoch's shuffled order is
    // the same on every rank and rank r takes its places r, r + W, r + 2W, ...; batchSize is
    // then the per-rank batch, and an epoch has floor(N / (batchSize * W)) batches on every
    // rank, so batch k of all ranks together is batch k of one process with batchSize * W.
    int rank = 0;
    int worldSize = 1;
};

class BatchLoader {
public:
    // makeSample(index, rng): the (C, S, S) tensor of one sample.
    using MakeSample = std::function<torch::Tensor(int64_t index, std::mt19937_64 &rng)>;

    BatchLoader(std::shared_ptr<const SampleSource> source, MakeSample makeSample, LoaderOptions options);
    ~BatchLoader();
    BatchLoader(const BatchLoader &) = delete;
    BatchLoader &operator=(const BatchLoader &) = delete;

    int64_t batchesPerEpoch() const;
    int64_t batchSize() const { return m_opt.batchSize; }
    // Starts making the batches of `epoch` from batch `first` (stops any earlier epoch).
    void start(int64_t epoch, int64_t first = 0);
    // The next batch in order, or nothing at the end of the epoch. Rethrows a worker's
    // error (e.g. an image file that became unreadable) here.
    std::optional<Batch> next();
    void stop();

    // The order of an epoch over the whole source (for tests and evaluation).
    std::vector<int64_t> epochOrder(int64_t epoch) const;
    // The global positions this rank reads in an epoch, batch after batch.
    std::vector<int64_t> shardPositions() const;

private:
    void work(int worker);
    Batch make(int64_t batchIndex) const;

    std::shared_ptr<const SampleSource> m_source;
    MakeSample m_makeSample;
    LoaderOptions m_opt;
    std::vector<int64_t> m_order;
    int64_t m_epoch = 0, m_nextOut = 0, m_end = 0;
    std::mutex m_mutex;
    std::condition_variable m_cv;
    std::map<int64_t, Batch> m_ready;
    std::map<int64_t, std::string> m_errors;
    int64_t m_nextToMake = 0;
    bool m_stopping = false;
    std::vector<std::thread> m_threads;
};

} // namespace vitscope::data

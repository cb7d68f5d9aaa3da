#include "trainer/data/loader.h"

#include <algorithm>
#include <numeric>

#include "models/error.h"
#include "trainer/data/transforms.h"

namespace vitscope::data {

BatchLoader::BatchLoader(std::shared_ptr<const SampleSource> source, MakeSample makeSample, LoaderOptions options)
    : m_source(std::move(source)), m_makeSample(std::move(makeSample)), m_opt(options)
{
    if (m_opt.batchSize <= 0)
        throw Error("batch size must be positive");
    if (m_opt.worldSize < 1 || m_opt.rank < 0 || m_opt.rank >= m_opt.worldSize)
        throw Error("loader rank " + std::to_string(m_opt.rank) + " outside a world of " + std::to_string(m_opt.worldSize));
    if (m_opt.worldSize > 1 && !m_opt.dropLast)
        throw Error("a loader shared by several ranks drops the last partial batch");
    if (m_opt.dropLast && m_source->size() < m_opt.batchSize * m_opt.worldSize)
        throw Error(m_source->describe() + ": " + std::to_string(m_source->size()) +
                    " examples are fewer than one batch of " + std::to_string(m_opt.batchSize * m_opt.worldSize));
    if (m_opt.workers <= 0) // one loader thread per four cores: on 2 cores a second one slows training (docs/performance.md)
        m_opt.workers = std::max(1, int(std::thread::hardware_concurrency() / 4));
    m_opt.capacity = std::max(1, m_opt.capacity);
}

BatchLoader::~BatchLoader()
{
    stop();
}

int64_t BatchLoader::batchesPerEpoch() const
{
    const int64_t n = m_source->size();
    return m_opt.dropLast ? n / (m_opt.batchSize * m_opt.worldSize) : (n + m_opt.batchSize - 1) / m_opt.batchSize;
}

std::vector<int64_t> BatchLoader::epochOrder(int64_t epoch) const
{
    std::vector<int64_t> order(std::size_t(m_source->size()));
    std::iota(order.begin(), order.end(), 0);
    if (m_opt.shuffle) {
        std::mt19937_64 rng(mixSeed({m_opt.seed, uint64_t(epoch), 0x5eedull}));
        std::shuffle(order.begin(), order.end(), rng);
    }
    return order;
}

std::vector<int64_t> BatchLoader::shardPositions() const
{
    std::vector<int64_t> out;
    const int64_t count = m_opt.dropLast ? batchesPerEpoch() * m_opt.batchSize : m_source->size();
    for (int64_t p = 0; p < count; ++p)
        out.push_back(m_opt.rank + p * m_opt.worldSize);
    return out;
}

void BatchLoader::start(int64_t epoch, int64_t first)
{
    stop();
    m_order = epochOrder(epoch);
    m_epoch = epoch;
    m_end = batchesPerEpoch();
    m_nextOut = m_nextToMake = std::clamp<int64_t>(first, 0, m_end);
    m_ready.clear();
    m_errors.clear();
    m_stopping = false;
    for (int w = 0; w < m_opt.workers; ++w)
        m_threads.emplace_back([this, w] { work(w); });
}

void BatchLoader::stop()
{
    {
        std::lock_guard<std::mutex> lock(m_mutex);
        m_stopping = true;
    }
    m_cv.notify_all();
    for (auto &t : m_threads)
        t.join();
    m_threads.clear();
}

Batch BatchLoader::make(int64_t b) const
{
    const int64_t begin = b * m_opt.batchSize;
    const int64_t end =
        std::min<int64_t>(begin + m_opt.batchSize, (int64_t(m_order.size()) - m_opt.rank + m_opt.worldSize - 1) / m_opt.worldSize);
    Batch batch;
    batch.epoch = m_epoch;
    batch.index = b;
    std::vector<torch::Tensor> images;
    std::vector<int64_t> labels;
    for (int64_t local = begin; local < end; ++local) {
        const int64_t pos = m_opt.rank + local * m_opt.worldSize;
        const int64_t idx = m_order[std::size_t(pos)];
        std::mt19937_64 rng(mixSeed({m_opt.seed, uint64_t(m_epoch), uint64_t(pos), 0xa11ull}));
        images.push_back(m_makeSample(idx, rng));
        labels.push_back(m_source->label(idx));
        batch.indices.push_back(idx);
        batch.positions.push_back(pos);
        batch.captions.push_back(m_source->caption(idx));
    }
    batch.images = torch::stack(images);
    if (m_opt.pinMemory) // on the worker thread, so the copy to the GPU can be asynchronous
        batch.images = batch.images.pin_memory();
    batch.labels = torch::tensor(labels, torch::kLong);
    return batch;
}

void BatchLoader::work(int)
{
    // Torch ops on these small tensors run on this thread only.
    for (;;) {
        int64_t b;
        {
            std::unique_lock<std::mutex> lock(m_mutex);
            m_cv.wait(lock, [&] {
                return m_stopping || m_nextToMake >= m_end || m_nextToMake - m_nextOut < m_opt.capacity;
            });
            if (m_stopping || m_nextToMake >= m_end)
                return;
            b = m_nextToMake++;
        }
        Batch batch;
        std::string error;
        try {
            batch = make(b);
        } catch (const std::exception &e) {
            error = e.what();
        }
        {
            std::lock_guard<std::mutex> lock(m_mutex);
            if (error.empty())
                m_ready.emplace(b, std::move(batch));
            else
                m_errors.emplace(b, error);
        }
        m_cv.notify_all();
    }
}

std::optional<Batch> BatchLoader::next()
{
    std::unique_lock<std::mutex> lock(m_mutex);
    if (m_nextOut >= m_end)
        return std::nullopt;
    m_cv.wait(lock, [&] { return m_ready.count(m_nextOut) || m_errors.count(m_nextOut); });
    if (auto e = m_errors.find(m_nextOut); e != m_errors.end())
        throw Error(e->second);
    Batch batch = std::move(m_ready.at(m_nextOut));
    m_ready.erase(m_nextOut);
    ++m_nextOut;
    lock.unlock();
    m_cv.notify_all();
    return batch;
}

} // namespace vitscope::data

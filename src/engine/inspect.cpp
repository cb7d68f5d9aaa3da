// The sessions' inspection answers (attention, patch-text similarity, features for the
// embedding map) and the 2-D PCA, through models/inspect.h.

#include <chrono>
#include <cmath>
#include <limits>

#include "models/error.h"
#include "models/image_preprocess.h"
#include "models/inspect.h"
#include "src/engine/session_impl.h"
#include "trainer/data/images.h"

namespace vitscope::engine {

namespace {

std::vector<float> flat(const torch::Tensor &t)
{
    auto c = t.to(torch::kCPU, torch::kFloat32).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

AttentionResult toResult(const EncoderAttention &a, const torch::Tensor &x, const ImageProcessorConfig &proc)
{
    AttentionResult r;
    r.layers = int(a.attention.size(0)), r.heads = int(a.attention.size(1)), r.tokens = int(a.attention.size(2));
    r.grid = int(a.grid);
    r.attention = flat(a.attention);
    r.rollout = flat(attentionRollouts(a.attention));
    r.removed.assign(size_t(r.grid * r.grid), 1);
    for (int64_t i = 0; i < a.patches.size(0); ++i) {
        r.patches.push_back(int(a.patches[i].item<int64_t>()));
        r.removed[size_t(r.patches.back())] = 0;
    }
    r.input = data::normalizedToRgb(x[0], proc.imageMean, proc.imageStd);
    return r;
}

double msSince(std::chrono::steady_clock::time_point t0)
{
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

} // namespace

float AttentionResult::at(int layer, int head, int from, int to) const
{
    return attention[((size_t(layer) * size_t(heads) + size_t(head)) * size_t(tokens) + size_t(from)) * size_t(tokens) +
                     size_t(to)];
}

int AttentionResult::tokenOfPatch(int patch) const
{
    for (size_t i = 0; i < patches.size(); ++i)
        if (patches[i] == patch)
            return int(i) + 1;
    return -1;
}

std::vector<float> AttentionResult::map(int layer, int head, int from, bool useRollout) const
{
    std::vector<float> out(size_t(grid * grid), std::numeric_limits<float>::quiet_NaN());
    if (layer < 0 || layer >= layers || from < 0 || from >= tokens)
        return out;
    for (int t = 1; t < tokens; ++t) {
        float v = 0;
        if (useRollout) {
            v = rollout[(size_t(layer) * size_t(tokens) + size_t(from)) * size_t(tokens) + size_t(t)];
        } else if (head >= 0) {
            v = at(layer, head, from, t);
        } else {
            for (int h = 0; h < heads; ++h)
                v += at(layer, h, from, t);
            v /= float(heads);
        }
        out[size_t(patches[size_t(t - 1)])] = v;
    }
    return out;
}

Projection2d pca2d(const std::vector<std::vector<float>> &rows)
{
    if (rows.size() < 2)
        throw Error("a map needs at least two points");
    const size_t d = rows[0].size();
    auto x = torch::empty({int64_t(rows.size()), int64_t(d)}, torch::kFloat32);
    for (size_t i = 0; i < rows.size(); ++i) {
        if (rows[i].size() != d)
            throw Error("the points of a map must have the same number of values");
        std::copy(rows[i].begin(), rows[i].end(), x[int64_t(i)].data_ptr<float>());
    }
    const Pca p = fitPca(x, std::min<int64_t>(2, std::min<int64_t>(x.size(0), x.size(1))));
    Projection2d out;
    for (int64_t i = 0; i < x.size(0); ++i)
        out.points.push_back({p.coords[i][0].item<float>(), p.coords.size(1) > 1 ? p.coords[i][1].item<float>() : 0.f});
    for (int64_t k = 0; k < p.variance.size(0); ++k)
        out.explained[k] = p.totalVariance > 0 ? p.variance[k].item<double>() / p.totalVariance : 0.0;
    return out;
}

AttentionResult MaeSession::attention(const RgbImage &image, const MaskRequest &request)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    const auto t0 = std::chrono::steady_clock::now();
    c10::InferenceMode inference;
    auto &model = m_impl->loaded.model;
    const MaeConfig &c = model->config;
    const Masking masking = maskingFor(request, c, m_impl->device);
    const auto x = pixelsFor(image, m_impl->loaded.processor, c.numChannels).unsqueeze(0).to(m_impl->device);
    AttentionResult r = toResult(maeEncoderAttention(model, x, masking), x, m_impl->loaded.processor);
    r.ms = msSince(t0);
    return r;
}

std::vector<std::vector<float>> MaeSession::features(const std::vector<RgbImage> &images, bool meanOfPatches)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    c10::InferenceMode inference;
    if (images.empty())
        return {};
    auto &model = m_impl->loaded.model;
    std::vector<torch::Tensor> pixels;
    for (const auto &im : images)
        pixels.push_back(pixelsFor(im, m_impl->loaded.processor, model->config.numChannels));
    auto tokens = model->encodeAll(torch::stack(pixels).to(m_impl->device)); // (B, 1 + L, D)
    auto f = (meanOfPatches ? tokens.slice(1, 1).mean(1) : tokens.select(1, 0)).to(torch::kCPU, torch::kFloat32).contiguous();
    std::vector<std::vector<float>> out(images.size());
    for (size_t b = 0; b < images.size(); ++b)
        out[b] = flat(f[int64_t(b)]);
    return out;
}

AttentionResult ClipSession::attention(const RgbImage &image)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    const auto t0 = std::chrono::steady_clock::now();
    c10::InferenceMode inference;
    auto &model = m_impl->loaded.model;
    const auto x =
        pixelsFor(image, m_impl->loaded.processor, model->config.vision.numChannels).unsqueeze(0).to(m_impl->device);
    AttentionResult r = toResult(clipImageAttention(model, x), x, m_impl->loaded.processor);
    r.ms = msSince(t0);
    return r;
}

ClipSession::PatchSimilarity ClipSession::patchSimilarity(const RgbImage &image,
                                                          const std::vector<std::vector<float>> &classEmbeddings)
{
    std::lock_guard<std::mutex> lock(m_mutex);
    c10::InferenceMode inference;
    PatchSimilarity out;
    if (classEmbeddings.empty())
        return out;
    auto &model = m_impl->loaded.model;
    const int64_t P = model->config.projectionDim;
    auto text = torch::empty({int64_t(classEmbeddings.size()), P}, torch::kFloat32);
    for (size_t k = 0; k < classEmbeddings.size(); ++k) {
        if (int64_t(classEmbeddings[k].size()) != P)
            throw Error("class embeddings do not match this model's joint space (" + std::to_string(P) + " values)");
        std::copy(classEmbeddings[k].begin(), classEmbeddings[k].end(), text[int64_t(k)].data_ptr<float>());
    }
    const auto x =
        pixelsFor(image, m_impl->loaded.processor, model->config.vision.numChannels).unsqueeze(0).to(m_impl->device);
    const auto sim = clipPatchTextSimilarity(model, x, text); // (K, L)
    for (size_t k = 0; k < classEmbeddings.size(); ++k)
        out.maps.push_back(flat(sim[int64_t(k)]));
    out.grid = int(model->config.vision.gridSize());
    out.input = data::normalizedToRgb(x[0], m_impl->loaded.processor.imageMean, m_impl->loaded.processor.imageStd);
    return out;
}

} // namespace vitscope::engine

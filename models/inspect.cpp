#include "models/inspect.h"

#include <cmath>
#include <limits>

#include "models/error.h"
#include "models/kernels/linear.h"

namespace vitscope {

namespace {

void checkOneImage(const torch::Tensor &image)
{
    if (image.dim() != 4 || image.size(0) != 1)
        throw Error("attention maps are computed for one image (1, C, H, W) at a time");
}

torch::Tensor stackLayers(const std::vector<torch::Tensor> &layers)
{
    std::vector<torch::Tensor> one;
    one.reserve(layers.size());
    for (const auto &p : layers)
        one.push_back(p.select(0, 0).to(torch::kCPU, torch::kFloat32)); // (H, T, T)
    return torch::stack(one); // (layers, H, T, T)
}

} // namespace

EncoderAttention maeEncoderAttention(Mae &model, const torch::Tensor &image, const Masking &masking)
{
    checkOneImage(image);
    if (masking.batch() != 1)
        throw Error("attention maps need the masking of one image");
    torch::NoGradGuard noGrad;
    const auto &c = model->config;
    // The same mask with the kept patches in raster order.
    const Masking raster = maskingFromMask(masking.mask);
    std::vector<torch::Tensor> layers;
    const auto hidden = model->forwardEncoder(image, raster, &layers);
    EncoderAttention out;
    out.attention = stackLayers(layers);
    out.grid = c.gridSize();
    out.patches = model->maskTokensInEncoder ? torch::arange(c.patchCount(), torch::kLong)
                                             : raster.idsKeep.select(0, 0).to(torch::kCPU).clone();
    out.hidden = hidden.select(0, 0).to(torch::kCPU, torch::kFloat32);
    return out;
}

EncoderAttention clipImageAttention(Clip &model, const torch::Tensor &pixels)
{
    checkOneImage(pixels);
    model->checkPixels(pixels);
    torch::NoGradGuard noGrad;
    std::vector<torch::Tensor> layers;
    const auto hidden = model->visionModel->forwardTokens(pixels, &layers);
    EncoderAttention out;
    out.attention = stackLayers(layers);
    out.grid = model->config.vision.gridSize();
    out.patches = torch::arange(model->config.vision.patchCount(), torch::kLong);
    out.hidden = hidden.select(0, 0).to(torch::kCPU, torch::kFloat32);
    return out;
}

torch::Tensor attentionRollouts(const torch::Tensor &attention)
{
    TORCH_CHECK(attention.dim() == 4 && attention.size(2) == attention.size(3),
                "attention must be (layers, heads, T, T), got ", attention.sizes());
    const int64_t layers = attention.size(0), T = attention.size(2);
    const auto eye = torch::eye(T, attention.options().dtype(torch::kFloat64));
    auto rollout = eye;
    std::vector<torch::Tensor> after;
    for (int64_t l = 0; l < layers; ++l) {
        auto a = 0.5 * attention[l].to(torch::kFloat64).mean(0) + 0.5 * eye; // (T, T)
        a = a / a.sum(-1, true);
        rollout = torch::matmul(a, rollout);
        after.push_back(rollout);
    }
    return torch::stack(after).to(attention.scalar_type());
}

torch::Tensor attentionRollout(const torch::Tensor &attention, int64_t upTo)
{
    TORCH_CHECK(attention.dim() == 4 && attention.size(0) > 0, "attention must be (layers, heads, T, T), got ",
                attention.sizes());
    const int64_t last = upTo < 0 ? attention.size(0) - 1 : std::min(upTo, attention.size(0) - 1);
    return attentionRollouts(attention.slice(0, 0, last + 1))[last];
}

torch::Tensor tokensToGrid(const EncoderAttention &a, const torch::Tensor &row)
{
    TORCH_CHECK(row.dim() == 1 && row.size(0) == a.patches.size(0) + 1, "a row over ", a.patches.size(0) + 1,
                " tokens expected, got ", row.sizes());
    auto grid = torch::full({a.grid * a.grid}, std::numeric_limits<float>::quiet_NaN(), torch::kFloat32);
    grid.index_put_({a.patches}, row.slice(0, 1).to(torch::kCPU, torch::kFloat32));
    return grid;
}

torch::Tensor clipPatchTextSimilarity(Clip &model, const torch::Tensor &pixels, const torch::Tensor &textEmbeddings)
{
    checkOneImage(pixels);
    model->checkPixels(pixels);
    TORCH_CHECK(textEmbeddings.dim() == 2 && textEmbeddings.size(1) == model->config.projectionDim,
                "text embeddings must be (K, ", model->config.projectionDim, "), got ", textEmbeddings.sizes());
    torch::NoGradGuard noGrad;
    auto tokens = model->visionModel->forwardTokens(pixels).select(0, 0).slice(0, 1); // (L, D)
    auto patches = linear(model->visionModel->postLayernorm(tokens), model->visualProjection->weight,
                          model->visualProjection->bias); // (L, P)
    namespace F = torch::nn::functional;
    auto p = F::normalize(patches.to(torch::kFloat32), F::NormalizeFuncOptions().dim(1));
    auto t = F::normalize(textEmbeddings.to(p.device(), torch::kFloat32), F::NormalizeFuncOptions().dim(1));
    return torch::matmul(t, p.t()).cpu(); // (K, L)
}

torch::Tensor Pca::project(const torch::Tensor &x) const
{
    return torch::matmul(x.to(torch::kFloat64) - mean, components.t()).to(torch::kFloat32);
}

Pca fitPca(const torch::Tensor &xIn, int64_t k)
{
    if (xIn.dim() != 2 || xIn.size(0) < 2)
        throw Error("PCA needs at least two points");
    if (k < 1 || k > std::min(xIn.size(0), xIn.size(1)))
        throw Error("PCA: cannot keep " + std::to_string(k) + " components of " + std::to_string(xIn.size(0)) +
                    " points in " + std::to_string(xIn.size(1)) + " dimensions");
    torch::NoGradGuard noGrad;
    const auto x = xIn.to(torch::kCPU, torch::kFloat64);
    Pca p;
    p.mean = x.mean(0);
    const auto centred = x - p.mean;
    // centred = U S V^T: the rows of V^T are the principal directions, S^2 / (N - 1) the variances.
    auto [u, s, vh] = torch::linalg::svd(centred, /*full_matrices=*/false, c10::nullopt);
    auto comps = vh.slice(0, 0, k).clone(); // (k, D)
    // A sign convention, so that the same data always gives the same picture.
    auto pivot = comps.abs().argmax(1);
    auto signs = torch::sign(comps.gather(1, pivot.unsqueeze(1))); // (k, 1)
    signs.masked_fill_(signs.eq(0), 1.0);
    p.components = comps * signs;
    const double denom = double(x.size(0) - 1);
    p.variance = (s.slice(0, 0, k).pow(2) / denom).to(torch::kFloat32);
    p.totalVariance = s.pow(2).sum().item<double>() / denom;
    p.coords = p.project(x);
    return p;
}

} // namespace vitscope

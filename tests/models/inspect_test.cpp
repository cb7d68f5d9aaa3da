// Attention weights, rollout, CLIP patch-text similarity and PCA (models/inspect.h), each
// checked against a computation written out here by definition.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/clip_fixture.h"
#include "models/error.h"
#include "models/inspect.h"

using namespace vitscope;

namespace {

using Matrix = std::vector<std::vector<double>>;

Matrix toMatrix(const torch::Tensor &t)
{
    auto a = t.to(torch::kFloat64).contiguous();
    Matrix m(a.size(0), std::vector<double>(a.size(1)));
    for (int64_t i = 0; i < a.size(0); ++i)
        for (int64_t j = 0; j < a.size(1); ++j)
            m[i][j] = a[i][j].item<double>();
    return m;
}

// x W^T + b, by loops.
Matrix affine(const Matrix &x, const torch::Tensor &w, const torch::Tensor &b)
{
    const Matrix W = toMatrix(w);
    std::vector<double> bias(W.size(), 0.0);
    if (b.defined())
        for (size_t o = 0; o < W.size(); ++o)
            bias[o] = b[int64_t(o)].item<double>();
    Matrix y(x.size(), std::vector<double>(W.size()));
    for (size_t n = 0; n < x.size(); ++n)
        for (size_t o = 0; o < W.size(); ++o) {
            double s = bias[o];
            for (size_t i = 0; i < x[n].size(); ++i)
                s += x[n][i] * W[o][i];
            y[n][o] = s;
        }
    return y;
}

Matrix layerNorm(const Matrix &x, const torch::Tensor &gamma, const torch::Tensor &beta, double eps)
{
    Matrix y = x;
    for (size_t n = 0; n < x.size(); ++n) {
        double mean = 0, var = 0;
        for (double v : x[n])
            mean += v;
        mean /= double(x[n].size());
        for (double v : x[n])
            var += (v - mean) * (v - mean);
        var /= double(x[n].size());
        for (size_t i = 0; i < x[n].size(); ++i)
            y[n][i] = (x[n][i] - mean) / std::sqrt(var + eps) * gamma[int64_t(i)].item<double>() +
                      beta[int64_t(i)].item<double>();
    }
    return y;
}

MaeConfig tinyMae()
{
    MaeConfig c = MaeConfig::preset("fmnist"); // 32 x 32, patch 4: an 8 x 8 grid
    c.imageSize = 8, c.patchSize = 4;          // a 2 x 2 grid: four patches
    c.hiddenSize = 8, c.numHiddenLayers = 2, c.numAttentionHeads = 2, c.intermediateSize = 16;
    c.decoderHiddenSize = 8, c.decoderNumHiddenLayers = 1, c.decoderNumAttentionHeads = 2;
    c.decoderIntermediateSize = 16;
    return c;
}

} // namespace

TEST(Inspect, MaeFirstBlockAttentionMatchesAHandComputation)
{
    torch::manual_seed(3);
    Mae mae(tinyMae());
    mae->eval();
    const auto &c = mae->config;
    auto image = torch::randn({1, 1, 8, 8});
    // Patches 2 and 0 kept (given in that order), 1 and 3 removed.
    Masking masking = maskingFromMask(torch::tensor({{0.f, 1.f, 0.f, 1.f}}));
    auto a = maeEncoderAttention(mae, image, masking);
    ASSERT_EQ(a.attention.sizes(), (std::vector<int64_t>{2, 2, 3, 3}));
    EXPECT_TRUE(torch::equal(a.patches, torch::tensor({0, 2}, torch::kLong)));
    EXPECT_EQ(a.grid, 2);

    // The block's input by definition: class token + its (zero) position, then each kept
    // patch's 4 x 4 pixels through the patch convolution, plus its position.
    const int64_t D = c.hiddenSize, p = c.patchSize;
    const auto convW = mae->patchEmbed->weight; // (D, 1, p, p)
    const auto convB = mae->patchEmbed->bias;
    Matrix x(3, std::vector<double>(D));
    for (int64_t d = 0; d < D; ++d)
        x[0][d] = mae->clsToken[0][0][d].item<double>() + mae->posEmbed[0][0][d].item<double>();
    const int64_t kept[2] = {0, 2};
    for (int t = 0; t < 2; ++t) {
        const int64_t patch = kept[t], row = patch / 2, col = patch % 2;
        for (int64_t d = 0; d < D; ++d) {
            double s = convB[d].item<double>();
            for (int64_t i = 0; i < p; ++i)
                for (int64_t j = 0; j < p; ++j)
                    s += convW[d][0][i][j].item<double>() * image[0][0][row * p + i][col * p + j].item<double>();
            x[1 + t][d] = s + mae->posEmbed[0][1 + patch][d].item<double>();
        }
    }
    auto *block = mae->blocks[0]->as<TransformerBlockImpl>();
    const Matrix h = layerNorm(x, block->norm1->weight, block->norm1->bias, c.layerNormEps);
    const Matrix q = affine(h, block->q->weight, block->q->bias), k = affine(h, block->k->weight, block->k->bias);
    const int64_t heads = c.numAttentionHeads, hd = D / heads;
    for (int64_t head = 0; head < heads; ++head)
        for (int i = 0; i < 3; ++i) {
            double scores[3], norm = 0, top = -1e300;
            for (int j = 0; j < 3; ++j) {
                double s = 0;
                for (int64_t e = 0; e < hd; ++e)
                    s += q[i][head * hd + e] * k[j][head * hd + e];
                scores[j] = s / std::sqrt(double(hd));
                top = std::max(top, scores[j]);
            }
            for (double &s : scores)
                norm += (s = std::exp(s - top));
            for (int j = 0; j < 3; ++j)
                EXPECT_NEAR(a.attention[0][head][i][j].item<double>(), scores[j] / norm, 1e-5)
                    << "head " << head << " row " << i << " column " << j;
        }
    // Every row of every layer is a distribution.
    EXPECT_TRUE(torch::allclose(a.attention.sum(-1), torch::ones({2, 2, 3}), 1e-5, 1e-5));
    EXPECT_GE(a.attention.min().item<float>(), 0.f);
}

TEST(Inspect, AttentionPathsGiveTheNormalHiddenStates)
{
    torch::manual_seed(4);
    Mae mae(tinyMae());
    mae->eval();
    auto image = torch::randn({1, 1, 8, 8});
    MaskSpec spec;
    spec.ratio = 0.5, spec.seed = 11;
    Masking masking = makeMasking(spec, 1, 2, 2);
    auto a = maeEncoderAttention(mae, image, masking);
    torch::NoGradGuard g;
    auto normal = mae->forwardEncoder(image, masking)[0]; // kept tokens in idsKeep's order
    auto order = masking.idsKeep[0].argsort();            // raster order of those tokens
    auto expected = torch::cat({normal.slice(0, 0, 1), normal.slice(0, 1).index_select(0, order)});
    EXPECT_TRUE(torch::allclose(a.hidden, expected, 1e-5, 1e-5));

    // With nothing removed every patch has a token.
    auto all = maeEncoderAttention(mae, image, maskingFromMask(torch::zeros({1, 4})));
    EXPECT_EQ(all.attention.size(2), 5);
    EXPECT_TRUE(torch::allclose(all.hidden, mae->encodeAll(image)[0], 1e-5, 1e-5));

    auto tok = test::smallTokenizer(test::promptMerges());
    Clip clip(test::tinyClipConfig(tok));
    clip->eval();
    auto pixels = torch::randn({1, 3, 16, 16});
    auto ca = clipImageAttention(clip, pixels);
    ASSERT_EQ(ca.attention.sizes(), (std::vector<int64_t>{2, 2, 5, 5}));
    EXPECT_TRUE(torch::allclose(ca.attention.sum(-1), torch::ones({2, 2, 5}), 1e-5, 1e-5));
    EXPECT_TRUE(torch::allclose(ca.hidden, clip->visionModel->forwardTokens(pixels)[0], 1e-5, 1e-5));
    EXPECT_THROW(clipImageAttention(clip, torch::randn({2, 3, 16, 16})), Error);
}

TEST(Inspect, RolloutIsTheProductOfResidualAugmentedMatrices)
{
    torch::manual_seed(5);
    const int64_t layers = 3, heads = 2, T = 4;
    auto attention = torch::softmax(torch::randn({layers, heads, T, T}) * 2, -1);
    // By definition, by loops: A'_l = (mean_h A_l + I) / 2, rows renormalized; R = A'_3 A'_2 A'_1.
    Matrix r(T, std::vector<double>(T, 0.0));
    for (int64_t i = 0; i < T; ++i)
        r[i][i] = 1;
    for (int64_t l = 0; l < layers; ++l) {
        Matrix aug(T, std::vector<double>(T));
        for (int64_t i = 0; i < T; ++i) {
            double rowSum = 0;
            for (int64_t j = 0; j < T; ++j) {
                double mean = 0;
                for (int64_t h = 0; h < heads; ++h)
                    mean += attention[l][h][i][j].item<double>() / double(heads);
                aug[i][j] = 0.5 * mean + (i == j ? 0.5 : 0.0);
                rowSum += aug[i][j];
            }
            for (int64_t j = 0; j < T; ++j)
                aug[i][j] /= rowSum;
        }
        Matrix next(T, std::vector<double>(T, 0.0));
        for (int64_t i = 0; i < T; ++i)
            for (int64_t j = 0; j < T; ++j)
                for (int64_t m = 0; m < T; ++m)
                    next[i][j] += aug[i][m] * r[m][j];
        r = next;
        auto got = attentionRollout(attention, l);
        for (int64_t i = 0; i < T; ++i)
            for (int64_t j = 0; j < T; ++j)
                EXPECT_NEAR(got[i][j].item<double>(), r[i][j], 1e-6) << "layer " << l;
    }
    EXPECT_TRUE(torch::allclose(attentionRollout(attention).sum(-1), torch::ones({T}), 1e-6, 1e-6));
    // One layer of uniform attention over 4 tokens: (1/4 + I) / 2 exactly.
    auto uniform = torch::full({1, 1, 4, 4}, 0.25f);
    auto one = attentionRollout(uniform);
    EXPECT_NEAR(one[0][0].item<float>(), 0.625f, 1e-7);
    EXPECT_NEAR(one[0][1].item<float>(), 0.125f, 1e-7);
}

TEST(Inspect, TokensToGridLeavesPatchesWithoutTokensEmpty)
{
    EncoderAttention a;
    a.grid = 2;
    a.patches = torch::tensor({1, 3}, torch::kLong);
    auto g = tokensToGrid(a, torch::tensor({0.5f, 0.2f, 0.3f}));
    EXPECT_TRUE(std::isnan(g[0].item<float>()));
    EXPECT_FLOAT_EQ(g[1].item<float>(), 0.2f);
    EXPECT_TRUE(std::isnan(g[2].item<float>()));
    EXPECT_FLOAT_EQ(g[3].item<float>(), 0.3f);
}

TEST(Inspect, PatchTextSimilarityIsTheCosineByHand)
{
    torch::manual_seed(6);
    auto tok = test::smallTokenizer(test::promptMerges());
    Clip clip(test::tinyClipConfig(tok));
    clip->eval();
    auto pixels = torch::randn({1, 3, 16, 16});
    auto text = torch::randn({3, 8});
    auto sim = clipPatchTextSimilarity(clip, pixels, text);
    ASSERT_EQ(sim.sizes(), (std::vector<int64_t>{3, 4}));
    torch::Tensor tokens;
    {
        torch::NoGradGuard g;
        tokens = clip->visionModel->forwardTokens(pixels)[0];
    }
    const auto &vis = clip->visionModel;
    for (int64_t patch = 0; patch < 4; ++patch) {
        Matrix row = toMatrix(tokens.slice(0, 1 + patch, 2 + patch));
        row = layerNorm(row, vis->postLayernorm->weight, vis->postLayernorm->bias, clip->config.vision.layerNormEps);
        const Matrix e = affine(row, clip->visualProjection->weight, torch::Tensor());
        for (int64_t c = 0; c < 3; ++c) {
            double dot = 0, ne = 0, nt = 0;
            for (int64_t i = 0; i < 8; ++i) {
                const double t = text[c][i].item<double>();
                dot += e[0][i] * t, ne += e[0][i] * e[0][i], nt += t * t;
            }
            EXPECT_NEAR(sim[c][patch].item<double>(), dot / std::sqrt(ne * nt), 1e-5) << "class " << c << " patch " << patch;
        }
    }
}

TEST(Inspect, PcaMatchesTheCovarianceEigenvectors)
{
    torch::manual_seed(7);
    // Points stretched along known directions, shifted away from the origin.
    auto x = torch::randn({200, 5}, torch::kFloat64) * torch::tensor({5.0, 2.0, 1.0, 0.5, 0.1}, torch::kFloat64);
    auto rot = std::get<0>(torch::linalg::qr(torch::randn({5, 5}, torch::kFloat64), "reduced"));
    x = torch::matmul(x, rot) + 3.0;
    auto pca = fitPca(x.to(torch::kFloat32), 2);
    ASSERT_EQ(pca.coords.sizes(), (std::vector<int64_t>{200, 2}));

    // A separate route: the eigenvectors of the covariance matrix (N - 1 normalized).
    auto centred = x - x.mean(0);
    auto cov = torch::matmul(centred.t(), centred) / 199.0;
    auto [values, vectors] = torch::linalg::eigh(cov, "L"); // ascending
    double total = 0;
    for (int64_t i = 0; i < 5; ++i)
        total += values[i].item<double>();
    EXPECT_NEAR(pca.totalVariance, total, 1e-3 * total);
    for (int64_t c = 0; c < 2; ++c) {
        auto v = vectors.select(1, 4 - c);           // largest first
        EXPECT_NEAR(pca.variance[c].item<double>(), values[4 - c].item<double>(), 1e-3 * values[4 - c].item<double>());
        auto expected = torch::matmul(centred, v);   // coordinates along it, up to sign
        const double sign = torch::dot(expected, pca.coords.select(1, c).to(torch::kFloat64)).item<double>() > 0 ? 1 : -1;
        EXPECT_LT((pca.coords.select(1, c).to(torch::kFloat64) - sign * expected).abs().max().item<double>(), 1e-3);
        // The sign rule: the largest-magnitude entry of each component is positive.
        auto comp = pca.components[c];
        EXPECT_GT(comp[comp.abs().argmax()].item<double>(), 0);
    }
    EXPECT_THROW(fitPca(torch::randn({1, 4})), Error);
    EXPECT_THROW(fitPca(torch::randn({5, 4}), 6), Error);
}

// Evaluation protocols on synthetic features whose answers are known.
#include <gtest/gtest.h>

#include "trainer/evaluation.h"

namespace vitscope {
namespace {

// Three Gaussian blobs far apart in 5-D: linearly separable (with a margin).
train::Features blobs(int64_t perClass, uint64_t seed, double spread = 0.3)
{
    torch::manual_seed(seed);
    auto centers = torch::tensor({{4.0f, 0.f, 0.f, 1.f, 0.f}, {0.f, 4.0f, 0.f, 1.f, 0.f}, {0.f, 0.f, 4.0f, 1.f, 0.f}});
    std::vector<torch::Tensor> xs, ys;
    for (int64_t c = 0; c < 3; ++c) {
        xs.push_back(centers[c] + spread * torch::randn({perClass, 5}));
        ys.push_back(torch::full({perClass}, c, torch::kLong));
    }
    return {torch::cat(xs), torch::cat(ys)};
}

TEST(Evaluation, LinearProbeRecoversASeparableSet)
{
    const auto train = blobs(100, 1), test = blobs(50, 2);
    const auto r = train::linearProbe(train, test, 3);
    EXPECT_GE(r.accuracy, 0.99);
    EXPECT_EQ(r.validation.size(), 5u);
    // Shuffled labels leave nothing to learn: near chance (1/3).
    auto shuffled = train;
    shuffled.labels = train.labels.index_select(0, torch::randperm(300, torch::kLong));
    auto noisyTest = test;
    noisyTest.labels = test.labels.index_select(0, torch::randperm(150, torch::kLong));
    EXPECT_LT(train::linearProbe(shuffled, noisyTest, 3).accuracy, 0.55);
}

TEST(Evaluation, KnnVotesByWeightedCosineNeighbours)
{
    // Hand-worked: training points on the unit circle; the query at 10 degrees has as its
    // two nearest neighbours 0 deg (class 0) and 30 deg (class 1); with k = 2 the nearer
    // one (weight exp(cos(10deg) / T) > exp(cos(20deg) / T)) wins.
    auto deg = [](double d) { return std::vector<float>{float(std::cos(d * M_PI / 180)), float(std::sin(d * M_PI / 180))}; };
    std::vector<float> flat;
    for (double d : {0.0, 30.0, 90.0, 180.0})
        for (float v : deg(d))
            flat.push_back(v);
    train::Features tr{torch::tensor(flat).view({4, 2}), torch::tensor({0, 1, 1, 1}, torch::kLong)};
    auto q = torch::tensor(deg(10.0)).view({1, 2}) * 5.0; // length does not matter (cosine)
    EXPECT_EQ(train::knnPredict(tr, q, 2, 2, 0.07)[0].item<int64_t>(), 0);
    // With k = 3 the third neighbour (90 deg, class 1) tips it: exp(cos10/T) < exp(cos20/T) + exp(cos80/T)?
    const double T = 0.07;
    const double w0 = std::exp(std::cos(10 * M_PI / 180) / T);
    const double w1 = std::exp(std::cos(20 * M_PI / 180) / T) + std::exp(std::cos(80 * M_PI / 180) / T);
    EXPECT_EQ(train::knnPredict(tr, q, 2, 3, T)[0].item<int64_t>(), w1 > w0 ? 1 : 0);
    const auto train = blobs(60, 3), test = blobs(30, 4);
    EXPECT_GE(train::knnAccuracy(train, test, 3), 0.99);
}

TEST(Evaluation, FewShotCurveRisesWithShots)
{
    const auto train = blobs(40, 5, 1.6), test = blobs(100, 6, 1.6);
    const auto pts = train::fewShotProbes(train, test, 3, {1, 16}, 4);
    ASSERT_EQ(pts.size(), 2u);
    EXPECT_EQ(pts[0].accuracies.size(), 4u);
    EXPECT_GT(pts[1].meanAccuracy, pts[0].meanAccuracy - 0.02);
    EXPECT_GT(pts[1].meanAccuracy, 0.8);
    EXPECT_THROW(train::fewShotProbes(train, test, 3, {41}, 1), std::exception);
}

} // namespace
} // namespace vitscope

#include <gtest/gtest.h>

#include <queue>

#include "models/masking.h"

using namespace vitscope;

namespace {

MaskSpec spec(MaskStrategy s, double ratio, std::uint64_t seed = 0)
{
    MaskSpec m;
    m.strategy = s;
    m.ratio = ratio;
    m.seed = seed;
    return m;
}

void expectConsistent(const Masking &m, int64_t L)
{
    const int64_t B = m.batch();
    ASSERT_EQ(m.length(), L);
    // ids_restore inverts ids_shuffle.
    auto back = torch::gather(m.idsShuffle, 1, m.idsRestore);
    EXPECT_TRUE(torch::equal(back, torch::arange(L).expand({B, L})));
    // Kept ids are exactly the zeros of the mask.
    EXPECT_TRUE(torch::equal(m.idsKeep, m.idsShuffle.narrow(1, 0, m.keepCount)));
    EXPECT_EQ(torch::gather(m.mask, 1, m.idsKeep).sum().item<float>(), 0.0f);
    EXPECT_EQ(m.mask.sum(1).min().item<float>(), float(L - m.keepCount));
    EXPECT_EQ(m.mask.sum(1).max().item<float>(), float(L - m.keepCount));
}

// Number of 4-connected regions of removed patches in one sample.
int components(const torch::Tensor &row, int64_t h, int64_t w)
{
    auto a = row.accessor<float, 1>();
    std::vector<int> seen(static_cast<std::size_t>(h * w), 0);
    int n = 0;
    for (int64_t s = 0; s < h * w; ++s) {
        if (a[s] != 1.0f || seen[static_cast<std::size_t>(s)])
            continue;
        ++n;
        std::queue<int64_t> q;
        q.push(s);
        seen[static_cast<std::size_t>(s)] = 1;
        while (!q.empty()) {
            const int64_t i = q.front();
            q.pop();
            const int64_t r = i / w, c = i % w;
            const int64_t nb[4][2] = {{r - 1, c}, {r + 1, c}, {r, c - 1}, {r, c + 1}};
            for (auto &d : nb) {
                if (d[0] < 0 || d[0] >= h || d[1] < 0 || d[1] >= w)
                    continue;
                const int64_t j = d[0] * w + d[1];
                if (a[j] == 1.0f && !seen[static_cast<std::size_t>(j)]) {
                    seen[static_cast<std::size_t>(j)] = 1;
                    q.push(j);
                }
            }
        }
    }
    return n;
}

} // namespace

TEST(Masking, KeepCountIsFloorOfTheRatio)
{
    EXPECT_EQ(keepCountFor(196, 0.75), 49);
    EXPECT_EQ(keepCountFor(64, 0.75), 16);
    EXPECT_EQ(keepCountFor(49, 0.75), 12); // floor(12.25)
    EXPECT_EQ(keepCountFor(196, 0.9), 19); // floor(19.6)
    EXPECT_EQ(keepCountFor(196, 0.0), 196);
    EXPECT_EQ(keepCountFor(64, 0.95), 3);  // floor(3.2)
}

TEST(Masking, RandomAndBlockRemoveExactlyTheTarget)
{
    for (auto s : {MaskStrategy::Random, MaskStrategy::Block})
        for (auto [h, w] : {std::pair<int64_t, int64_t>{14, 14}, {8, 8}, {7, 7}, {5, 9}})
            for (double r : {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95}) {
                const auto m = makeMasking(spec(s, r, 7), 4, h, w);
                EXPECT_EQ(m.keepCount, keepCountFor(h * w, r)) << maskStrategyName(s) << " " << r;
                expectConsistent(m, h * w);
            }
}

TEST(Masking, RatioOutsideRangeIsRefused)
{
    EXPECT_THROW(makeMasking(spec(MaskStrategy::Random, 0.96), 1, 8, 8), std::exception);
    EXPECT_THROW(makeMasking(spec(MaskStrategy::Block, -0.01), 1, 8, 8), std::exception);
}

TEST(Masking, SeedsReproduceAndSamplesDiffer)
{
    for (auto s : {MaskStrategy::Random, MaskStrategy::Block, MaskStrategy::Grid}) {
        const auto a = makeMasking(spec(s, 0.75, 42), 8, 14, 14);
        const auto b = makeMasking(spec(s, 0.75, 42), 8, 14, 14);
        const auto c = makeMasking(spec(s, 0.75, 43), 8, 14, 14);
        EXPECT_TRUE(torch::equal(a.mask, b.mask)) << maskStrategyName(s);
        EXPECT_TRUE(torch::equal(a.idsShuffle, b.idsShuffle)) << maskStrategyName(s);
        EXPECT_FALSE(torch::equal(a.mask, c.mask)) << maskStrategyName(s);
        int distinct = 0;
        for (int64_t i = 1; i < 8; ++i)
            distinct += !torch::equal(a.mask[0], a.mask[i]);
        EXPECT_GE(distinct, s == MaskStrategy::Grid ? 3 : 7) << maskStrategyName(s);
    }
}

TEST(Masking, RandomIsUniformOverPatches)
{
    // Every patch is removed with probability 0.75: over 2000 samples each patch's rate
    // is within 0.05 of it (binomial sd ~0.01).
    const auto m = makeMasking(spec(MaskStrategy::Random, 0.75, 5), 2000, 8, 8);
    const auto rate = m.mask.mean(0);
    EXPECT_LT((rate - 0.75).abs().max().item<float>(), 0.05f);
}

TEST(Masking, BlockRemovesContiguousRegions)
{
    // Rectangles make few large regions; random masking at the same ratio makes many.
    double blockRegions = 0, randomRegions = 0;
    const auto b = makeMasking(spec(MaskStrategy::Block, 0.5, 3), 50, 14, 14);
    const auto r = makeMasking(spec(MaskStrategy::Random, 0.5, 3), 50, 14, 14);
    for (int64_t i = 0; i < 50; ++i) {
        blockRegions += components(b.mask[i].contiguous(), 14, 14);
        randomRegions += components(r.mask[i].contiguous(), 14, 14);
    }
    blockRegions /= 50;
    randomRegions /= 50;
    EXPECT_LE(blockRegions, 6.0) << "98 removed patches should form a few blocks";
    EXPECT_GT(randomRegions, 3 * blockRegions);
}

TEST(Masking, GridKeepsOnePatchPerCell)
{
    for (int64_t k : {2, 3}) {
        MaskSpec s = spec(MaskStrategy::Grid, 0.0, 9);
        s.gridCell = k;
        const int64_t g = 12; // divisible by 2 and 3
        const auto m = makeMasking(s, 6, g, g);
        expectConsistent(m, g * g);
        EXPECT_EQ(m.keepCount, (g / k) * (g / k));
        auto a = m.mask.accessor<float, 2>();
        for (int64_t b = 0; b < 6; ++b)
            for (int64_t cy = 0; cy < g / k; ++cy)
                for (int64_t cx = 0; cx < g / k; ++cx) {
                    int kept = 0;
                    for (int64_t dy = 0; dy < k; ++dy)
                        for (int64_t dx = 0; dx < k; ++dx)
                            kept += a[b][(cy * k + dy) * g + cx * k + dx] == 0.0f;
                    EXPECT_EQ(kept, 1) << "cell " << cy << "," << cx;
                }
    }
    // 8 x 8 grid, 2 x 2 cells: exactly 75% removed, as the Fashion-MNIST preset needs.
    const auto m = makeMasking(spec(MaskStrategy::Grid, 0.0), 1, 8, 8);
    EXPECT_EQ(m.keepCount, 16);
}

TEST(Masking, GridOnOddGridsKeepsTheSameCountPerSample)
{
    MaskSpec s = spec(MaskStrategy::Grid, 0.0, 1);
    s.gridCell = 2;
    const auto m = makeMasking(s, 16, 7, 7);
    expectConsistent(m, 49); // would throw in maskingFromMask if counts differed
    EXPECT_EQ(m.keepCount, 16);
}

TEST(Masking, CustomKeepsExactlyTheGivenPatches)
{
    MaskSpec s = spec(MaskStrategy::Custom, 0.0);
    s.keep = {0, 5, 63, 17};
    const auto m = makeMasking(s, 2, 8, 8);
    expectConsistent(m, 64);
    EXPECT_EQ(m.keepCount, 4);
    for (int64_t i : s.keep)
        EXPECT_EQ(m.mask[1][i].item<float>(), 0.0f);
    s.keep = {64};
    EXPECT_THROW(makeMasking(s, 1, 8, 8), std::exception);
    s.keep = {3, 3};
    EXPECT_THROW(makeMasking(s, 1, 8, 8), std::exception);
}

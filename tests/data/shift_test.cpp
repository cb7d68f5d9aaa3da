// The distribution shifts of `eval shift` (trainer/shift.h), each on a hand-made image with
// the expected pixels worked out here, and partial fine-tuning's frozen blocks.
#include <gtest/gtest.h>

#include <cmath>

#include "models/error.h"
#include "trainer/data/shift.h"

using namespace vitscope;
using namespace vitscope::data;

namespace {

// (H, W, 1) uint8 from rows of values.
torch::Tensor grey(const std::vector<std::vector<int>> &rows)
{
    const int64_t H = int64_t(rows.size()), W = int64_t(rows[0].size());
    auto t = torch::empty({H, W, 1}, torch::kUInt8);
    for (int64_t i = 0; i < H; ++i)
        for (int64_t j = 0; j < W; ++j)
            t[i][j][0] = rows[i][j];
    return t;
}

int pixel(const torch::Tensor &t, int64_t i, int64_t j, int64_t c = 0)
{
    return t[i][j][c].item<int>();
}

} // namespace

TEST(Shift, NamesRoundTripAndUnknownNamesAreListed)
{
    EXPECT_EQ(allShifts().size(), 8u);
    for (Shift s : allShifts())
        EXPECT_EQ(parseShift(shiftName(s)), s);
    try {
        parseShift("sepia");
        FAIL() << "no error";
    } catch (const Error &e) {
        EXPECT_NE(std::string(e.what()).find("low-contrast"), std::string::npos) << e.what();
    }
    EXPECT_THROW(applyShift(torch::zeros({4, 4}, torch::kUInt8), Shift::Blur), Error);
}

TEST(Shift, InvertedRotationLowContrastAndCutOutByHand)
{
    auto img = grey({{0, 10, 20}, {30, 40, 250}});
    auto inv = applyShift(img, Shift::Inverted);
    EXPECT_EQ(pixel(inv, 0, 0), 255);
    EXPECT_EQ(pixel(inv, 1, 2), 5);

    // Counter-clockwise: the top row becomes the left column read bottom to top.
    auto rot = applyShift(img, Shift::Rotation);
    ASSERT_EQ(rot.sizes(), (std::vector<int64_t>{3, 2, 1}));
    EXPECT_EQ(pixel(rot, 0, 0), 20);  // top-right corner -> top-left
    EXPECT_EQ(pixel(rot, 0, 1), 250);
    EXPECT_EQ(pixel(rot, 2, 0), 0);   // top-left corner -> bottom-left
    EXPECT_EQ(pixel(rot, 2, 1), 30);

    // Mean 58.333...; m + (x - m) / 4: 0 -> 43.75 -> 44, 250 -> 106.25 -> 106.
    auto low = applyShift(img, Shift::LowContrast);
    EXPECT_EQ(pixel(low, 0, 0), 44);
    EXPECT_EQ(pixel(low, 1, 2), 106);
    EXPECT_EQ(pixel(low, 1, 1), 54); // 58.333 - 18.333 / 4 = 53.75

    // 4 x 4 of 0 with one 160: mean 10; the centred 2 x 2 square becomes 10.
    std::vector<std::vector<int>> rows(4, std::vector<int>(4, 0));
    rows[0][0] = 160;
    auto cut = applyShift(grey(rows), Shift::CutOut);
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
            const bool inside = i >= 1 && i <= 2 && j >= 1 && j <= 2;
            EXPECT_EQ(pixel(cut, i, j), inside ? 10 : (i == 0 && j == 0 ? 160 : 0)) << i << "," << j;
        }
}

TEST(Shift, EdgesOfAStepAreTheTwoColumnsAtTheStep)
{
    // Left half 0, right half 200: the Sobel x response is 4 * 200 at columns 1 and 2
    // (replicated border elsewhere gives 0), y response 0; scaled so the strongest is 255.
    std::vector<std::vector<int>> rows(4, {0, 0, 200, 200});
    auto e = applyShift(grey(rows), Shift::Edges);
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(pixel(e, i, 0), 0);
        EXPECT_EQ(pixel(e, i, 1), 255);
        EXPECT_EQ(pixel(e, i, 2), 255);
        EXPECT_EQ(pixel(e, i, 3), 0);
    }
    // A flat image has no edges (no division by zero).
    auto flat = applyShift(grey({{7, 7}, {7, 7}}), Shift::Edges);
    EXPECT_EQ(flat.sum().item<int64_t>(), 0);
    // RGB: every channel gets the luma's edges.
    auto rgb = torch::cat({grey(rows), grey(rows), grey(rows)}, 2);
    auto e3 = applyShift(rgb, Shift::Edges);
    EXPECT_EQ(pixel(e3, 2, 1, 0), 255);
    EXPECT_EQ(pixel(e3, 2, 1, 2), 255);
}

TEST(Shift, BlurSpreadsAPointAsTheGaussianAndKeepsFlatImages)
{
    // 40 x 40: sigma 2, radius 6. One pixel of 255 in the middle -> 255 g(dx) g(dy), with
    // g the normalized 13-tap Gaussian of sigma 2.
    std::vector<std::vector<int>> rows(40, std::vector<int>(40, 0));
    rows[20][20] = 255;
    auto b = applyShift(grey(rows), Shift::Blur);
    double g[7], sum = 0;
    for (int d = -6; d <= 6; ++d)
        sum += std::exp(-d * d / 8.0);
    for (int d = 0; d <= 6; ++d)
        g[d] = std::exp(-d * d / 8.0) / sum;
    for (int dy = 0; dy <= 3; ++dy)
        for (int dx = 0; dx <= 3; ++dx)
            EXPECT_EQ(pixel(b, 20 + dy, 20 + dx), int(std::lround(255 * g[dx] * g[dy]))) << dx << "," << dy;
    EXPECT_EQ(pixel(b, 20, 27), 0); // beyond the radius
    auto flat = applyShift(torch::full({40, 40, 3}, 90, torch::kUInt8), Shift::Blur);
    EXPECT_TRUE(torch::equal(flat, torch::full({40, 40, 3}, 90, torch::kUInt8)));
}

TEST(Shift, NoiseHasTheStatedSpreadAndIsAFunctionOfSeedAndIndex)
{
    auto mid = torch::full({100, 100, 1}, 128, torch::kUInt8);
    auto a = applyShift(mid, Shift::Noise, 1, 5);
    EXPECT_TRUE(torch::equal(a, applyShift(mid, Shift::Noise, 1, 5)));
    EXPECT_FALSE(torch::equal(a, applyShift(mid, Shift::Noise, 1, 6)));
    auto d = a.to(torch::kFloat64) - 128.0;
    EXPECT_NEAR(d.mean().item<double>(), 0.0, 2.0);  // 10,000 draws: standard error 0.5
    EXPECT_NEAR(d.std().item<double>(), 50.0, 2.5);  // clamping at 0 and 255 is > 2.5 sigma away
}

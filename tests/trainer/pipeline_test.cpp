// Data sources, transforms, the batch loader and the optimizer.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "common/adamw_pair.h"
#include "common/expect_error.h"
#include "common/temp_dir.h"
#include "models/error.h"
#include "trainer/data/images.h"
#include "trainer/data/loader.h"
#include "trainer/optim.h"
#include "trainer/data/sources.h"
#include "trainer/data/transforms.h"

namespace vitscope {
namespace {

using test::TempDir;

data::ImageSet syntheticSet(int64_t n, int64_t classes = 4)
{
    data::ImageSet s;
    s.source = "synthetic";
    s.count = n, s.height = 28, s.width = 28, s.channels = 1;
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t p = 0; p < 28 * 28; ++p)
            s.pixels.push_back(uint8_t((i * 31 + p * 7) % 256));
        s.labels.push_back(i % classes);
    }
    for (int64_t c = 0; c < classes; ++c)
        s.classNames.push_back("class" + std::to_string(c));
    return s;
}

void writePng(const std::string &path, int w, int h, int seed)
{
    data::RgbImage img;
    img.width = w, img.height = h;
    for (int i = 0; i < w * h * 3; ++i)
        img.rgb.push_back(uint8_t((i + seed * 13) % 256));
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    data::saveImageRgb(path, img);
}

TEST(Sources, ImageFolderUsesFolderNamesAndSkipsBadFiles)
{
    TempDir dir;
    writePng(dir.file("set/boot/a.png"), 20, 16, 1);
    writePng(dir.file("set/boot/b.PNG"), 20, 16, 2);
    writePng(dir.file("set/cat/c.png"), 10, 12, 3);
    test::writeBytes(dir.file("set/cat/broken.jpg"), "not a jpeg");
    test::writeBytes(dir.file("set/cat/notes.txt"), "ignored: not an image name");
    auto src = data::imageFolderSource(dir.file("set"));
    EXPECT_EQ(src->size(), 3);
    EXPECT_EQ(src->classNames(), (std::vector<std::string>{"boot", "cat"}));
    EXPECT_EQ(src->label(0), 0);
    EXPECT_EQ(src->label(2), 1);
    EXPECT_EQ(src->image(2).sizes(), (torch::IntArrayRef{12, 10, 3}));
    ASSERT_EQ(src->skipped().size(), 1u);
    EXPECT_NE(src->skipped()[0].file.find("broken.jpg"), std::string::npos);

    std::filesystem::create_directories(dir.file("bad/x"));
    test::writeBytes(dir.file("bad/x/1.png"), "nope");
    test::expectFileError([&] { data::imageFolderSource(dir.file("bad")); }, dir.file("bad"), "no readable images");
    std::filesystem::create_directories(dir.file("flat"));
    writePng(dir.file("flat/1.png"), 4, 4, 0);
    test::expectFileError([&] { data::imageFolderSource(dir.file("flat")); }, dir.file("flat"), "no class subfolders");
}

TEST(Sources, CaptionCsvFollowsOpenClipAndReportsBadRowsWithLines)
{
    TempDir dir;
    writePng(dir.file("imgs/1.png"), 8, 8, 1);
    writePng(dir.file("imgs/2.png"), 8, 8, 2);
    test::writeBytes(dir.file("imgs/3.png"), "broken");
    test::writeBytes(dir.file("caps.csv"),
                     "filepath\ttitle\textra\n"
                     "imgs/1.png\ta red boot\tx\n"
                     "imgs/2.png\t\"a \"\"quoted\"\" cat\"\ty\n"
                     "imgs/3.png\ta broken file\tz\n"
                     "imgs/1.png\n"
                     "imgs/2.png\t  \tw\n"
                     "imgs/404.png\tmissing\tq\n");
    auto src = data::captionCsvSource(dir.file("caps.csv"));
    ASSERT_EQ(src->size(), 2);
    EXPECT_EQ(src->caption(0), "a red boot");
    EXPECT_EQ(src->caption(1), "a \"quoted\" cat");
    EXPECT_EQ(src->label(0), -1);
    ASSERT_EQ(src->skipped().size(), 4u);
    EXPECT_EQ(src->skipped()[0].line, 4);
    EXPECT_NE(src->skipped()[0].reason.find("3.png"), std::string::npos);
    EXPECT_EQ(src->skipped()[1].line, 5);
    EXPECT_NE(src->skipped()[1].reason.find("fields"), std::string::npos);
    EXPECT_EQ(src->skipped()[2].reason, "empty caption");
    EXPECT_NE(src->skipped()[3].reason.find("missing"), std::string::npos);

    data::CaptionCsvOptions comma;
    comma.separator = ',', comma.pathColumn = "image", comma.captionColumn = "text";
    test::writeBytes(dir.file("c.csv"), "text,image\n\"a boot, red\",imgs/1.png\n");
    auto c = data::captionCsvSource(dir.file("c.csv"), comma);
    ASSERT_EQ(c->size(), 1);
    EXPECT_EQ(c->caption(0), "a boot, red");
    test::expectFileError([&] { data::captionCsvSource(dir.file("c.csv")); }, dir.file("c.csv"), "line 1");
    test::writeBytes(dir.file("none.csv"), "filepath\ttitle\nimgs/3.png\tbroken\n");
    test::expectFileError([&] { data::captionCsvSource(dir.file("none.csv")); }, dir.file("none.csv"), "no usable rows");
}

TEST(Transforms, PadCropFlipAndNormalize)
{
    data::ImageTransform t;
    t.size = 32, t.channels = 1, t.mean = {0.5f}, t.std = {0.25f};
    auto img = torch::full({28, 28, 1}, 255, torch::kByte);
    auto e = data::evalTransform(img, t);
    ASSERT_EQ(e.sizes(), (torch::IntArrayRef{1, 32, 32}));
    EXPECT_NEAR(e[0][0][0].item<float>(), (0.0f - 0.5f) / 0.25f, 1e-6); // padding is black
    EXPECT_NEAR(e[0][2][2].item<float>(), (1.0f - 0.5f) / 0.25f, 1e-6);
    EXPECT_NEAR(e[0][29][29].item<float>(), (1.0f - 0.5f) / 0.25f, 1e-6);
    EXPECT_NEAR(e[0][30][30].item<float>(), -2.0f, 1e-6);

    // Flip only, on an image whose left half is white: the flip shows on the right.
    t.randomResizedCrop = false, t.pad = false, t.size = 4;
    auto half = torch::zeros({4, 4, 1}, torch::kByte);
    half.slice(1, 0, 2).fill_(255);
    int flipped = 0;
    for (uint64_t s = 0; s < 40; ++s) {
        std::mt19937_64 rng(s);
        auto out = data::trainTransform(half, t, rng);
        flipped += out[0][0][3].item<float>() > 0;
    }
    EXPECT_GT(flipped, 10);
    EXPECT_LT(flipped, 30);

    std::mt19937_64 rng(7);
    for (int i = 0; i < 200; ++i) {
        const auto [top, left, h, w] = data::randomResizedCropBox(32, 32, 0.2, 1.0, rng);
        ASSERT_GE(top, 0);
        ASSERT_GE(left, 0);
        ASSERT_LE(top + h, 32);
        ASSERT_LE(left + w, 32);
        const double area = double(h * w) / 1024.0;
        EXPECT_GE(area, 0.2 * 0.85) << h << "x" << w; // rounding of the side lengths
        const double ratio = double(w) / double(h);
        EXPECT_GE(ratio, 0.75 * 0.8);
        EXPECT_LE(ratio, 4.0 / 3.0 * 1.25);
    }
}

TEST(Loader, BatchesAreTheSameWhateverTheThreadsAndCanStartMidEpoch)
{
    auto src = data::imageSetSource(syntheticSet(50));
    data::ImageTransform t;
    auto make = [src, t](int64_t i, std::mt19937_64 &rng) { return data::trainTransform(src->image(i), t, rng); };
    data::LoaderOptions a;
    a.batchSize = 8, a.seed = 3, a.workers = 1, a.capacity = 1;
    data::LoaderOptions b = a;
    b.workers = 3, b.capacity = 5;
    data::BatchLoader la(src, make, a), lb(src, make, b);
    EXPECT_EQ(la.batchesPerEpoch(), 6); // 50 / 8, the last partial batch dropped
    la.start(2);
    lb.start(2, 3);
    std::vector<data::Batch> all;
    while (auto x = la.next())
        all.push_back(*x);
    ASSERT_EQ(all.size(), 6u);
    int64_t got = 0;
    while (auto x = lb.next()) {
        const auto &ref = all[std::size_t(3 + got)];
        EXPECT_EQ(x->indices, ref.indices);
        EXPECT_TRUE(torch::equal(x->images, ref.images));
        EXPECT_TRUE(torch::equal(x->labels, ref.labels));
        ++got;
    }
    EXPECT_EQ(got, 3);
    // Each epoch is a permutation; epochs differ.
    auto e0 = la.epochOrder(0), e1 = la.epochOrder(1);
    EXPECT_NE(e0, e1);
    std::sort(e0.begin(), e0.end());
    for (int64_t i = 0; i < 50; ++i)
        EXPECT_EQ(e0[std::size_t(i)], i);
    // A sample that fails surfaces in next(), naming the problem.
    data::BatchLoader bad(src, [](int64_t, std::mt19937_64 &) -> torch::Tensor { throw FileError("x.png", "gone"); }, a);
    bad.start(0);
    EXPECT_THROW(bad.next(), Error);
}

// The fused kernel where this LibTorch has one for the CPU (2.4 and later; Debian's 1.13
// has it for CUDA only: CudaTrain.FusedAdamWMatchesTheForeachUpdate).
TEST(Optim, FusedAdamWMatchesTheForeachUpdateOnTheCpu)
{
    const double diff = test::fusedAgainstForeachAdamW(torch::kCPU);
    if (diff < 0)
        GTEST_SKIP() << "LibTorch " << TORCH_VERSION << " has no fused AdamW kernel for the CPU";
    EXPECT_LT(diff, 1e-6);
}

TEST(Optim, AdamWMatchesLibTorchsAdamW)
{
    torch::manual_seed(1);
    auto w1 = torch::randn({5, 3}).requires_grad_(true), b1 = torch::randn({3}).requires_grad_(true);
    auto w2 = w1.detach().clone().requires_grad_(true), b2 = b1.detach().clone().requires_grad_(true);
    train::ParamGroup decay{{"w"}, {w1}, 0.05}, plain{{"b"}, {b1}, 0.0};
    train::AdamW ours({decay, plain}, 0.9, 0.95);
    torch::optim::AdamW theirs({torch::optim::OptimizerParamGroup({w2}, std::make_unique<torch::optim::AdamWOptions>(
                                                                         torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).weight_decay(0.05))),
                                torch::optim::OptimizerParamGroup({b2}, std::make_unique<torch::optim::AdamWOptions>(
                                                                         torch::optim::AdamWOptions(0.01).betas({0.9, 0.95}).weight_decay(0.0)))},
                               torch::optim::AdamWOptions(0.01));
    auto x = torch::randn({7, 5});
    for (int step = 0; step < 6; ++step) {
        ours.zeroGrad();
        theirs.zero_grad();
        (torch::matmul(x, w1) + b1).pow(2).mean().backward();
        (torch::matmul(x, w2) + b2).pow(2).mean().backward();
        ours.step(0.01);
        theirs.step();
    }
    EXPECT_TRUE(torch::allclose(w1, w2, 1e-6, 1e-7));
    EXPECT_TRUE(torch::allclose(b1, b2, 1e-6, 1e-7));
    // The state round-trips.
    train::AdamW copy({{{"w"}, {w1}, 0.05}, {{"b"}, {b1}, 0.0}}, 0.9, 0.95);
    copy.loadState(ours.state(), ours.steps());
    EXPECT_EQ(copy.steps(), 6);
    EXPECT_TRUE(torch::equal(copy.state().at("exp_avg.w"), ours.state().at("exp_avg.w")));
}

// Hand-worked: gradients (3, 4) and (12) have the global norm sqrt(9 + 16 + 144) = 13.
TEST(Optim, GradientClippingByTheGlobalNorm)
{
    auto a = torch::zeros({2}, torch::requires_grad()), b = torch::zeros({1}, torch::requires_grad());
    auto c = torch::zeros({3}, torch::requires_grad()); // no gradient: left out
    train::AdamW opt({{{"a", "b", "c"}, {a, b, c}, 0.0}}, 0.9, 0.95);
    auto setGrads = [&] {
        a.mutable_grad() = torch::tensor({3.0f, 4.0f});
        b.mutable_grad() = torch::tensor({12.0f});
    };
    setGrads();
    EXPECT_NEAR(opt.clipGradNorm(20.0).item<double>(), 13.0, 1e-9);
    EXPECT_TRUE(torch::equal(a.grad(), torch::tensor({3.0f, 4.0f}))) << "within the limit: untouched";
    EXPECT_TRUE(torch::equal(b.grad(), torch::tensor({12.0f})));
    setGrads();
    EXPECT_NEAR(opt.clipGradNorm(6.5).item<double>(), 13.0, 1e-9) << "the norm before clipping";
    const double scale = 6.5 / (13.0 + 1e-6);
    EXPECT_NEAR(a.grad()[0].item<double>(), 3.0 * scale, 1e-6);
    EXPECT_NEAR(a.grad()[1].item<double>(), 4.0 * scale, 1e-6);
    EXPECT_NEAR(b.grad()[0].item<double>(), 12.0 * scale, 1e-6);
    EXPECT_FALSE(c.grad().defined());
}

TEST(Optim, WarmupThenCosineAndDecayGroups)
{
    EXPECT_DOUBLE_EQ(train::warmupCosine(0, 100, 10, 1.0), 0.0);
    EXPECT_DOUBLE_EQ(train::warmupCosine(5, 100, 10, 1.0), 0.5);
    EXPECT_DOUBLE_EQ(train::warmupCosine(10, 100, 10, 1.0), 1.0);
    EXPECT_NEAR(train::warmupCosine(55, 100, 10, 1.0), 0.5, 1e-12); // half way through the cosine
    EXPECT_NEAR(train::warmupCosine(100, 100, 10, 1.0), 0.0, 1e-12);
    torch::OrderedDict<std::string, torch::Tensor> named;
    named.insert("blocks.0.fc1.weight", torch::zeros({4, 4}, torch::requires_grad()));
    named.insert("blocks.0.fc1.bias", torch::zeros({4}, torch::requires_grad()));
    named.insert("norm.weight", torch::zeros({4}, torch::requires_grad()));
    named.insert("cls_token", torch::zeros({1, 1, 4}, torch::requires_grad()));
    auto groups = train::decayGroups(named, 0.05, {"cls_token"});
    EXPECT_EQ(groups[0].names, (std::vector<std::string>{"blocks.0.fc1.weight"}));
    EXPECT_EQ(groups[0].weightDecay, 0.05);
    EXPECT_EQ(groups[1].names, (std::vector<std::string>{"blocks.0.fc1.bias", "norm.weight", "cls_token"}));
    EXPECT_EQ(groups[1].weightDecay, 0.0);
}

} // namespace
} // namespace vitscope

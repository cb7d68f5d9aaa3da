// The Inside view (attention, embedding map) and the zero-shot view's class heat maps,
// driven as a user drives them. Expectations from definitions: attention rows are
// distributions, MAE keeps floor(L (1 - ratio)) tokens, cosines lie in [-1, 1].
#include <gtest/gtest.h>

#include <QComboBox>
#include <QLabel>
#include <QTabWidget>

#include <cmath>

#include "gui/views_common.h"
#include "src/gui/common/widgets.h"
#include "src/gui/inside/embedding_map.h"
#include "src/gui/inside/inside_view.h"
#include "src/gui/zero_shot/class_heatmaps.h"
#include "src/gui/zero_shot/zero_shot_view.h"

using namespace vitscope::gui;
using vitscope::test::waitFor;

namespace {

int finiteCount(const std::vector<float> &v)
{
    return int(std::count_if(v.begin(), v.end(), [](float x) { return std::isfinite(x); }));
}

} // namespace

class InsideViews : public Views {};

TEST_F(InsideViews, MaeAttentionHasTokensOnlyForVisiblePatches)
{
    InsideView *v = window->insideView();
    window->showView(QStringLiteral("inside"));
    v->setModel(QStringLiteral("fmnist-mae"));
    v->setMaskRatio(75);
    ASSERT_TRUE(waitFor([&] { return !v->isBusy() && v->result() && v->result()->tokens == 17; }));
    const auto &r = *v->result();
    // 64 patches at 75% removed: floor(64 * 0.25) = 16 tokens, plus the class token.
    EXPECT_EQ(r.patches.size(), 16u);
    EXPECT_EQ(std::count(r.removed.begin(), r.removed.end(), 1), 48);
    for (int l = 0; l < r.layers; ++l)
        for (int h = 0; h < r.heads; ++h)
            for (int i = 0; i < r.tokens; ++i) {
                double sum = 0;
                for (int j = 0; j < r.tokens; ++j)
                    sum += r.at(l, h, i, j);
                ASSERT_NEAR(sum, 1.0, 1e-5) << l << "," << h << "," << i;
            }
    // The map drawn: the visible patches only; with the class token's self-attention it
    // sums to one.
    v->setMode(InsideView::Mode::ClassToken);
    v->setHead(0);
    v->setLayer(r.layers - 1);
    const auto &shown = v->shownMap();
    EXPECT_EQ(finiteCount(shown), 16);
    double sum = r.at(r.layers - 1, 0, 0, 0);
    for (float x : shown)
        if (std::isfinite(x))
            sum += x;
    EXPECT_NEAR(sum, 1.0, 1e-5);
    EXPECT_TRUE(v->whatText().contains(QStringLiteral("16 visible patches of 64"))) << v->whatText().toStdString();

    // Ratio 0: every patch has a token.
    v->setMaskRatio(0);
    ASSERT_TRUE(waitFor([&] { return !v->isBusy() && v->result()->tokens == 65; }));
    EXPECT_EQ(finiteCount(v->shownMap()), 64);
}

TEST_F(InsideViews, ClickingAPatchShowsWhereItAttendsAndRolloutIsAProduct)
{
    InsideView *v = window->insideView();
    window->showView(QStringLiteral("inside"));
    v->setModel(QStringLiteral("fmnist-clip"));
    ASSERT_TRUE(waitFor([&] { return !v->isBusy() && v->result() && v->result()->tokens == 65; }));
    const auto &r = *v->result();
    v->setHead(-1);
    v->setLayer(2);
    v->clickPatch(27);
    // Patch 27 is token 28; its row, mean of the heads, by hand.
    const auto &shown = v->shownMap();
    ASSERT_EQ(shown.size(), 64u);
    for (int p = 0; p < 64; ++p) {
        double mean = 0;
        for (int h = 0; h < r.heads; ++h)
            mean += r.at(2, h, 28, p + 1) / r.heads;
        EXPECT_NEAR(shown[std::size_t(p)], mean, 1e-6) << p;
    }
    // Rollout after the first layer is that layer's (mean + I) / 2 (rows of A sum to one,
    // so no renormalization is needed).
    v->setMode(InsideView::Mode::Rollout);
    v->setLayer(0);
    for (int p = 0; p < 64; ++p) {
        double mean = 0;
        for (int h = 0; h < r.heads; ++h)
            mean += r.at(0, h, 0, p + 1) / r.heads;
        EXPECT_NEAR(v->shownMap()[std::size_t(p)], 0.5 * mean, 1e-5) << p;
    }
}

TEST_F(InsideViews, EmbeddingMapPlacesImagesAndClassTextsAndOpensAnImage)
{
    InsideView *v = window->insideView();
    window->showView(QStringLiteral("inside"));
    v->showMapTab(true);
    EmbeddingMapView *map = v->mapView();
    map->setModel(QStringLiteral("fmnist-clip"));
    map->compute();
    ASSERT_TRUE(waitFor([&] { return !map->isBusy() && !map->points().empty(); }, 60000));
    const auto &points = map->points();
    const auto texts = std::count_if(points.begin(), points.end(), [](const auto &p) { return p.text; });
    EXPECT_EQ(texts, 10);
    EXPECT_EQ(int(points.size()) - texts, 500); // 50 per class
    EXPECT_GT(map->explained(0), map->explained(1) - 1e-12);
    EXPECT_LE(map->explained(0) + map->explained(1), 1.0 + 1e-9);
    EXPECT_TRUE(map->whatText().contains(QStringLiteral("modality gap")));
    // Zero-shot predictions on the map are mostly right for the bundled model (it scores
    // about 89% on the test split).
    int right = 0;
    for (const auto &p : points)
        right += !p.text && p.predicted == p.label;
    EXPECT_GT(right, 350);

    // Hovering a dot shows its image; a click would open it in the attention tab.
    map->plot()->replot();
    const auto &first = points.front();
    const QPointF at(map->plot()->xAxis->coordToPixel(first.x), map->plot()->yAxis->coordToPixel(first.y));
    EXPECT_GE(map->pointNear(at), 0);
    bool opened = false;
    QObject::connect(map, &EmbeddingMapView::openImage, map, [&]() { opened = true; });
    QTest::mouseClick(map->plot(), Qt::LeftButton, Qt::NoModifier, at.toPoint());
    EXPECT_TRUE(opened);

    // MAE features: no text points.
    map->setModel(QStringLiteral("fmnist-mae"));
    map->compute();
    ASSERT_TRUE(waitFor([&] { return !map->isBusy(); }, 60000));
    ASSERT_TRUE(waitFor([&] { return std::none_of(map->points().begin(), map->points().end(), [](const auto &p) { return p.text; }); }));
    EXPECT_EQ(map->points().size(), 500u);
}

TEST_F(InsideViews, ZeroShotShowsWhereTheTopClassesAre)
{
    ZeroShotView *z = window->zeroShot();
    window->showView(QStringLiteral("zeroshot"));
    ASSERT_TRUE(waitFor([&] { return !z->isBusy() && z->imageCount() > 0; }));
    ASSERT_TRUE(waitFor([&] { return !z->isBusy() && !z->heatmaps()->maps().empty(); }));
    const auto &maps = z->heatmaps()->maps();
    EXPECT_EQ(maps.size(), std::size_t(ClassHeatmaps::kMaps));
    for (const auto &m : maps) {
        EXPECT_EQ(m.size(), 64u);
        for (float x : m) {
            EXPECT_GE(x, -1.0f - 1e-5f);
            EXPECT_LE(x, 1.0f + 1e-5f);
        }
    }
}

// Pieces of the app tested without a window: following a run folder, image headers,
// export of plots and widgets, the experiment plots, the app's command line.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include <QDir>
#include <QFile>
#include <QImage>
#include <QProcess>

#include "common/temp_dir.h"
#include "src/engine/engine.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/widgets.h"
#include "src/gui/training/experiments_view.h"
#include "src/gui/training/run_follower.h"

using namespace vitscope::gui;
using vitscope::test::TempDir;

TEST(RunFollower, ReadsCompleteLinesOnlyAndStartsOverWhenTheFileShrinks)
{
    TempDir tmp;
    vitscope::test::writeBytes(tmp.file("config.json"), "{\"kind\": \"mae\"}");
    const std::string a = "{\"type\":\"step\",\"step\":10,\"loss\":1.5}\n";
    const std::string b = "{\"type\":\"step\",\"step\":20,\"loss\":1.25}\n";
    const std::string e = "{\"type\":\"epoch\",\"epoch\":0,\"step\":20,\"loss\":1.3,\"eval\":{\"knn_top1\":0.5}}\n";
    vitscope::test::writeBytes(tmp.file("metrics.jsonl"), a + b.substr(0, 12)); // a line being written
    RunFollower f(QString::fromStdString(tmp.path().string()));
    ASSERT_TRUE(f.error().isEmpty());
    f.poll();
    EXPECT_EQ(f.stepX, QVector<double>({10}));
    vitscope::test::writeBytes(tmp.file("metrics.jsonl"), a + b + e + "{\"type\":\"end\"}\n");
    f.poll();
    EXPECT_EQ(f.stepX, QVector<double>({10, 20}));
    EXPECT_EQ(f.stepLoss, QVector<double>({1.5, 1.25}));
    EXPECT_EQ(f.evalX, QVector<double>({1}));
    EXPECT_EQ(f.evalY, QVector<double>({50}));
    EXPECT_EQ(f.status(), QStringLiteral("finished"));
    vitscope::test::writeBytes(tmp.file("metrics.jsonl"), a); // resumed: cut back
    f.poll();
    EXPECT_EQ(f.stepX, QVector<double>({10}));
    EXPECT_EQ(f.status(), QStringLiteral("running"));

    RunFollower none(QString::fromStdString(tmp.file("nothing-here")));
    EXPECT_TRUE(none.error().contains(QStringLiteral("config.json"))) << none.error().toStdString();
}

// A data-parallel run (rank 0 writes its folder) is followed like any run, named with its ranks.
TEST(RunFollower, ADistributedRunIsLabelledWithItsRanks)
{
    TempDir tmp;
    const std::string dir = tmp.file("mae-big");
    std::filesystem::create_directories(dir);
    vitscope::test::writeBytes(dir + "/config.json",
                               "{\"kind\": \"mae\", \"distributed\": {\"world_size\": 4, \"backend\": \"gloo\"}}");
    vitscope::test::writeBytes(dir + "/metrics.jsonl", "{\"type\":\"step\",\"step\":1,\"loss\":2.5}\n");
    RunFollower f(QString::fromStdString(dir));
    EXPECT_EQ(f.label(), QStringLiteral("mae-big (4 ranks)"));
    EXPECT_EQ(f.stepLoss, QVector<double>({2.5}));
}

namespace {

quint32 crc32(const QByteArray &data)
{
    quint32 c = 0xffffffffu;
    for (char ch : data) {
        c ^= quint8(ch);
        for (int k = 0; k < 8; ++k)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return ~c;
}

QByteArray be32(quint32 v)
{
    const char bytes[] = {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
    return QByteArray(bytes, 4);
}

} // namespace

TEST(ImageFiles, HeaderClaimingAHugeImageIsRefusedBeforeDecoding)
{
    TempDir tmp;
    // A PNG signature and an IHDR chunk claiming 200000 x 200000 RGB pixels, nothing else.
    QByteArray ihdr = QByteArray("IHDR") + be32(200000) + be32(200000) + QByteArray("\x08\x02\x00\x00\x00", 5);
    QByteArray png = QByteArray("\x89PNG\r\n\x1a\n", 8) + be32(13) + ihdr + be32(crc32(ihdr));
    for (const char *chunk : {"IDAT", "IEND"}) // empty chunks: a header-only file
        png += be32(0) + QByteArray(chunk) + be32(crc32(QByteArray(chunk)));
    const QString path = QString::fromStdString(tmp.file("huge.png"));
    QFile f(path);
    ASSERT_TRUE(f.open(QIODevice::WriteOnly));
    f.write(png);
    f.close();
    const LoadedImage r = loadImageFile(path);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.error.contains(QStringLiteral("too large"))) << r.error.toStdString();
    EXPECT_TRUE(r.error.contains(QStringLiteral("200000 x 200000"))) << r.error.toStdString();

    const LoadedImage missing = loadImageFile(QString::fromStdString(tmp.file("missing.png")));
    EXPECT_TRUE(missing.error.contains(QStringLiteral("no such file"))) << missing.error.toStdString();
}

TEST(Export, ViewsAndPlotsSaveAsPngSvgAndCsv)
{
    TempDir tmp;
    PlotWidget plot;
    plot.resize(400, 300);
    QCPGraph *g = plot.addGraph();
    g->setName(QStringLiteral("loss"));
    g->setData({1, 2, 3}, {0.5, 0.25, 0.125});
    const QString base = QString::fromStdString(tmp.path().string());
    ASSERT_TRUE(plot.savePlot(base + QStringLiteral("/p.png")));
    ASSERT_TRUE(plot.savePlot(base + QStringLiteral("/p.svg")));
    ASSERT_TRUE(plot.savePlot(base + QStringLiteral("/p.csv")));
    EXPECT_FALSE(QImage(base + QStringLiteral("/p.png")).isNull());
    const std::string svg = vitscope::test::readBytes(tmp.file("p.svg"));
    EXPECT_NE(svg.find("<svg"), std::string::npos);
    EXPECT_EQ(vitscope::test::readBytes(tmp.file("p.csv")),
              "graph,x,y\n\"loss\",1,0.5\n\"loss\",2,0.25\n\"loss\",3,0.125\n");
    QString error;
    EXPECT_TRUE(exportWidget(&plot, base + QStringLiteral("/w.svg"), &error)) << error.toStdString();
    EXPECT_TRUE(exportWidget(&plot, base + QStringLiteral("/w.png"), &error)) << error.toStdString();
    EXPECT_EQ(QImage(base + QStringLiteral("/w.png")).size(), plot.size());
}

TEST(Experiments, KShotPlotHasOnePointPerCsvRow)
{
    const QString dir = QString::fromStdString(vitscope::engine::experimentsDir());
    if (dir.isEmpty())
        GTEST_SKIP() << "no experiment tables";
    // Count the data rows independently of the CSV reader.
    const std::string csv = vitscope::test::readBytes((dir + QStringLiteral("/clip-kshot.csv")).toStdString());
    const int rows = int(std::count(csv.begin(), csv.end(), '\n')) - 1;
    ASSERT_GT(rows, 0);
    ExperimentsView view;
    view.showPlot(2);
    ASSERT_GE(view.plot()->graphCount(), 2);
    EXPECT_EQ(view.plot()->graph(0)->dataCount(), rows);
    EXPECT_EQ(view.plot()->graph(1)->dataCount(), rows);
    view.showPlot(0);
    EXPECT_GE(view.plot()->graphCount(), 2);
    for (int i = 0; i < view.plot()->graphCount(); ++i)
        EXPECT_GE(view.plot()->graph(i)->dataCount(), 3) << i;
}

TEST(Experiments, PartialFinetuneAndShiftPlotsFollowTheirCsvs)
{
    const QString dir = QString::fromStdString(vitscope::engine::experimentsDir());
    if (dir.isEmpty())
        GTEST_SKIP() << "no experiment tables";
    auto rowsOf = [&](const QString &file) {
        const std::string csv = vitscope::test::readBytes((dir + QLatin1Char('/') + file).toStdString());
        return int(std::count(csv.begin(), csv.end(), '\n')) - 1;
    };
    ExperimentsView view;
    view.showPlot(3); // one line per mae-partial-finetune-*.csv, one point per row
    ASSERT_GE(view.plot()->graphCount(), 1);
    EXPECT_EQ(view.plot()->graph(0)->dataCount(), rowsOf(QStringLiteral("mae-partial-finetune-cpu-3ep.csv")));
    view.showPlot(4); // two bar series, one bar per shift
    const int shifts = rowsOf(QStringLiteral("clip-shift.csv"));
    EXPECT_EQ(shifts, 8);
    int bars = 0;
    for (int i = 0; i < view.plot()->plottableCount(); ++i)
        if (auto *b = qobject_cast<QCPBars *>(view.plot()->plottable(i))) {
            EXPECT_EQ(b->dataCount(), shifts);
            ++bars;
        }
    EXPECT_EQ(bars, 2);
}

TEST(AppCommandLine, UnknownViewIsAnErrorAndHelpListsTheOptions)
{
    QProcess app;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    app.setProcessEnvironment(env);
    app.start(QStringLiteral(VITSCOPE_APP_PATH), {QStringLiteral("--view"), QStringLiteral("nonsense")});
    ASSERT_TRUE(app.waitForFinished(60000));
    EXPECT_EQ(app.exitCode(), 2);
    EXPECT_TRUE(QString::fromUtf8(app.readAllStandardError()).contains(QStringLiteral("unknown view 'nonsense'")));

    app.start(QStringLiteral(VITSCOPE_APP_PATH), {QStringLiteral("--help")});
    ASSERT_TRUE(app.waitForFinished(30000));
    const QString help = QString::fromUtf8(app.readAllStandardOutput());
    for (const char *opt : {"--screenshots", "--view", "--presentation", "--version", "paths"})
        EXPECT_TRUE(help.contains(QLatin1String(opt))) << opt;
}

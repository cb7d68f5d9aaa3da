// The app's views, driven the way a user drives them, on the offscreen platform. Expected
// values come from the definitions (MAE's keep = floor(L * (1 - ratio)), grid masking keeps
// one patch per 2 x 2 cell, softmax sums to one), not from the code under test.
#include <gtest/gtest.h>

#include <algorithm>

#include <QApplication>
#include <QCheckBox>
#include <QDir>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QFile>
#include <QLabel>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProcess>
#include <QSettings>
#include <QTabWidget>
#include <QTest>
#include <QUrl>

#include <cmath>
#include <filesystem>
#include <functional>

#include "common/temp_dir.h"
#include "gui/views_common.h"
#ifdef VITSCOPE_WITH_HUB
#include "common/fake_hub.h"
#endif
#include "src/engine/engine.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/widgets.h"
#include "src/gui/mae_explorer/mae_explorer_view.h"
#include "src/gui/common/patch_image_widget.h"
#include "src/gui/main_window.h"
#include "src/gui/common/model_registry.h"
#include "src/gui/models_view/get_model_dialog.h"
#include "src/gui/models_view/models_view.h"
#include "src/gui/training/experiments_view.h"
#include "src/gui/training/run_follower.h"
#include "src/gui/training/training_view.h"
#include "src/gui/zero_shot/zero_shot_view.h"

using namespace vitscope::gui;
using vitscope::test::TempDir;
using vitscope::test::haveFashionMnist;
using vitscope::test::makeWindow;
using vitscope::test::waitFor;

namespace {




// Patches of the masked panel that are one flat mid-grey: the removed ones.
int greyPatches(const QImage &masked, int grid)
{
    const int p = masked.width() / grid;
    int count = 0;
    for (int r = 0; r < grid; ++r)
        for (int c = 0; c < grid; ++c) {
            const int v = qGray(masked.pixel(c * p, r * p));
            bool flat = v >= 120 && v <= 136;
            for (int y = 0; y < p && flat; ++y)
                for (int x = 0; x < p && flat; ++x)
                    flat = qGray(masked.pixel(c * p + x, r * p + y)) == v;
            count += flat;
        }
    return count;
}

int removedCount(const MaeExplorerView *v)
{
    const auto &r = v->lastResult().removed;
    return int(std::count(r.begin(), r.end(), 1));
}

void drop(QWidget *target, const QList<QUrl> &urls)
{
    auto *mime = new QMimeData;
    mime->setUrls(urls);
    QDragEnterEvent enter(QPoint(10, 10), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &enter);
    ASSERT_TRUE(enter.isAccepted());
    QDropEvent dropEvent(QPointF(10, 10), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
    QApplication::sendEvent(target, &dropEvent);
    delete mime;
}

QString sampleImagePng(const TempDir &dir, const std::string &name)
{
    const auto grid = vitscope::engine::loadFashionMnistSamples("", 1);
    const QString path = QString::fromStdString(dir.file(name));
    toQImage(grid.samples[1].image).save(path); // the first Trouser of the test split
    return path;
}

} // namespace


TEST_F(Views, ChangingTheStrategyChangesTheMaskedPanel)
{
    auto *mae = window->maeExplorer();
    window->showView(QStringLiteral("mae"));
    ASSERT_TRUE(waitFor([&] { return mae->hasResult() && !mae->isBusy(); }));
    mae->setStrategy(QStringLiteral("random"));
    mae->setRatioPercent(75);
    ASSERT_TRUE(waitFor([&] { return !mae->isBusy() && mae->lastResult().strategy == "random"; }));
    const QImage randomMasked = mae->panelImage(QStringLiteral("Masked"));
    ASSERT_FALSE(randomMasked.isNull());

    mae->setStrategy(QStringLiteral("grid"));
    ASSERT_TRUE(waitFor([&] { return !mae->isBusy() && mae->lastResult().strategy == "grid"; }));
    const QImage gridMasked = mae->panelImage(QStringLiteral("Masked"));
    EXPECT_NE(gridMasked, randomMasked);
    // Grid masking (2 x 2 cells): exactly one visible patch per cell, at the same offset.
    const auto &removed = mae->lastResult().removed;
    const int g = mae->lastResult().grid;
    ASSERT_EQ(int(removed.size()), g * g);
    int offset = -1;
    for (int cr = 0; cr < g / 2; ++cr)
        for (int cc = 0; cc < g / 2; ++cc) {
            int visible = 0, where = -1;
            for (int k = 0; k < 4; ++k)
                if (!removed[std::size_t((2 * cr + k / 2) * g + 2 * cc + k % 2)])
                    ++visible, where = k;
            EXPECT_EQ(visible, 1) << "cell " << cr << "," << cc;
            if (offset < 0)
                offset = where;
            EXPECT_EQ(where, offset);
        }
    EXPECT_EQ(greyPatches(gridMasked, g), g * g * 3 / 4);

    mae->setStrategy(QStringLiteral("block"));
    ASSERT_TRUE(waitFor([&] { return !mae->isBusy() && mae->lastResult().strategy == "block"; }));
    EXPECT_NE(mae->panelImage(QStringLiteral("Masked")), gridMasked);
}

TEST_F(Views, RatioSliderRemovesTheMatchingNumberOfPatches)
{
    auto *mae = window->maeExplorer();
    window->showView(QStringLiteral("mae"));
    mae->setStrategy(QStringLiteral("random"));
    ASSERT_TRUE(waitFor([&] { return mae->hasResult() && !mae->isBusy(); }));
    const int L = mae->lastResult().grid * mae->lastResult().grid;
    ASSERT_EQ(L, 64); // fmnist-mae: 32 x 32 input, 4 px patches
    for (int percent : {0, 10, 25, 50, 75, 90, 95}) {
        auto *slider = window->findChild<QSlider *>(QStringLiteral("ratioSlider"));
        ASSERT_NE(slider, nullptr);
        slider->setValue(percent); // what dragging does
        const int expected = L - int(std::floor(L * (1.0 - percent / 100.0) + 1e-9));
        ASSERT_TRUE(waitFor([&] { return !mae->isBusy() && removedCount(mae) == expected; }, 20000))
            << percent << "%: expected " << expected << " removed, got " << removedCount(mae);
        EXPECT_EQ(greyPatches(mae->panelImage(QStringLiteral("Masked")), 8), expected) << percent << "%";
    }
}

TEST_F(Views, SliderMovesFasterThanTheModelDrawOnlyTheLatest)
{
    auto *mae = window->maeExplorer();
    mae->setStrategy(QStringLiteral("random"));
    ASSERT_TRUE(waitFor([&] { return mae->hasResult() && !mae->isBusy(); }));
    int shown = 0;
    QObject::connect(mae, &MaeExplorerView::resultShown, mae, [&] { ++shown; });
    for (int percent = 10; percent <= 90; ++percent)
        mae->setRatioPercent(percent); // 81 requests without returning to the event loop
    ASSERT_TRUE(waitFor([&] { return !mae->isBusy(); }));
    EXPECT_EQ(removedCount(mae), 64 - int(std::floor(64 * 0.1 + 1e-9)));
    EXPECT_LE(shown, 3); // the one in flight, then the latest
}

TEST_F(Views, ClickingAPatchTogglesItIntoACustomMask)
{
    auto *mae = window->maeExplorer();
    window->showView(QStringLiteral("mae"));
    ASSERT_TRUE(waitFor([&] { return mae->hasResult() && !mae->isBusy(); }));
    PatchImageWidget *masked = nullptr;
    for (auto *p : window->findChildren<PatchImageWidget *>(QStringLiteral("maePanel")))
        if (p->title() == QLatin1String("Masked"))
            masked = p;
    ASSERT_NE(masked, nullptr);
    const auto before = mae->lastResult().removed;
    const QRect r = masked->imageRect();
    const int index = 9; // row 1, column 1
    const QPoint centre(r.left() + int((1.5) * r.width() / 8), r.top() + int((1.5) * r.height() / 8));
    QTest::mouseClick(masked, Qt::LeftButton, Qt::NoModifier, centre);
    ASSERT_TRUE(waitFor([&] { return !mae->isBusy() && mae->lastResult().strategy == "custom"; }));
    const auto after = mae->lastResult().removed;
    EXPECT_EQ(mae->currentStrategy(), QStringLiteral("custom"));
    for (int i = 0; i < 64; ++i)
        EXPECT_EQ(after[std::size_t(i)], i == index ? 1 - before[std::size_t(i)] : before[std::size_t(i)]) << i;
}

TEST_F(Views, TypingANewClassNameAddsABarAndChangesTheProbabilities)
{
    auto *zs = window->zeroShot();
    window->showView(QStringLiteral("zeroshot"));
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() == 20 && !zs->isBusy() && zs->currentBars().size() == 10; }));
    const auto before = zs->currentBars();
    double sum = 0;
    for (const auto &b : before)
        sum += b.second;
    EXPECT_NEAR(sum, 1.0, 1e-4);
    for (int i = 1; i < before.size(); ++i)
        EXPECT_GE(before[i - 1].second, before[i].second); // highest first

    auto *edit = window->findChild<QPlainTextEdit *>(QStringLiteral("classesEdit"));
    ASSERT_NE(edit, nullptr);
    edit->setFocus();
    edit->moveCursor(QTextCursor::End);
    QTest::keyClick(edit, Qt::Key_Return);
    QTest::keyClicks(edit, QStringLiteral("handbag"));
    ASSERT_TRUE(waitFor([&] { return !zs->isBusy() && zs->currentBars().size() == 11; }));
    const auto after = zs->currentBars();
    bool hasNew = false;
    double afterSum = 0;
    for (const auto &b : after) {
        hasNew = hasNew || b.first == QLatin1String("handbag");
        afterSum += b.second;
    }
    EXPECT_TRUE(hasNew);
    EXPECT_NEAR(afterSum, 1.0, 1e-4);
    // Adding a competitor can only take probability away from the old classes.
    double oldMass = 0;
    for (const auto &b : after)
        if (b.first != QLatin1String("handbag"))
            oldMass += b.second;
    float newProb = 0;
    for (const auto &b : after)
        if (b.first == QLatin1String("handbag"))
            newProb = b.second;
    EXPECT_GT(newProb, 0.f);
    EXPECT_NEAR(oldMass, 1.0 - newProb, 1e-4);
    EXPECT_LT(oldMass, 1.0);
}

// The bf16 switch recomputes the class embeddings and every image's on bfloat16 weights:
// the same top classes, the shown image's probabilities within the tolerance
// docs/performance.md states (0.01), and back to exactly float32's when switched off.
TEST_F(Views, Bf16SwitchKeepsThePredictions)
{
    auto *zs = window->zeroShot();
    window->showView(QStringLiteral("zeroshot"));
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() == 20 && !zs->isBusy() && zs->currentBars().size() == 10; }));
    auto *check = window->findChild<QCheckBox *>(QStringLiteral("bf16Check"));
    ASSERT_NE(check, nullptr);
    EXPECT_EQ(check->isEnabled(), zs->bf16Available());
    const auto before = zs->currentBars();
    // The top class of every thumbnail: its text's first line up to the percentage.
    const auto topClasses = [&] {
        QStringList out;
        for (int row = 0; row < zs->thumbnailCount(); ++row)
            out << zs->thumbnailText(row).section(QLatin1Char('\n'), 0, 0).section(QLatin1Char(' '), 0, -2);
        return out;
    };
    const QStringList topBefore = topClasses();
    ASSERT_EQ(topBefore.size(), 20);
    EXPECT_FALSE(topBefore[0].isEmpty());
    const int updates = zs->classEmbeddingUpdates();
    zs->setBf16Weights(true);
    const auto settled = [&](int since) {
        return waitFor([&] {
            return !zs->isBusy() && zs->classEmbeddingUpdates() > since && zs->imageCount() == 20 &&
                   zs->currentBars().size() == 10;
        });
    };
    ASSERT_TRUE(settled(updates));
    EXPECT_EQ(topClasses(), topBefore);
    const auto on = zs->currentBars();
    ASSERT_EQ(on.size(), before.size());
    EXPECT_EQ(on[0].first, before[0].first);
    double largest = 0;
    for (const auto &b : before)
        for (const auto &o : on)
            if (o.first == b.first)
                largest = std::max(largest, double(std::abs(o.second - b.second)));
    EXPECT_LT(largest, 0.01);
    auto *info = window->findChild<QLabel *>(QStringLiteral("promptInfo"));
    ASSERT_NE(info, nullptr);
    EXPECT_TRUE(info->text().contains(zs->bf16Available() ? QStringLiteral("bfloat16") : QStringLiteral("float32")))
        << info->text().toStdString();
    const int onUpdates = zs->classEmbeddingUpdates();
    zs->setBf16Weights(false);
    ASSERT_TRUE(settled(onUpdates));
    EXPECT_EQ(topClasses(), topBefore);
    const auto off = zs->currentBars();
    ASSERT_EQ(off.size(), before.size());
    for (int i = 0; i < off.size(); ++i) {
        EXPECT_EQ(off[i].first, before[i].first);
        EXPECT_EQ(off[i].second, before[i].second) << "float32 again is float32's result";
    }
}

TEST_F(Views, DroppingAnImageAddsAThumbnailWithAPrediction)
{
    TempDir tmp;
    auto *zs = window->zeroShot();
    window->showView(QStringLiteral("zeroshot"));
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() == 20 && !zs->isBusy(); }));
    const QString png = sampleImagePng(tmp, "trouser.png");
    drop(zs, {QUrl::fromLocalFile(png)});
    ASSERT_TRUE(waitFor([&] { return zs->thumbnailCount() == 21 && !zs->isBusy(); }));
    const QString text = zs->thumbnailText(20);
    EXPECT_TRUE(text.contains(QLatin1Char('%'))) << text.toStdString();
    EXPECT_TRUE(text.startsWith(QStringLiteral("Trouser"))) << text.toStdString(); // the bundled CLIP gets trousers right
    EXPECT_TRUE(zs->messageText().isEmpty()) << zs->messageText().toStdString();
}

TEST_F(Views, DroppingBadFilesShowsMessagesAndTheAppKeepsGoing)
{
    TempDir tmp;
    auto *zs = window->zeroShot();
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() == 20 && !zs->isBusy(); }));
    vitscope::test::writeBytes(tmp.file("notes.txt"), "these are not pixels\n");
    vitscope::test::writeBytes(tmp.file("empty.png"), "");
    const QString good = sampleImagePng(tmp, "good.png");
    const std::string bytes = vitscope::test::readBytes(good.toStdString());
    vitscope::test::writeBytes(tmp.file("truncated.png"), bytes.substr(0, bytes.size() / 2));

    drop(zs, {QUrl::fromLocalFile(QString::fromStdString(tmp.file("notes.txt")))});
    ASSERT_TRUE(waitFor([&] { return !zs->messageText().isEmpty() && !zs->isBusy(); }));
    EXPECT_TRUE(zs->messageText().contains(QStringLiteral("notes.txt"))) << zs->messageText().toStdString();
    EXPECT_TRUE(zs->messageText().contains(QStringLiteral("not an image"))) << zs->messageText().toStdString();
    EXPECT_EQ(zs->thumbnailCount(), 20);

    drop(zs, {QUrl::fromLocalFile(QString::fromStdString(tmp.file("empty.png"))),
              QUrl::fromLocalFile(QString::fromStdString(tmp.file("truncated.png")))});
    ASSERT_TRUE(waitFor([&] { return zs->messageText().contains(QStringLiteral("empty.png")) && !zs->isBusy(); }))
        << zs->messageText().toStdString();
    EXPECT_TRUE(zs->messageText().contains(QStringLiteral("0 bytes"))) << zs->messageText().toStdString();
    EXPECT_TRUE(zs->messageText().contains(QStringLiteral("truncated.png"))) << zs->messageText().toStdString();
    EXPECT_EQ(zs->thumbnailCount(), 20);

    // The MAE explorer says the same and keeps its image.
    auto *mae = window->maeExplorer();
    ASSERT_TRUE(waitFor([&] { return mae->hasResult() && !mae->isBusy(); }));
    const QImage shown = mae->panelImage(QStringLiteral("Original"));
    drop(mae, {QUrl::fromLocalFile(QString::fromStdString(tmp.file("notes.txt")))});
    ASSERT_TRUE(waitFor([&] { return mae->messageText().contains(QStringLiteral("notes.txt")); }));
    EXPECT_EQ(mae->panelImage(QStringLiteral("Original")), shown);
    EXPECT_TRUE(window->isVisible());
}

TEST_F(Views, FolderWithClassSubfoldersGivesAccuracyAndConfusion)
{
    TempDir tmp;
    auto *zs = window->zeroShot();
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() == 20 && !zs->isBusy(); }));
    zs->clearImages();
    const auto grid = vitscope::engine::loadFashionMnistSamples("", 3);
    for (const auto &s : grid.samples) {
        if (s.className != "Trouser" && s.className != "Bag")
            continue;
        QDir().mkpath(QString::fromStdString(tmp.file(s.className)));
        toQImage(s.image).save(QString::fromStdString(tmp.file(s.className + "/" + std::to_string(s.index) + ".png")));
    }
    zs->setClassText(QStringLiteral("Trouser, Bag"));
    zs->addFiles({QString::fromStdString(tmp.path().string())});
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() == 6 && !zs->isBusy(); }));
    EXPECT_TRUE(zs->summaryText().contains(QStringLiteral("6 with a true class"))) << zs->summaryText().toStdString();
    EXPECT_TRUE(zs->confusionVisible());
}

TEST_F(Views, BadModelFolderShowsTheCoresMessage)
{
    TempDir tmp;
    auto *models = window->modelsView();
    const QString bad = QString::fromStdString(tmp.file("broken-model"));
    QDir().mkpath(bad);
    vitscope::test::writeBytes(tmp.file("broken-model/config.json"), "{\"model_type\": \"clip\", ");
    models->loadModel(bad);
    ASSERT_TRUE(waitFor([&] { return !models->messageText().isEmpty(); })) << models->statusOf(bad).toStdString();
    EXPECT_TRUE(models->messageText().contains(QStringLiteral("config.json"))) << models->messageText().toStdString();
    EXPECT_EQ(models->statusOf(bad), QStringLiteral("failed"));
    EXPECT_EQ(window->models()->models().size(), 2u);

    const QString bert = QString::fromStdString(tmp.file("bert"));
    QDir().mkpath(bert);
    vitscope::test::writeBytes(tmp.file("bert/config.json"), "{\"model_type\": \"bert\"}");
    models->loadModel(bert);
    ASSERT_TRUE(waitFor([&] { return models->messageText().contains(QStringLiteral("bert")); }));
    EXPECT_TRUE(models->messageText().contains(QStringLiteral("neither an MAE"))) << models->messageText().toStdString();
}

TEST_F(Views, DroppedCheckpointFilesLoadInTheModelsView)
{
    // What a drop does: the window's openPaths with the dropped files.
    const QString dir = QStringLiteral(VITSCOPE_SOURCE_DIR "/tests/fixtures/checkpoints/");
    const QString fair = dir + QStringLiteral("mae_fair_full.pth");
    auto *models = window->modelsView();
    window->openPaths({fair});
    ASSERT_TRUE(waitFor([&] { return models->statusOf(fair).startsWith(QStringLiteral("loaded")); }))
        << models->statusOf(fair).toStdString() << " " << models->messageText().toStdString();
    const ModelEntry *entry = window->models()->find(fair);
    ASSERT_TRUE(entry);
    EXPECT_EQ(entry->info.kind, "mae");
    EXPECT_NE(entry->info.format.find("FAIR MAE"), std::string::npos) << entry->info.format;
    EXPECT_FALSE(entry->info.provenance.empty());

    // A hostile pickle: refused with the file's name, the app carries on.
    const QString evil = dir + QStringLiteral("hostile/os_system.pt");
    window->openPaths({evil});
    ASSERT_TRUE(waitFor([&] { return models->statusOf(evil) == QStringLiteral("failed"); }));
    EXPECT_TRUE(models->messageText().contains(QStringLiteral("os_system.pt"))) << models->messageText().toStdString();
    EXPECT_TRUE(models->messageText().contains(QStringLiteral("runs code"))) << models->messageText().toStdString();
    EXPECT_FALSE(QFileInfo::exists(QStringLiteral("/tmp/vitscope-fixture-pwned")));
}

#ifdef VITSCOPE_WITH_HUB
TEST_F(Views, GetModelDialogShowsSizesThenDownloadsAndLoads)
{
    vitscope::test::FakeHub server;
    const std::string dir = VITSCOPE_SOURCE_DIR "/tests/fixtures/checkpoints/mae_hf_bin/";
    for (const char *name : {"config.json", "pytorch_model.bin"}) {
        QFile f(QString::fromStdString(dir + name));
        ASSERT_TRUE(f.open(QIODevice::ReadOnly));
        server.addFile("org/tiny-mae", name, f.readAll().toStdString(), std::string(name) == "pytorch_model.bin");
    }
    TempDir home;
    setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
    setenv("HF_HOME", home.path().c_str(), 1);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HUB_OFFLINE");
    auto *dialog = window->modelsView()->openGetModelDialog();
    dialog->setModelId(QStringLiteral("org/tiny-mae"));
    // Sizes before anything is downloaded.
    ASSERT_TRUE(waitFor([&] { return dialog->infoText().contains(QStringLiteral("pytorch_model.bin")); }))
        << dialog->infoText().toStdString();
    EXPECT_TRUE(dialog->infoText().contains(QStringLiteral("to download"))) << dialog->infoText().toStdString();
    EXPECT_EQ(server.blobBodies, 0);
    const std::size_t before = window->models()->models().size();
    dialog->startDownload();
    ASSERT_TRUE(waitFor([&] { return window->models()->models().size() == before + 1; }))
        << window->modelsView()->messageText().toStdString();
    const auto &entry = window->models()->models().back();
    EXPECT_EQ(entry.info.kind, "mae");
    EXPECT_NE(entry.info.dir.find("models--org--tiny-mae/snapshots/"), std::string::npos) << entry.info.dir;
    EXPECT_EQ(server.blobBodies, 1);

    // A model that does not exist: one line in the dialog, the app carries on.
    dialog->setModelId(QStringLiteral("org/absent"));
    ASSERT_TRUE(waitFor([&] { return dialog->infoText().contains(QStringLiteral("repository not found")); }))
        << dialog->infoText().toStdString();
    dialog->hide();
    unsetenv("HF_ENDPOINT");
    unsetenv("HF_HOME");
}
#endif

TEST_F(Views, ShortTrainingRunAddsPointsToTheCurve)
{
    TempDir tmp;
    auto *training = window->training();
    training->setRunsDir(QString::fromStdString(tmp.path().string()));
    vitscope::engine::TrainRequest q;
    q.kind = "mae";
    q.limit = 256;
    q.epochs = 1;
    q.batch = 64;
    q.lr = 1.5e-3;
    q.warmupEpochs = 0;
    q.logEvery = 1;
    q.evalLimit = 200;
    training->startWith(q);
    ASSERT_TRUE(training->isTraining());
    ASSERT_TRUE(waitFor([&] { return !training->isTraining(); }, 240000));
    ASSERT_EQ(training->lastOutcome(), QStringLiteral("finished")) << training->messageText().toStdString();
    // 256 images in full batches of 64, one metrics line per step.
    ASSERT_TRUE(waitFor([&] { return training->curvePointCount() == 4; }, 5000)) << training->curvePointCount();
    const auto *loss = training->lossPlot();
    ASSERT_GE(loss->graphCount(), 1);
    EXPECT_EQ(loss->graph(loss->graphCount() - 1)->dataCount(), 4);
    const QStringList runs = QDir(QString::fromStdString(tmp.path().string())).entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    ASSERT_EQ(runs.size(), 1);
    EXPECT_TRUE(QFile::exists(QString::fromStdString(tmp.path().string()) + QLatin1Char('/') + runs[0] +
                              QStringLiteral("/model/model.safetensors")));
}

TEST_F(Views, ClosingTheWindowDuringTrainingKeepsACheckpoint)
{
    TempDir tmp;
    auto *training = window->training();
    training->setRunsDir(QString::fromStdString(tmp.path().string()));
    vitscope::engine::TrainRequest q;
    q.kind = "mae";
    q.limit = 6400;
    q.epochs = 2;
    q.batch = 64;
    q.logEvery = 1;
    q.evalLimit = 100;
    training->startWith(q);
    ASSERT_TRUE(waitFor([&] { return training->curvePointCount() >= 2; }, 120000));
    window->close(); // stops the worker; the trainer saves a checkpoint
    EXPECT_FALSE(training->isTraining());
    const QDir runs(QString::fromStdString(tmp.path().string()));
    const QStringList dirs = runs.entryList(QDir::Dirs | QDir::NoDotAndDotDot);
    ASSERT_EQ(dirs.size(), 1);
    const QStringList checkpoints =
        QDir(runs.filePath(dirs[0]) + QStringLiteral("/checkpoints")).entryList({QStringLiteral("*.safetensors")});
    EXPECT_EQ(checkpoints.size(), 1) << checkpoints.join(QLatin1Char(' ')).toStdString();
}

TEST_F(Views, LastChoicesComeBackInTheNextSession)
{
    auto *mae = window->maeExplorer();
    mae->setStrategy(QStringLiteral("block"));
    mae->setRatioPercent(40);
    mae->setSeed(7);
    window->zeroShot()->setClassText(QStringLiteral("cat\ndog"));
    window->showView(QStringLiteral("training"));
    window->close(); // saves
    MainWindow::Options o;
    o.loadBundled = false;
    MainWindow next(o);
    EXPECT_EQ(next.maeExplorer()->currentStrategy(), QStringLiteral("block"));
    EXPECT_EQ(next.maeExplorer()->ratioPercent(), 40);
    EXPECT_EQ(next.zeroShot()->classText(), QStringLiteral("cat\ndog"));
    EXPECT_EQ(next.findChild<QTabWidget *>(QStringLiteral("views"))->currentWidget(), next.training());
    next.zeroShot()->setClassText(QString()); // leave the next test the defaults
    next.close();
    QSettings().clear();
}

TEST_F(Views, PresentationModeEnlargesTheFont)
{
    const double base = QApplication::font().pointSizeF();
    window->setPresentationMode(true);
    EXPECT_NEAR(QApplication::font().pointSizeF(), base * 1.6, 0.01);
    window->setPresentationMode(false);
    EXPECT_NEAR(QApplication::font().pointSizeF(), base, 0.01);
}

TEST_F(Views, PauseHoldsTheRunAndStopKeepsACheckpointThatResumes)
{
    TempDir tmp;
    auto *training = window->training();
    training->setRunsDir(QString::fromStdString(tmp.path().string()));
    vitscope::engine::TrainRequest q;
    q.limit = 1280;
    q.epochs = 1;
    q.batch = 64; // 20 steps
    q.logEvery = 1;
    q.evalLimit = 100;
    training->startWith(q);
    ASSERT_TRUE(waitFor([&] { return training->curvePointCount() >= 1; }, 120000));
    QElapsedTimer clock;
    clock.start();
    ASSERT_TRUE(waitFor([&] { return training->curvePointCount() >= 2; }, 120000));
    // One step as this build runs it (a sanitizer build is many times slower), plus the
    // follower's 0.5 s poll: the windows below scale with it.
    const int window = int(std::max<qint64>(1500, 3 * clock.elapsed()));
    training->pause(true);
    // The step in flight finishes and its line is followed; then nothing more comes.
    int held = training->curvePointCount();
    for (int tries = 0; tries < 10; ++tries) {
        QTest::qWait(window);
        if (training->curvePointCount() == held)
            break;
        held = training->curvePointCount();
    }
    QTest::qWait(window);
    EXPECT_EQ(training->curvePointCount(), held);
    EXPECT_TRUE(training->isTraining());
    training->stop(); // a stop while paused takes effect at once
    ASSERT_TRUE(waitFor([&] { return !training->isTraining(); }, 60000));
    EXPECT_EQ(training->lastOutcome(), QStringLiteral("stopped"));
    const QDir runs(QString::fromStdString(tmp.path().string()));
    const QString run = runs.filePath(runs.entryList(QDir::Dirs | QDir::NoDotAndDotDot).value(0));
    training->resume(run);
    ASSERT_TRUE(waitFor([&] { return !training->isTraining(); }, 120000));
    EXPECT_EQ(training->lastOutcome(), QStringLiteral("finished")) << training->messageText().toStdString();
    EXPECT_TRUE(QFile::exists(run + QStringLiteral("/model/model.safetensors")));
    ASSERT_TRUE(waitFor([&] { return training->curvePointCount() == 20; }, 5000)) << training->curvePointCount();
}

TEST_F(Views, CancellingALargeFolderStopsEarlyAndKeepsWhatWasDone)
{
    TempDir tmp;
    auto *zs = window->zeroShot();
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() == 20 && !zs->isBusy(); }));
    const auto grid = vitscope::engine::loadFashionMnistSamples("", 60);
    for (const auto &s : grid.samples)
        toQImage(s.image).scaled(224, 224).save(QString::fromStdString(tmp.file(std::to_string(s.index) + ".png")));
    zs->addFiles({QString::fromStdString(tmp.path().string())});
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() > 20; }, 60000)); // the first batch is in
    zs->cancel();
    ASSERT_TRUE(waitFor([&] { return !zs->isBusy(); }, 60000));
    EXPECT_LT(zs->imageCount(), 20 + 600);
    EXPECT_EQ(zs->thumbnailCount(), zs->imageCount());
    const int kept = zs->imageCount();
    QTest::qWait(300);
    EXPECT_EQ(zs->imageCount(), kept); // nothing arrives after the cancel
}

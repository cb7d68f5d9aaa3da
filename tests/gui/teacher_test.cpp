// A real model in front of a class: the model named on the command line (or opened in the
// Models view) becomes current in every view of its kind, --view wins over the view a path
// picks, the Zero-shot defaults follow the model (photo prompts and the demo photos'
// classes for a colour photo model, the held-out templates for the bundled one), and the
// demo photos load in every picker. Expectations come from the files (photos.json, the
// template file), not from the code under test.
#include <gtest/gtest.h>

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QListWidget>
#include <QProcess>
#include <QTabWidget>

#include "common/temp_dir.h"
#include "gui/views_common.h"
#ifdef VITSCOPE_WITH_HUB
#include "common/fake_hub.h"
#endif
#include "src/gui/common/model_registry.h"
#include "src/gui/inside/inside_view.h"
#include "src/gui/lessons/lesson.h"
#include "src/gui/lessons/lesson_player.h"
#include "src/gui/mae_explorer/mae_explorer_view.h"
#include "src/gui/main_window.h"
#include "src/gui/models_view/get_model_dialog.h"
#include "src/gui/models_view/models_view.h"
#include "src/gui/zero_shot/zero_shot_view.h"

using namespace vitscope::gui;
using vitscope::test::waitFor;
using vitscope::gui::Lesson;
using vitscope::gui::LessonError;
using vitscope::gui::Slide;
using vitscope::gui::readLesson;

namespace {

const QString kPhotoClip = QStringLiteral(VITSCOPE_SOURCE_DIR "/tests/fixtures/checkpoints/open_clip_photo_tiny");
const QString kPhotoMae = QStringLiteral(VITSCOPE_SOURCE_DIR "/tests/fixtures/checkpoints/mae_photo_tiny.pth");

QJsonArray demoPhotoList()
{
    QFile f(QStringLiteral(VITSCOPE_SOURCE_DIR "/resources/photos/photos.json"));
    if (!f.open(QIODevice::ReadOnly))
        return {};
    return QJsonDocument::fromJson(f.readAll()).object().value(QStringLiteral("photos")).toArray();
}

QWidget *currentView(MainWindow *w)
{
    return w->findChild<QTabWidget *>()->currentWidget();
}

} // namespace

TEST_F(Views, ModelGivenOnTheCommandLineIsCurrentInItsViewsAndTheDefaultsFollowIt)
{
    auto *zs = window->zeroShot();
    auto *inside = window->insideView();
    // The bundled CLIP: its held-out templates and Fashion-MNIST's classes.
    ASSERT_TRUE(waitFor([&] { return zs->currentModel() == QStringLiteral("fmnist-clip"); }));
    EXPECT_EQ(zs->templateSetName().toStdString(), "Fashion-MNIST held-out");
    EXPECT_EQ(zs->classPresetName().toStdString(), "Fashion-MNIST");

    window->openPaths({kPhotoClip}); // what `vitscope DIR` does
    ASSERT_TRUE(waitFor([&] { return zs->currentModel() == kPhotoClip; })) << zs->currentModel().toStdString();
    EXPECT_EQ(inside->currentModel(), kPhotoClip);
    EXPECT_EQ(window->models()->current(QStringLiteral("clip")), kPhotoClip);
    EXPECT_EQ(currentView(window.get()), static_cast<QWidget *>(zs)) << "a CLIP opens on Zero-shot once loaded";
    // A colour photo model: the paper's 80 ImageNet templates, ensembled, and the demo photos' classes.
    EXPECT_EQ(zs->templateSetName().toStdString(), "CLIP ImageNet ensemble (80)");
    const QJsonArray photos = demoPhotoList();
    ASSERT_GE(photos.size(), 10);
    QStringList labels;
    for (const auto &p : photos)
        labels << p.toObject().value(QStringLiteral("label")).toString();
    EXPECT_EQ(zs->classPresetName().toStdString(), "Demo photos");
    EXPECT_EQ(zs->classText(), labels.join(QLatin1Char('\n')));
    // Inside opens on the first demo photo, not a 28 x 28 garment.
    const QString firstTitle = photos[0].toObject().value(QStringLiteral("title")).toString();
    ASSERT_TRUE(waitFor([&] { return inside->imageName() == firstTitle && !inside->isBusy(); }))
        << inside->imageName().toStdString();

    // Back to the bundled one through the Models view: current again, its defaults again.
    window->modelsView()->loadModel(QStringLiteral("fmnist-clip"));
    ASSERT_TRUE(waitFor([&] { return zs->currentModel() == QStringLiteral("fmnist-clip"); }));
    EXPECT_EQ(zs->templateSetName().toStdString(), "Fashion-MNIST held-out");
    EXPECT_EQ(zs->classPresetName().toStdString(), "Fashion-MNIST");

    // What the user typed is theirs: a custom class list survives a model change.
    zs->setClassText(QStringLiteral("cat\ndog"));
    EXPECT_EQ(zs->classPresetName().toStdString(), "Custom");
    window->modelsView()->loadModel(kPhotoClip);
    ASSERT_TRUE(waitFor([&] { return zs->currentModel() == kPhotoClip; }));
    EXPECT_EQ(zs->classText().toStdString(), "cat\ndog");
    ASSERT_TRUE(waitFor([&] { return !window->isBusy(); }));
}

TEST_F(Views, ViewOptionWinsOverTheViewAPathPicks)
{
    window->openPaths({kPhotoClip});
    ASSERT_TRUE(window->showView(QStringLiteral("inside"))); // what --view does, after the paths
    ASSERT_TRUE(waitFor([&] { return window->zeroShot()->currentModel() == kPhotoClip; }));
    QTest::qWait(100);
    EXPECT_EQ(currentView(window.get()), static_cast<QWidget *>(window->insideView()));
    EXPECT_EQ(window->insideView()->currentModel(), kPhotoClip);
    ASSERT_TRUE(waitFor([&] { return !window->isBusy(); }));
}

TEST_F(Views, DemoPhotosLoadInEveryPicker)
{
    const QJsonArray photos = demoPhotoList();
    ASSERT_GE(photos.size(), 10);
    // Zero-shot: every photo, labelled; against the demo photos' preset, accuracy counts them all.
    auto *zs = window->zeroShot();
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() == 20 && !zs->isBusy(); }));
    zs->selectClassPreset(QStringLiteral("Demo photos"));
    zs->addDemoPhotos();
    ASSERT_TRUE(waitFor([&] { return zs->imageCount() == 20 + photos.size() && !zs->isBusy(); }))
        << zs->imageCount() << " " << zs->messageText().toStdString();
    EXPECT_TRUE(zs->messageText().isEmpty()) << zs->messageText().toStdString();

    // The explorer: "Demo photos" among the sources, the first photo drawn.
    auto *mae = window->maeExplorer();
    auto *source = mae->findChild<QComboBox *>(QStringLiteral("sourceCombo"));
    ASSERT_TRUE(source);
    const int demo = source->findText(QStringLiteral("Demo photos"));
    ASSERT_GE(demo, 0);
    source->setCurrentIndex(demo);
    Q_EMIT source->activated(demo);
    const QString first = photos[0].toObject().value(QStringLiteral("file")).toString();
    ASSERT_TRUE(waitFor([&] { return mae->imageName() == first && mae->hasResult() && !mae->isBusy(); }))
        << mae->imageName().toStdString() << " " << mae->messageText().toStdString();
    EXPECT_EQ(mae->sourceName().toStdString(), "Demo photos");

    // Inside: the photos after Fashion-MNIST's ten in its picker.
    auto *inside = window->insideView();
    const auto list = inside->findChildren<QListWidget *>();
    bool found = false;
    for (auto *l : list)
        if (l->count() == 10 + photos.size())
            found = true;
    EXPECT_TRUE(found) << "Inside's picker: Fashion-MNIST's ten and the demo photos";
}

// The explorer's source follows the model both ways: a 96-pixel colour MAE switches it from
// Fashion-MNIST's samples to the demo photos, the bundled 28 x 28 model switches it back;
// a source the user picked stays whatever the model.
TEST_F(Views, ExplorerSourceFollowsTheModelUnlessTheUserChoseIt)
{
    auto *mae = window->maeExplorer();
    auto *source = mae->findChild<QComboBox *>(QStringLiteral("sourceCombo"));
    ASSERT_TRUE(source);
    const int demo = source->findText(QStringLiteral("Demo photos"));
    ASSERT_GE(demo, 0);
    auto drawn = [&] { return mae->hasResult() && !mae->isBusy(); };
    ASSERT_TRUE(waitFor([&] { return mae->currentModel() == QStringLiteral("fmnist-mae") && drawn(); }));
    EXPECT_EQ(source->currentIndex(), 0);
    const QString firstPhoto = demoPhotoList()[0].toObject().value(QStringLiteral("file")).toString();

    window->openPaths({kPhotoMae}); // `vitscope mae_photo_tiny.pth`
    ASSERT_TRUE(waitFor([&] {
        return mae->currentModel() == window->models()->current(QStringLiteral("mae")) &&
               mae->currentModel() != QStringLiteral("fmnist-mae");
    })) << mae->currentModel().toStdString();
    ASSERT_TRUE(waitFor([&] { return mae->imageName() == firstPhoto && drawn(); }))
        << mae->imageName().toStdString() << " " << mae->messageText().toStdString();
    EXPECT_EQ(source->currentIndex(), demo);
    const QString photoModel = mae->currentModel();

    window->modelsView()->loadModel(QStringLiteral("fmnist-mae"));
    ASSERT_TRUE(waitFor([&] {
        return mae->currentModel() == QStringLiteral("fmnist-mae") && mae->imageName().contains(QStringLiteral("test #")) &&
               drawn();
    })) << mae->imageName().toStdString();
    EXPECT_EQ(source->currentIndex(), 0);

    // The user picks the demo photos for the 28 x 28 model: a model change no longer moves them.
    source->setCurrentIndex(demo);
    Q_EMIT source->activated(demo);
    ASSERT_TRUE(waitFor([&] { return mae->imageName() == firstPhoto && drawn(); }));
    window->modelsView()->loadModel(photoModel);
    ASSERT_TRUE(waitFor([&] { return mae->currentModel() == photoModel && drawn(); }));
    window->modelsView()->loadModel(QStringLiteral("fmnist-mae"));
    ASSERT_TRUE(waitFor([&] { return mae->currentModel() == QStringLiteral("fmnist-mae") && drawn(); }));
    QTest::qWait(200);
    EXPECT_EQ(source->currentIndex(), demo);
    EXPECT_EQ(mae->imageName(), firstPhoto);
    ASSERT_TRUE(waitFor([&] { return !window->isBusy(); }));
}

#ifdef VITSCOPE_WITH_HUB
TEST_F(Views, HubIdOnTheCommandLineDownloadsWithProgressAndBecomesCurrent)
{
    vitscope::test::FakeHub server;
    const std::string dir = VITSCOPE_SOURCE_DIR "/tests/fixtures/checkpoints/mae_hf_bin/";
    for (const char *name : {"config.json", "pytorch_model.bin"}) {
        QFile f(QString::fromStdString(dir + name));
        ASSERT_TRUE(f.open(QIODevice::ReadOnly));
        server.addFile("org/tiny-mae", name, f.readAll().toStdString(), std::string(name) == "pytorch_model.bin");
    }
    vitscope::test::TempDir home;
    setenv("HF_ENDPOINT", server.endpoint().c_str(), 1);
    setenv("HF_HOME", home.path().c_str(), 1);
    unsetenv("HF_HUB_CACHE");
    unsetenv("HF_HUB_OFFLINE");
    window->openPaths({QStringLiteral("org/tiny-mae")}); // `vitscope org/tiny-mae`
    auto *dialog = window->modelsView()->openGetModelDialog();
    EXPECT_EQ(dialog->modelId().toStdString(), "org/tiny-mae");
    ASSERT_TRUE(waitFor([&] { return window->models()->current(QStringLiteral("mae")).contains(QStringLiteral("tiny-mae")); }))
        << dialog->infoText().toStdString() << " " << window->modelsView()->messageText().toStdString();
    EXPECT_EQ(window->maeExplorer()->currentModel(), window->models()->current(QStringLiteral("mae")));
    EXPECT_EQ(server.blobBodies, 1);
    dialog->hide();
    ASSERT_TRUE(waitFor([&] { return !window->isBusy(); }));
    unsetenv("HF_ENDPOINT");
    unsetenv("HF_HOME");
}
#endif

namespace {

// A three-slide lesson in `dir`, its one photo beside it in photos/.
QString writeThreeSlideLesson(const vitscope::test::TempDir &dir)
{
    QDir().mkpath(QString::fromStdString(dir.file("photos")));
    QFile::copy(QStringLiteral(VITSCOPE_SOURCE_DIR "/resources/photos/cat.jpg"),
                QString::fromStdString(dir.file("photos/cat.jpg")));
    const QString path = QString::fromStdString(dir.file("lesson.json"));
    QFile f(path);
    f.open(QIODevice::WriteOnly);
    f.write(R"({"format": "vitscope-lesson", "version": 1, "title": "test", "slides": [
      {"title": "one", "view": "mae", "model": "fmnist-mae", "image": "photos/cat.jpg",
       "mae": {"strategy": "block", "ratio": 60, "seed": 7, "compare": false}},
      {"title": "two", "view": "zeroshot", "model": "fmnist-clip", "image": "photos/missing.png",
       "zeroshot": {"classes": ["cat", "dog", "Bag"], "template_set": "a photo of a {}.", "ensemble": false}},
      {"title": "three", "view": "inside", "model": "fmnist-clip",
       "inside": {"mode": "rollout", "layer": 2, "head": 1}}]})");
    return path;
}

} // namespace

TEST_F(Views, ALessonRestoresEachSlideAndAMissingImageDoesNotStopIt)
{
    vitscope::test::TempDir dir;
    const QString path = writeThreeSlideLesson(dir);
    auto *player = window->lessons();
    auto *mae = window->maeExplorer();
    auto *zs = window->zeroShot();
    auto *inside = window->insideView();
    window->openPaths({path}); // `vitscope lesson.json`
    ASSERT_EQ(player->count(), 3);
    ASSERT_EQ(player->current(), 0);
    // Slide 1: the explorer's request is the slide's.
    ASSERT_TRUE(waitFor([&] { return mae->imageName() == QStringLiteral("cat.jpg") && mae->hasResult() && !mae->isBusy(); }))
        << mae->imageName().toStdString() << " " << mae->messageText().toStdString();
    EXPECT_EQ(currentView(window.get()), static_cast<QWidget *>(mae));
    EXPECT_EQ(mae->currentModel().toStdString(), "fmnist-mae");
    EXPECT_EQ(mae->currentStrategy().toStdString(), "block");
    EXPECT_EQ(mae->ratioPercent(), 60);
    EXPECT_EQ(mae->seed(), 7);
    EXPECT_EQ(mae->lastResult().strategy, "block");
    EXPECT_TRUE(player->problem().isEmpty()) << player->problem().toStdString();

    // Slide 2: its image is missing; named, and the rest of the slide is restored.
    player->next();
    ASSERT_TRUE(waitFor([&] { return !player->isSettling(); }));
    EXPECT_EQ(currentView(window.get()), static_cast<QWidget *>(zs));
    EXPECT_TRUE(player->problem().contains(QStringLiteral("missing.png"))) << player->problem().toStdString();
    EXPECT_EQ(zs->classText().toStdString(), "cat\ndog\nBag");
    EXPECT_EQ(zs->templateSetName().toStdString(), "a photo of a {}.");
    EXPECT_EQ(zs->templates(), QStringList{QStringLiteral("a photo of a {}.")});
    EXPECT_FALSE(zs->ensemble());
    ASSERT_TRUE(waitFor([&] { return !zs->isBusy() && zs->currentBars().size() == 3; }));

    // Slide 3 still plays: Inside at layer 3 (0-based 2), head 2, rollout.
    player->next();
    ASSERT_TRUE(waitFor([&] { return !player->isSettling(); }));
    EXPECT_TRUE(player->problem().isEmpty()) << player->problem().toStdString();
    EXPECT_EQ(currentView(window.get()), static_cast<QWidget *>(inside));
    ASSERT_TRUE(waitFor([&] { return inside->result() && !inside->isBusy(); }));
    EXPECT_EQ(inside->currentModel().toStdString(), "fmnist-clip");
    EXPECT_EQ(inside->mode(), InsideView::Mode::Rollout);
    EXPECT_EQ(inside->layer(), 2);
    EXPECT_EQ(inside->head(), 1);

    // Back: slide 1's request again; past the end nothing moves.
    player->next();
    EXPECT_EQ(player->current(), 2);
    player->previous();
    player->previous();
    ASSERT_TRUE(waitFor([&] { return !player->isSettling() && !mae->isBusy(); }));
    EXPECT_EQ(currentView(window.get()), static_cast<QWidget *>(mae));
    EXPECT_EQ(mae->currentStrategy().toStdString(), "block");
    EXPECT_EQ(mae->ratioPercent(), 60);

    // Capture the explorer as a slide, save, read back: the same slide, the image relative.
    const Slide captured = player->capture();
    EXPECT_EQ(captured.view.toStdString(), "mae");
    EXPECT_EQ(captured.model.toStdString(), "fmnist-mae");
    EXPECT_EQ(captured.strategy.value_or(QString()).toStdString(), "block");
    EXPECT_EQ(captured.ratioPercent.value_or(-1), 60);
    EXPECT_EQ(captured.seed.value_or(-1), 7);
    player->addSlide(captured);
    const QString saved = QString::fromStdString(dir.file("sub/saved.json"));
    QDir().mkpath(QString::fromStdString(dir.file("sub")));
    player->save(saved);
    const Lesson back = readLesson(saved);
    ASSERT_EQ(back.slides.size(), 4u);
    EXPECT_EQ(back.slides[0].image.toStdString(), "../photos/cat.jpg");
    EXPECT_EQ(back.slides[3].image.toStdString(), "../photos/cat.jpg");
    EXPECT_EQ(back.slides[3].seed.value_or(-1), 7);
    EXPECT_EQ(back.slides[1].classes.value_or(QStringList()), (QStringList{QStringLiteral("cat"), QStringLiteral("dog"), QStringLiteral("Bag")}));
    ASSERT_TRUE(waitFor([&] { return !window->isBusy(); }));
}

TEST_F(Views, TheExampleLessonPlaysThrough)
{
    auto *player = window->lessons();
    player->open(QStringLiteral(VITSCOPE_SOURCE_DIR "/resources/lessons/first-lesson.json"));
    ASSERT_GE(player->count(), 5);
    for (int i = 0; i < player->count(); ++i) {
        player->show(i);
        ASSERT_TRUE(waitFor([&] { return !player->isSettling() && !window->isBusy(); }, 60000)) << "slide " << i + 1;
        EXPECT_TRUE(player->problem().isEmpty()) << "slide " << i + 1 << ": " << player->problem().toStdString();
    }
}

TEST(LessonFile, BadFilesAreNamedWithWhatIsWrong)
{
    vitscope::test::TempDir dir;
    auto write = [&](const char *name, const char *text) {
        const QString p = QString::fromStdString(dir.file(name));
        QFile f(p);
        f.open(QIODevice::WriteOnly);
        f.write(text);
        return p;
    };
    auto message = [](const QString &path) -> std::string {
        try {
            (void)readLesson(path);
        } catch (const LessonError &e) {
            return e.what();
        }
        return "no error";
    };
    const QString notJson = write("a.json", "{ slides: ");
    EXPECT_NE(message(notJson).find("a.json: not JSON"), std::string::npos) << message(notJson);
    const QString other = write("b.json", R"({"model_type": "clip"})");
    EXPECT_NE(message(other).find("b.json: not a vitscope lesson"), std::string::npos) << message(other);
    const QString future = write("c.json", R"({"format": "vitscope-lesson", "version": 9, "slides": [{}]})");
    EXPECT_NE(message(future).find("lesson version 9"), std::string::npos) << message(future);
    const QString ratio = write("d.json", R"({"format": "vitscope-lesson", "version": 1,
        "slides": [{"view": "mae"}, {"mae": {"ratio": 120}}]})");
    EXPECT_NE(message(ratio).find("d.json: slide 2, mae, \"ratio\": 120 is outside 0 to 95"), std::string::npos)
        << message(ratio);
    const QString type = write("e.json", R"({"format": "vitscope-lesson", "version": 1,
        "slides": [{"zeroshot": {"classes": "cat"}}]})");
    EXPECT_NE(message(type).find("slide 1, zeroshot, \"classes\": expected a list of strings"), std::string::npos)
        << message(type);
    EXPECT_NE(message(QString::fromStdString(dir.file("absent.json"))).find("absent.json: cannot read"),
              std::string::npos);
}

TEST(AppCommandLine, HelpAndTheUnknownViewErrorListEveryView)
{
    QProcess help;
    help.start(QStringLiteral(VITSCOPE_APP_PATH), {QStringLiteral("--help")});
    ASSERT_TRUE(help.waitForFinished(30000));
    const QString text = QString::fromLocal8Bit(help.readAllStandardOutput());
    for (const char *view : {"mae", "zeroshot", "training", "models", "dataset", "inside"})
        EXPECT_TRUE(text.contains(QLatin1String(view))) << view << " missing from --help: " << text.toStdString();
    EXPECT_TRUE(text.contains(QStringLiteral("org/name"))) << "Hub ids on the command line";

    QProcess bad;
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    env.insert(QStringLiteral("QT_QPA_PLATFORM"), QStringLiteral("offscreen"));
    bad.setProcessEnvironment(env);
    bad.start(QStringLiteral(VITSCOPE_APP_PATH), {QStringLiteral("--view"), QStringLiteral("nope")});
    ASSERT_TRUE(bad.waitForFinished(30000));
    EXPECT_EQ(bad.exitCode(), 2);
    const QString err = QString::fromLocal8Bit(bad.readAllStandardError());
    EXPECT_TRUE(err.contains(QStringLiteral("inside"))) << err.toStdString();
}

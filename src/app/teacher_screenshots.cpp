#include "src/app/teacher_screenshots.h"

#include <QDir>
#include <QPainter>
#include <QTemporaryDir>

#include <cstdlib>

#include "src/app/script_helpers.h"
#include "src/engine/engine.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/live_source.h"
#include "src/gui/mae_explorer/mae_explorer_view.h"
#include "src/gui/main_window.h"
#include "src/gui/models_view/get_model_dialog.h"
#include "src/gui/models_view/models_view.h"
#include "src/gui/zero_shot/zero_shot_view.h"

namespace vitscope::gui {

namespace {

// One Fashion-MNIST sample per class, each sliding across a dark stage for 20 frames: what
// a camera pointed at a row of clothes on a table would see.
bool writeSamplesVideo(const QString &path)
{
    const auto grid = engine::loadFashionMnistSamples(std::string(), 1);
    if (grid.samples.empty())
        return false;
    std::vector<QImage> items;
    for (const auto &s : grid.samples)
        items.push_back(toQImage(s.image).scaled(168, 168, Qt::KeepAspectRatio, Qt::SmoothTransformation));
    constexpr int perItem = 20;
    return writeVideo(path, int(items.size()) * perItem, 25.0, [&](int i) {
        QImage frame(224, 224, QImage::Format_RGB888);
        frame.fill(QColor(12, 12, 12));
        QPainter painter(&frame);
        const QImage &item = items[std::size_t(i / perItem) % items.size()];
        painter.drawImage(QPoint(8 + 2 * (i % perItem), 28), item);
        return frame;
    });
}

// Plays `video` into a view's live source for a few seconds, pauses, waits for the view to
// settle and saves the window.
QString shootLive(MainWindow *window, LiveSource *live, const std::function<bool()> &busy, const QString &video,
                  const QString &file)
{
    live->openVideo(video);
    spin(3000);
    live->setPaused(true);
    spinUntil([&] { return !busy(); }, 30000);
    spin(300);
    const bool shown = live->framesTaken() > 0;
    const bool saved = shown && window->grab().save(file, "PNG");
    live->stop();
    spinUntil([&] { return !busy(); }, 30000);
    if (!shown)
        return file + QStringLiteral(": no video frame arrived (GStreamer could not play the MJPEG file?)");
    return saved ? QString() : file + QStringLiteral(": cannot write");
}

} // namespace

QStringList saveTeacherScreenshots(MainWindow *window, const QString &dir)
{
    QStringList failed;
    QTemporaryDir tmp;
    const QString video = tmp.path() + QStringLiteral("/samples.avi");
    if (!LiveSource::available()) {
        failed << QStringLiteral("mae-live.png, zero-shot-live.png: built without Qt Multimedia");
    } else if (!writeSamplesVideo(video)) {
        failed << QStringLiteral("mae-live.png, zero-shot-live.png: cannot write a video (built without OpenCV's "
                                 "videoio, or no Fashion-MNIST)");
    } else {
        window->showView(QStringLiteral("mae"));
        auto *mae = window->maeExplorer();
        mae->setStrategy(QStringLiteral("random"));
        if (QString e = shootLive(window, mae->liveSource(), [mae] { return mae->isBusy(); }, video,
                                  QDir(dir).filePath(QStringLiteral("mae-live.png")));
            !e.isEmpty())
            failed << e;
        window->showView(QStringLiteral("zeroshot"));
        auto *zs = window->zeroShot();
        if (QString e = shootLive(window, zs->liveSource(), [zs] { return zs->isBusy(); }, video,
                                  QDir(dir).filePath(QStringLiteral("zero-shot-live.png")));
            !e.isEmpty())
            failed << e;
    }

    GetModelDialog *dialog = window->modelsView()->openGetModelDialog();
    if (const char *id = std::getenv("VITSCOPE_SCREENSHOT_HUB_ID"); id && *id)
        dialog->setModelId(QString::fromUtf8(id));
    spin(600); // the dialog asks 400 ms after the last edit
    spinUntil([&] { return !dialog->infoText().isEmpty() && !dialog->infoText().startsWith(QStringLiteral("Asking")); },
              20000);
    spin(200);
    const QString file = QDir(dir).filePath(QStringLiteral("get-model.png"));
    if (!dialog->grab().save(file, "PNG"))
        failed << file + QStringLiteral(": cannot write");
    dialog->hide();
    return failed;
}

} // namespace vitscope::gui

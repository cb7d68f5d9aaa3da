#include "src/app/soak.h"

#include <QApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QJsonArray>
#include <QMessageBox>
#include <QPainter>
#include <QPlainTextEdit>
#include <QTextCursor>

#include <algorithm>
#include <fstream>
#include <string>

#include <unistd.h>

#include "src/app/script_helpers.h"
#include "src/engine/engine.h"
#include "src/engine/training.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/live_source.h"
#include "src/gui/common/model_registry.h"
#include "src/gui/inside/embedding_map.h"
#include "src/gui/inside/inside_view.h"
#include "src/gui/mae_explorer/mae_explorer_view.h"
#include "src/gui/main_window.h"
#include "src/gui/training/training_view.h"
#include "src/gui/zero_shot/zero_shot_view.h"

namespace vitscope::gui {

namespace {

struct Sample {
    double seconds = 0, rssMb = 0;
    int fds = 0, threads = 0;
    QJsonObject json() const
    {
        return {{QStringLiteral("t_s"), seconds},
                {QStringLiteral("rss_mb"), rssMb},
                {QStringLiteral("fds"), fds},
                {QStringLiteral("threads"), threads}};
    }
};

// /proc/self: VmRSS and Threads from status, the entries of fd/.
Sample sampleProcess(double seconds)
{
    Sample s;
    s.seconds = seconds;
    std::ifstream status("/proc/self/status");
    for (std::string key; status >> key;) {
        if (key == "VmRSS:")
            status >> s.rssMb, s.rssMb /= 1024.0;
        else if (key == "Threads:")
            status >> s.threads;
        status.ignore(4096, '\n');
    }
    s.fds = int(QDir(QStringLiteral("/proc/self/fd")).entryList(QDir::AllEntries | QDir::NoDotAndDotDot | QDir::System).size());
    return s;
}

int visibleMessageBoxes()
{
    int n = 0;
    for (QWidget *w : QApplication::topLevelWidgets())
        if (qobject_cast<QMessageBox *>(w) && w->isVisible())
            ++n;
    return n;
}

// One cycle of a lecture day. `models`: ids to make current in turn, by kind.
void cycle(MainWindow *window, int index, const QStringList &maes, const QStringList &clips, const QString &images,
           const QString &video, const QString &runs)
{
    auto *registry = window->models();
    const QString mae = maes[index % maes.size()], clip = clips[index % clips.size()];
    registry->load(mae, true);
    registry->load(clip, true);
    spinUntil([&] { return !registry->isLoading(); }, 300000);

    // The explorer: every strategy, a sweep of ratios, then Compare.
    window->showView(QStringLiteral("mae"));
    auto *explorer = window->maeExplorer();
    for (const char *strategy : {"random", "block", "grid"}) {
        explorer->setStrategy(QString::fromLatin1(strategy));
        for (int r = 10; r <= 90; r += 20) {
            explorer->setRatioPercent(r);
            spin(20);
        }
    }
    explorer->setSeed(index);
    explorer->setCompare(true);
    spinUntil([&] { return !explorer->isBusy(); }, 120000);
    explorer->setCompare(false);
    spinUntil([&] { return !explorer->isBusy(); }, 120000);

    // Zero-shot: a class name typed and deleted, a folder dropped and cleared, a video.
    window->showView(QStringLiteral("zeroshot"));
    auto *zs = window->zeroShot();
    auto *edit = window->findChild<QPlainTextEdit *>(QStringLiteral("classesEdit"));
    const QString word = QStringLiteral("\nrain coat");
    for (QChar c : word) {
        edit->moveCursor(QTextCursor::End);
        edit->insertPlainText(QString(c));
        spin(30);
    }
    for (int i = 0; i < word.size(); ++i) {
        edit->moveCursor(QTextCursor::End);
        edit->textCursor().deletePreviousChar();
        spin(30);
    }
    zs->addFiles({images});
    spinUntil([&] { return !zs->isBusy(); }, 120000);
    zs->clearImages();
    if (!video.isEmpty()) {
        zs->liveSource()->openVideo(video);
        spin(2000);
        zs->liveSource()->stop();
        spinUntil([&] { return !zs->isBusy(); }, 60000);
    }

    // Inside: both models' attention at a few layers, then the embedding map.
    window->showView(QStringLiteral("inside"));
    auto *inside = window->insideView();
    for (const QString &model : {mae, clip}) {
        inside->setModel(model);
        inside->showMapTab(false);
        inside->setMaskRatio(25 + 25 * (index % 3));
        spinUntil([&] { return !inside->isBusy(); }, 120000);
        for (int l = 0; l < inside->layerCount(); l += 3) {
            inside->setLayer(l);
            inside->clickPatch((index * 7 + l) % 16);
            spin(20);
        }
        spinUntil([&] { return !inside->isBusy(); }, 120000);
    }
    inside->showMapTab(true);
    inside->mapView()->setModel(clip);
    inside->mapView()->compute();
    spinUntil([&] { return !inside->mapView()->isBusy(); }, 300000);

    // Training: started, left for two seconds, stopped.
    window->showView(QStringLiteral("training"));
    auto *training = window->training();
    training->setRunsDir(runs);
    training->startWith(shortTrainingRequest(1024));
    spin(2000);
    training->stop();
    spinUntil([&] { return !training->isTraining(); }, 60000);
    QDir(runs).removeRecursively(); // the runs are not what is measured; the disk stays flat
}

} // namespace

QJsonObject runSoak(MainWindow *window, double minutes, const QString &workDir)
{
    QElapsedTimer clock;
    clock.start();
    auto seconds = [&] { return double(clock.nsecsElapsed()) / 1e9; };
    spinUntil([&] { return !window->isBusy() && window->models()->models().size() >= 2; }, 120000);

    // Inputs written once: 50 images, and a 2 s video.
    const QString images = workDir + QStringLiteral("/images");
    QDir().mkpath(images);
    const auto grid = engine::loadFashionMnistSamples(std::string(), 5);
    for (const auto &s : grid.samples)
        toQImage(s.image).scaled(64, 64).save(images + QStringLiteral("/%1.png").arg(s.index));
    QString video = workDir + QStringLiteral("/soak.avi");
    if (!LiveSource::available() || !writeVideo(video, 50, 25.0, [](int i) {
            QImage frame(224, 224, QImage::Format_RGB888);
            frame.fill(QColor(20 + 4 * i, 60, 120));
            return frame;
        }))
        video.clear();

    // The models to cycle through: the current ones first (those named on the command line
    // when there were), then every other loaded model of each kind.
    QStringList maes, clips;
    for (const QString &kind : {QStringLiteral("mae"), QStringLiteral("clip")}) {
        QStringList &list = kind == QStringLiteral("mae") ? maes : clips;
        if (!window->models()->current(kind).isEmpty())
            list << window->models()->current(kind);
        for (const auto &m : window->models()->models())
            if (bool(m.mae) == (kind == QStringLiteral("mae")) && !list.contains(m.id))
                list << m.id;
    }

    const Sample start = sampleProcess(seconds());
    QJsonArray samples{start.json()};
    Sample warm, peak = start, last = start;
    int cycles = 0, dialogs = 0;
    while (cycles == 0 || seconds() < minutes * 60.0) {
        cycle(window, cycles, maes, clips, images, video, workDir + QStringLiteral("/runs"));
        ++cycles;
        dialogs = std::max(dialogs, visibleMessageBoxes());
        last = sampleProcess(seconds());
        if (cycles == 1)
            warm = last;
        if (last.rssMb > peak.rssMb)
            peak.rssMb = last.rssMb, peak.seconds = last.seconds; // t_s: when resident memory peaked
        peak.fds = std::max(peak.fds, last.fds);
        peak.threads = std::max(peak.threads, last.threads);
        samples.append(last.json());
    }
    QJsonObject out;
    out[QStringLiteral("benchmark")] = QStringLiteral("soak");
    out[QStringLiteral("minutes_asked")] = minutes;
    out[QStringLiteral("seconds")] = seconds();
    out[QStringLiteral("cycles")] = cycles;
    out[QStringLiteral("mae_models")] = QJsonArray::fromStringList(maes);
    out[QStringLiteral("clip_models")] = QJsonArray::fromStringList(clips);
    out[QStringLiteral("video")] = !video.isEmpty();
    out[QStringLiteral("start")] = start.json();
    out[QStringLiteral("after_warmup")] = warm.json();
    out[QStringLiteral("end")] = last.json();
    out[QStringLiteral("peak")] = peak.json();
    out[QStringLiteral("rss_growth_after_warmup")] = warm.rssMb > 0 ? last.rssMb / warm.rssMb - 1.0 : 0.0;
    out[QStringLiteral("fds_back_to_warmup")] = last.fds <= warm.fds;
    out[QStringLiteral("threads_back_to_warmup")] = last.threads <= warm.threads;
    out[QStringLiteral("error_dialogs")] = dialogs;
    out[QStringLiteral("samples")] = samples;
    return out;
}

} // namespace vitscope::gui

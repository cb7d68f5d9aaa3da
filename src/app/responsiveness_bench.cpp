#include "src/app/responsiveness_bench.h"

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QJsonArray>
#include <QPainter>
#include <QPlainTextEdit>
#include <QSlider>
#include <QThread>
#include <QTimer>

#include <algorithm>
#include <functional>
#include <vector>

#include "src/app/script_helpers.h"
#include "src/engine/engine.h"
#include "src/engine/training.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/live_source.h"
#include "src/gui/inside/embedding_map.h"
#include "src/gui/inside/inside_view.h"
#include "src/gui/mae_explorer/mae_explorer_view.h"
#include "src/gui/main_window.h"
#include "src/gui/common/model_registry.h"
#include "src/gui/training/training_view.h"
#include "src/gui/zero_shot/zero_shot_view.h"

namespace vitscope::gui {

namespace {

class GapMonitor {
public:
    GapMonitor()
    {
        m_timer.setTimerType(Qt::PreciseTimer);
        m_timer.setInterval(5);
        QObject::connect(&m_timer, &QTimer::timeout, [this]() {
            const qint64 now = m_clock.nsecsElapsed();
            m_gaps.push_back(double(now - m_last) / 1e6);
            m_last = now;
        });
    }
    void start()
    {
        m_gaps.clear();
        m_clock.start();
        m_last = 0;
        m_timer.start();
    }
    QJsonObject stop(const QString &phase)
    {
        m_timer.stop();
        std::vector<double> g = m_gaps;
        std::sort(g.begin(), g.end());
        QJsonObject o;
        o[QStringLiteral("phase")] = phase;
        o[QStringLiteral("seconds")] = double(m_clock.nsecsElapsed()) / 1e9;
        o[QStringLiteral("ticks")] = int(g.size());
        o[QStringLiteral("max_gap_ms")] = g.empty() ? 0.0 : g.back();
        o[QStringLiteral("p99_gap_ms")] = g.empty() ? 0.0 : g[std::size_t(0.99 * double(g.size() - 1))];
        o[QStringLiteral("median_gap_ms")] = g.empty() ? 0.0 : g[g.size() / 2];
        o[QStringLiteral("gaps_over_50ms")] = int(std::count_if(g.begin(), g.end(), [](double x) { return x > 50; }));
        return o;
    }

private:
    QTimer m_timer;
    QElapsedTimer m_clock;
    qint64 m_last = 0;
    std::vector<double> m_gaps;
};

// A 224 x 224 colour video: a ramp with a square moving across it.
bool writeBenchVideo(const QString &path, int frames, double fps)
{
    return writeVideo(path, frames, fps, [](int i) {
        QImage image(224, 224, QImage::Format_RGB888);
        image.fill(QColor(200 - i % 160, 90, 40 + i % 160));
        QPainter painter(&image);
        painter.fillRect(QRect((i * 4) % 160, 60 + (i * 3) % 100, 64, 64), QColor(250, 250, 250));
        return image;
    });
}

// Live video into the Zero-shot view with the current CLIP: a 25 fps video for `ms`; the
// newest frame wins, the rest are skipped. The gaps, and the frames shown and skipped.
QJsonObject liveVideoPhase(MainWindow *window, GapMonitor &monitor, const QString &dir, int ms)
{
    QJsonObject phase;
    auto *zs = window->zeroShot();
    const QString video = dir + QStringLiteral("/live.avi");
    QDir().mkpath(dir);
    if (!LiveSource::available() || !writeBenchVideo(video, 250, 25.0)) {
        phase[QStringLiteral("phase")] = QStringLiteral("zeroshot-live-video");
        phase[QStringLiteral("skipped")] = LiveSource::available() ? QStringLiteral("built without OpenCV's videoio")
                                                                   : QStringLiteral("built without Qt Multimedia");
        return phase;
    }
    window->showView(QStringLiteral("zeroshot"));
    LiveSource *live = zs->liveSource();
    const int arrived0 = live->framesArrived(), taken0 = live->framesTaken(), dropped0 = live->framesDropped();
    monitor.start();
    live->openVideo(video);
    spin(ms);
    const double perSecond = live->takenPerSecond();
    live->stop();
    spinUntil([&] { return !zs->isBusy(); }, 30000);
    phase = monitor.stop(QStringLiteral("zeroshot-live-video"));
    phase[QStringLiteral("model")] = zs->currentModel();
    phase[QStringLiteral("frames_arrived")] = live->framesArrived() - arrived0;
    phase[QStringLiteral("frames_shown")] = live->framesTaken() - taken0;
    phase[QStringLiteral("frames_skipped")] = live->framesDropped() - dropped0;
    phase[QStringLiteral("shown_per_s")] = perSecond;
    return phase;
}

} // namespace

QJsonObject runUiBenchmark(MainWindow *window, const QString &imageDir)
{
    QJsonArray phases;
    GapMonitor monitor;
    spinUntil([&] { return !window->isBusy() && window->models()->models().size() >= 2; }, 60000);

    // 1. Drag the ratio slider, one step per 15 ms, through random and block masking.
    window->showView(QStringLiteral("mae"));
    auto *mae = window->maeExplorer();
    auto *slider = window->findChild<QSlider *>(QStringLiteral("ratioSlider"));
    monitor.start();
    for (const char *strategy : {"random", "block"}) {
        mae->setStrategy(QString::fromLatin1(strategy));
        for (int v = 0; v <= 95; ++v) {
            slider->setValue(v);
            spin(15);
        }
    }
    mae->setStrategy(QStringLiteral("grid"));
    mae->setCompare(true);
    spinUntil([&] { return !mae->isBusy(); }, 30000);
    mae->setCompare(false);
    spinUntil([&] { return !mae->isBusy(); }, 30000);
    phases.append(monitor.stop(QStringLiteral("mae-slider-drag")));

    // 2. Type class names, one key per 40 ms.
    window->showView(QStringLiteral("zeroshot"));
    auto *zs = window->zeroShot();
    auto *edit = window->findChild<QPlainTextEdit *>(QStringLiteral("classesEdit"));
    monitor.start();
    for (const QString &word : {QStringLiteral("\nhandbag"), QStringLiteral("\nhiking boot"), QStringLiteral("\nscarf")})
        for (QChar c : word) {
            edit->moveCursor(QTextCursor::End);
            edit->insertPlainText(QString(c));
            spin(40);
        }
    spinUntil([&] { return !zs->isBusy(); }, 30000);
    phases.append(monitor.stop(QStringLiteral("zeroshot-typing")));

    // 3. Drop a folder of 300 images (written first, outside the measurement).
    QDir().mkpath(imageDir);
    const auto grid = engine::loadFashionMnistSamples(std::string(), 30);
    for (const auto &s : grid.samples) {
        const QString cls = QString::fromStdString(s.className).replace(QLatin1Char('/'), QLatin1Char('-'));
        QDir().mkpath(imageDir + QLatin1Char('/') + cls);
        toQImage(s.image).scaled(112, 112).save(imageDir + QLatin1Char('/') + cls + QStringLiteral("/%1.png").arg(s.index));
    }
    monitor.start();
    zs->addFiles({imageDir});
    spinUntil([&] { return !zs->isBusy(); }, 120000);
    QJsonObject drop = monitor.stop(QStringLiteral("zeroshot-folder-300-images"));
    drop[QStringLiteral("images")] = zs->imageCount();
    phases.append(drop);

    // 4. The Inside view, with the current MAE and CLIP (the models given on the command
    //    line, else the bundled ones): drag the mask ratio and the layer slider, click
    //    patches, then compute the embedding map (500 images) and hover over it. The time
    //    from the last request to the answer on screen is kept per model.
    window->showView(QStringLiteral("inside"));
    auto *inside = window->insideView();
    const QString maeModel = window->models()->current(QStringLiteral("mae"));
    const QString clipModel = window->models()->current(QStringLiteral("clip"));
    QJsonObject settle;
    monitor.start();
    for (const QString &model : {maeModel, clipModel}) {
        inside->setModel(model);
        inside->showMapTab(false);
        for (int v = 0; v <= 90; v += 3) {
            inside->setMaskRatio(v);
            spin(15);
        }
        QElapsedTimer answer;
        answer.start();
        spinUntil([&] { return !inside->isBusy(); }, 60000);
        const double ratioMs = answer.nsecsElapsed() / 1e6;
        const int layers = inside->layerCount();
        for (int l = 0; l < layers; ++l) {
            inside->setLayer(l);
            inside->clickPatch((l * 13) % 64);
            spin(15);
        }
        answer.restart();
        spinUntil([&] { return !inside->isBusy(); }, 60000);
        settle[model] = QJsonObject{{QStringLiteral("answer_after_ratio_drag_ms"), ratioMs},
                                    {QStringLiteral("answer_after_layer_clicks_ms"), answer.nsecsElapsed() / 1e6},
                                    {QStringLiteral("layers"), layers}};
    }
    QJsonObject attention = monitor.stop(QStringLiteral("inside-attention"));
    attention[QStringLiteral("models")] = settle;
    phases.append(attention);
    monitor.start();
    inside->showMapTab(true);
    auto *map = inside->mapView();
    map->setModel(clipModel);
    QElapsedTimer mapTimer;
    mapTimer.start();
    map->compute();
    spinUntil([&] { return !map->isBusy(); }, 300000);
    const double mapMs = mapTimer.nsecsElapsed() / 1e6;
    for (int i = 0; i < 100; ++i) {
        map->hoverAt(QPointF(40 + 5 * i, 60 + 3 * i));
        spin(5);
    }
    QJsonObject insidePhase = monitor.stop(QStringLiteral("inside-embedding-map-500-images"));
    insidePhase[QStringLiteral("map_points")] = int(map->points().size());
    insidePhase[QStringLiteral("model")] = clipModel;
    insidePhase[QStringLiteral("map_ms")] = mapMs;
    phases.append(insidePhase);

    // 5. Live video into the Zero-shot bars, at the current CLIP's size (the model given
    //    on the command line, else the bundled one).
    phases.append(liveVideoPhase(window, monitor, imageDir + QStringLiteral("/video"), 6000));

    // 6. Train for a while (MAE, Fashion-MNIST), then stop.
    window->showView(QStringLiteral("training"));
    auto *training = window->training();
    training->setRunsDir(imageDir + QStringLiteral("/../runs"));
    monitor.start();
    training->startWith(shortTrainingRequest(6400));
    spin(8000);
    training->stop();
    spinUntil([&] { return !training->isTraining(); }, 60000);
    QJsonObject train = monitor.stop(QStringLiteral("training-8s-then-stop"));
    train[QStringLiteral("curve_points")] = training->curvePointCount();
    phases.append(train);

    double worst = 0;
    for (const auto &p : phases)
        worst = std::max(worst, p.toObject().value(QStringLiteral("max_gap_ms")).toDouble());
    QJsonObject out;
    out[QStringLiteral("benchmark")] = QStringLiteral("ui-responsiveness");
    out[QStringLiteral("device")] = QString::fromStdString(engine::buildInfo().device);
    out[QStringLiteral("mae_model")] = window->models()->current(QStringLiteral("mae"));
    out[QStringLiteral("clip_model")] = window->models()->current(QStringLiteral("clip"));
    out[QStringLiteral("phases")] = phases;
    out[QStringLiteral("max_gap_ms")] = worst;
    out[QStringLiteral("goal_ms")] = 50;
    return out;
}

} // namespace vitscope::gui

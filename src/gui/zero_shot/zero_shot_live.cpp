// The Zero-shot view's live input: a camera or a video file. The newest frame is embedded
// on a worker and its bars shown; frames that arrive meanwhile replace each other in the
// source (nothing queues), so the view never falls behind the video.
#include "src/gui/zero_shot/zero_shot_view.h"

#include <QLabel>
#include <QToolButton>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <exception>

#include "src/gui/common/image_io.h"
#include "src/gui/common/live_source.h"
#include "src/gui/common/widgets.h"
#include "src/gui/zero_shot/class_heatmaps.h"
#include "src/gui/zero_shot/probability_bars.h"
#include "ui_zero_shot_view.h"

namespace vitscope::gui {

void ZeroShotView::setUpLive()
{
    m_live = new LiveSource(this);
    auto *status = new QLabel(this);
    status->setObjectName(QStringLiteral("liveStatus"));
    status->hide();
    m_ui->imageButtons->insertWidget(1, makeLiveButton(this, m_live, m_message));
    m_ui->imageButtons->addWidget(status);
    showLiveStatus(status, m_live);
    connect(m_live, &LiveSource::frameArrived, this, &ZeroShotView::liveFrame);
    // The class heat maps cost more than the bars: while the video plays they are cleared
    // (the maps of another image would mislead); on Pause they are drawn for the frame shown.
    connect(m_live, &LiveSource::pausedChanged, this, [this](bool paused) {
        if (!paused || !m_live->isActive())
            m_heatmaps->clear();
        else if (m_liveImage.width > 0)
            requestHeatmaps(m_liveImage, m_bars->bars());
    });
    connect(&m_liveWatcher, &QFutureWatcher<LiveJob>::finished, this, &ZeroShotView::liveFinished);
}

void ZeroShotView::liveFrame()
{
    if (m_liveRunning)
        return; // the newest frame waits in the source; liveFinished() takes it
    auto s = session();
    if (!s || m_classEmbeddings.empty() || m_classModel != m_ui->modelCombo->currentData().toString())
        return; // no classes for this model yet: the frame stays waiting
    QImage frame = m_live->takeFrame();
    if (frame.isNull())
        return;
    if (frame.width() > 320 || frame.height() > 320)
        frame = frame.scaled(320, 320, Qt::KeepAspectRatio, Qt::SmoothTransformation);
    m_liveRunning = true;
    const engine::RgbImage image = fromQImage(frame);
    const auto classes = m_classEmbeddings;
    const auto weights = towerWeights();
    m_liveWatcher.setFuture(QtConcurrent::run([s, image, classes, weights]() {
        LiveJob job;
        job.image = image;
        try {
            const auto e = s->embedImages({image}, weights);
            job.probabilities = engine::zeroShotProbabilities(e.at(0), classes, s->logitScale());
        } catch (const std::exception &e) {
            job.error = QString::fromStdString(e.what());
        }
        return job;
    }));
}

void ZeroShotView::liveFinished()
{
    m_liveRunning = false;
    const LiveJob job = m_liveWatcher.result();
    if (!job.error.isEmpty()) {
        m_message->show(job.error);
    } else if (m_live->isActive()) {
        m_ui->previewLabel->setPixmap(QPixmap::fromImage(toQImage(job.image).scaled(
            m_ui->previewLabel->size() - QSize(8, 8), Qt::KeepAspectRatio, Qt::SmoothTransformation)));
        m_ui->previewLabel->setToolTip(m_live->description());
        QList<QPair<QString, float>> bars;
        for (int k = 0; k < int(job.probabilities.size()) && k < m_classNames.size(); ++k)
            bars << qMakePair(m_classNames[k], job.probabilities[std::size_t(k)]);
        std::stable_sort(bars.begin(), bars.end(), [](const auto &a, const auto &b) { return a.second > b.second; });
        m_bars->setBars(bars);
        m_liveImage = job.image;
        if (m_live->isPaused())
            requestHeatmaps(job.image, bars); // the frame that was on its way when Pause came
        else
            m_heatmaps->clear();
        ++m_liveShown;
        Q_EMIT predictionsUpdated();
    }
    if (m_live->hasNewFrame())
        liveFrame();
}

} // namespace vitscope::gui

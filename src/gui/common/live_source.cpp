#include "src/gui/common/live_source.h"

#include <QAction>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QTimer>
#include <QToolButton>
#include <QUrl>

#include "src/gui/common/file_dialogs.h"
#include "src/gui/common/widgets.h"

#if VITSCOPE_HAVE_MULTIMEDIA
#include <QCamera>
#include <QCameraDevice>
#include <QMediaCaptureSession>
#include <QMediaDevices>
#include <QMediaPlayer>
#include <QVideoFrame>
#include <QVideoSink>
#endif

namespace vitscope::gui {

#if VITSCOPE_HAVE_MULTIMEDIA
struct LiveSource::Backend {
    QVideoSink sink;
    std::unique_ptr<QMediaPlayer> player;
    std::unique_ptr<QCamera> camera;
    std::unique_ptr<QMediaCaptureSession> capture;
    QVideoFrame latest; // implicitly shared: keeping it costs no copy
};
#else
struct LiveSource::Backend {};
#endif

LiveSource::LiveSource(QObject *parent) : QObject(parent), m_backend(std::make_unique<Backend>())
{
    m_clock.start();
#if VITSCOPE_HAVE_MULTIMEDIA
    connect(&m_backend->sink, &QVideoSink::videoFrameChanged, this, [this](const QVideoFrame &frame) {
        if (m_paused || !frame.isValid())
            return;
        m_backend->latest = frame;
        noteFrame();
    });
#endif
}

LiveSource::~LiveSource()
{
    stop();
}

bool LiveSource::available()
{
    return VITSCOPE_HAVE_MULTIMEDIA != 0;
}

QStringList LiveSource::cameras()
{
    QStringList names;
#if VITSCOPE_HAVE_MULTIMEDIA
    for (const QCameraDevice &d : QMediaDevices::videoInputs())
        names << d.description();
#endif
    return names;
}

bool LiveSource::openCamera(int index)
{
    stop();
#if VITSCOPE_HAVE_MULTIMEDIA
    const auto inputs = QMediaDevices::videoInputs();
    if (index < 0 || index >= inputs.size()) {
        Q_EMIT failed(inputs.isEmpty() ? tr("No camera found on this machine; a video file works in its place.")
                                       : tr("No camera number %1 (%2 found).").arg(index + 1).arg(inputs.size()));
        return false;
    }
    m_backend->camera = std::make_unique<QCamera>(inputs[index]);
    m_backend->capture = std::make_unique<QMediaCaptureSession>();
    m_backend->capture->setCamera(m_backend->camera.get());
    m_backend->capture->setVideoSink(&m_backend->sink);
    connect(m_backend->camera.get(), &QCamera::errorOccurred, this, [this](QCamera::Error, const QString &text) {
        Q_EMIT failed(tr("Camera: %1").arg(text));
    });
    m_description = tr("camera: %1").arg(inputs[index].description());
    m_active = true;
    m_backend->camera->start();
    return true;
#else
    Q_UNUSED(index);
    Q_EMIT failed(tr("This vitscope was built without Qt Multimedia (install qt6-multimedia-dev and rebuild)."));
    return false;
#endif
}

void LiveSource::openVideo(const QString &path)
{
    stop();
#if VITSCOPE_HAVE_MULTIMEDIA
    if (!QFileInfo(path).isFile()) {
        Q_EMIT failed(tr("%1: no such video file").arg(path));
        return;
    }
    m_backend->player = std::make_unique<QMediaPlayer>();
    m_backend->player->setVideoSink(&m_backend->sink);
    m_backend->player->setLoops(QMediaPlayer::Infinite);
    connect(m_backend->player.get(), &QMediaPlayer::errorOccurred, this,
            [this, path](QMediaPlayer::Error, const QString &text) {
                // GStreamer names the element it lacks ("no decoder available for type …").
                Q_EMIT failed(tr("%1: cannot play it: %2 (video files play through GStreamer: the plugins for its "
                                 "format, e.g. gstreamer1.0-plugins-good or -bad, may be missing)")
                                  .arg(QFileInfo(path).fileName(), text));
            });
    m_description = QFileInfo(path).fileName();
    m_active = true;
    m_backend->player->setSource(QUrl::fromLocalFile(QFileInfo(path).absoluteFilePath()));
    m_backend->player->play();
#else
    Q_EMIT failed(tr("%1: this vitscope was built without Qt Multimedia (install qt6-multimedia-dev and rebuild).")
                      .arg(path));
#endif
}

void LiveSource::stop()
{
#if VITSCOPE_HAVE_MULTIMEDIA
    if (m_backend->player)
        m_backend->player->stop();
    if (m_backend->camera)
        m_backend->camera->stop();
    m_backend->player.reset();
    m_backend->capture.reset();
    m_backend->camera.reset();
#endif
    m_active = false;
    m_paused = false;
    m_hasNew = false;
#if VITSCOPE_HAVE_MULTIMEDIA
    m_backend->latest = QVideoFrame();
#endif
}

void LiveSource::setPaused(bool paused)
{
    const bool changed = paused != m_paused;
    m_paused = paused;
#if VITSCOPE_HAVE_MULTIMEDIA
    if (m_backend->player)
        paused ? m_backend->player->pause() : m_backend->player->play();
#endif
    if (changed)
        Q_EMIT pausedChanged(paused);
}

void LiveSource::noteFrame()
{
    ++m_arrived;
    if (m_hasNew)
        ++m_dropped; // the one waiting was never taken (nor converted): replaced, not queued
    m_hasNew = true;
    Q_EMIT frameArrived();
}

QImage LiveSource::takeFrame()
{
    if (!m_hasNew)
        return {};
    m_hasNew = false;
    ++m_taken;
    const qint64 now = m_clock.elapsed();
    m_takenAt.push_back(now);
    while (!m_takenAt.empty() && m_takenAt.front() < now - 2000)
        m_takenAt.pop_front();
#if VITSCOPE_HAVE_MULTIMEDIA
    // Converted here, on the frames a view takes, not on every frame that arrives.
    return std::exchange(m_backend->latest, QVideoFrame()).toImage();
#else
    return {};
#endif
}

double LiveSource::takenPerSecond() const
{
    if (m_takenAt.size() < 2)
        return 0;
    const double span = double(m_takenAt.back() - m_takenAt.front()) / 1000.0;
    return span > 0 ? double(m_takenAt.size() - 1) / span : 0;
}

QToolButton *makeLiveButton(QWidget *parent, LiveSource *source, MessageBar *bar)
{
    auto *button = new QToolButton(parent);
    button->setText(QObject::tr("&Live"));
    button->setObjectName(QStringLiteral("liveButton"));
    button->setToolTip(QObject::tr("Follow a camera, or a video file in its place: the newest frame is shown, "
                                   "frames the model has no time for are skipped"));
    button->setPopupMode(QToolButton::InstantPopup);
    auto *menu = new QMenu(button);
    button->setMenu(menu);
    QObject::connect(menu, &QMenu::aboutToShow, menu, [menu, source, parent]() {
        menu->clear();
        const QStringList cameras = LiveSource::cameras();
        if (!LiveSource::available())
            menu->addAction(QObject::tr("Built without Qt Multimedia"))->setEnabled(false);
        else if (cameras.isEmpty())
            menu->addAction(QObject::tr("No camera found"))->setEnabled(false);
        for (int i = 0; i < cameras.size(); ++i)
            QObject::connect(menu->addAction(QObject::tr("Camera: %1").arg(cameras[i])), &QAction::triggered, source,
                             [source, i]() { source->openCamera(i); });
        QObject::connect(menu->addAction(QObject::tr("Video file…")), &QAction::triggered, source, [source, parent]() {
            const QString path = askOpenFile(parent, QObject::tr("A video to follow"), QStringLiteral("live/lastDir"),
                                             QObject::tr("Videos (*.mp4 *.mkv *.webm *.avi *.mov *.ogv);;All files (*)"));
            if (!path.isEmpty())
                source->openVideo(path);
        });
        menu->addSeparator();
        QAction *pause = menu->addAction(QObject::tr("Pause (freeze this frame)"));
        pause->setCheckable(true);
        pause->setChecked(source->isPaused());
        pause->setEnabled(source->isActive());
        QObject::connect(pause, &QAction::toggled, source, &LiveSource::setPaused);
        QAction *stop = menu->addAction(QObject::tr("Stop"));
        stop->setEnabled(source->isActive());
        QObject::connect(stop, &QAction::triggered, source, &LiveSource::stop);
    });
    QObject::connect(source, &LiveSource::failed, bar, [bar](const QString &message) { bar->show(message); });
    return button;
}

void showLiveStatus(QLabel *status, LiveSource *source)
{
    auto *timer = new QTimer(status);
    timer->start(500);
    QObject::connect(timer, &QTimer::timeout, status, [status, source]() {
        status->setVisible(source->isActive());
        if (source->isActive())
            status->setText(QObject::tr("live: %1 · %2 frames/s shown · %3 skipped%4")
                                .arg(source->description())
                                .arg(source->takenPerSecond(), 0, 'f', 1)
                                .arg(source->framesDropped())
                                .arg(source->isPaused() ? QObject::tr(" · paused") : QString()));
    });
}

} // namespace vitscope::gui

#pragma once
// Live input for the views: a camera, or a video file in its place (played in a loop),
// through Qt Multimedia into a QVideoSink. Frames arrive at the video's rate; a view takes
// the newest one when it is ready for it: frames that arrive while the model is busy
// replace each other, nothing queues. Pause freezes the frame on screen. Without Qt
// Multimedia at build time, or without a camera, the calls say so in one line.

#include <QElapsedTimer>
#include <QImage>
#include <QObject>
#include <QString>
#include <QStringList>

#include <deque>
#include <memory>

class QToolButton;
class QLabel;

namespace vitscope::gui {

class MessageBar;

class LiveSource : public QObject {
    Q_OBJECT
public:
    explicit LiveSource(QObject *parent = nullptr);
    ~LiveSource() override;

    static bool available();      // built with Qt Multimedia
    static QStringList cameras(); // their descriptions; empty when there is none

    bool openCamera(int index);         // false, and failed(), when there is no such camera
    void openVideo(const QString &path); // a decoding error arrives as failed()
    void stop();
    void setPaused(bool paused);
    bool isPaused() const { return m_paused; }
    bool isActive() const { return m_active; }
    QString description() const { return m_description; } // "camera: …" or the video's file name

    // The newest frame, converted to an image now (frames replaced before a take are never
    // converted); it counts as taken (shown). Null when none arrived since the last take.
    QImage takeFrame();
    bool hasNewFrame() const { return m_hasNew; }
    int framesArrived() const { return m_arrived; }
    int framesTaken() const { return m_taken; }
    int framesDropped() const { return m_dropped; } // replaced before anyone took them
    double takenPerSecond() const;                  // over the last two seconds

Q_SIGNALS:
    void frameArrived(); // a newer frame is waiting
    void pausedChanged(bool paused);
    void failed(const QString &message);

private:
    void noteFrame(); // the backend holds a newer frame

    struct Backend; // the player or camera, the sink and the newest frame
    std::unique_ptr<Backend> m_backend;
    bool m_hasNew = false;
    bool m_paused = false;
    bool m_active = false;
    int m_arrived = 0, m_taken = 0, m_dropped = 0;
    QString m_description;
    QElapsedTimer m_clock;
    std::deque<qint64> m_takenAt; // ms, the last two seconds
};

// A "Live" button for a view: a menu with the cameras (or "No camera found"), "Video
// file…", "Pause" and "Stop"; failures go to `bar`.
QToolButton *makeLiveButton(QWidget *parent, LiveSource *source, MessageBar *bar);
// `status` shows what plays, the frames shown per second and those skipped (twice a
// second), and hides while nothing plays.
void showLiveStatus(QLabel *status, LiveSource *source);

} // namespace vitscope::gui

#pragma once
// Follows a run folder's metrics.jsonl, the same file whether the run is finished, being
// written by this app's worker, or by a vitscope-cli process: every half second it reads
// what was appended (complete lines only; a half-written last line waits), and starts
// over when the file shrank (a resumed run cuts it back to its checkpoint).

#include <QObject>
#include <QString>
#include <QTimer>
#include <QVector>

namespace vitscope::gui {

class RunFollower : public QObject {
    Q_OBJECT
public:
    explicit RunFollower(const QString &dir, QObject *parent = nullptr);

    QString dir() const { return m_dir; }
    QString label() const { return m_label; }
    QString kind() const { return m_kind; }
    QString status() const { return m_status; } // "running", "finished", "stopped", "error: ..."
    QString error() const { return m_error; }   // config.json unreadable, ...

    QVector<double> stepX, stepLoss;     // every logged step
    QVector<double> epochX, epochLoss;   // epoch number (1-based), mean loss
    QVector<double> evalX, evalY;        // epoch number, accuracy in %
    QString evalName;                    // "kNN top-1" or "zero-shot top-1"

    void poll(); // reads what is new now (also called by the timer)

Q_SIGNALS:
    void updated();

private:
    void reset();
    void parseLine(const QByteArray &line);

    QString m_dir, m_label, m_kind, m_status, m_error;
    qint64 m_offset = 0;
    QTimer m_timer;
};

} // namespace vitscope::gui

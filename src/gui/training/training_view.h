#pragma once
// Training and curves: configure and start an MAE or CLIP run (on a worker thread, into a
// run folder under the app's data location), pause, stop (a checkpoint is kept), resume;
// a progress bar with ETA; live loss and accuracy curves read from the run folders, so a
// run started from vitscope-cli can be opened and followed the same way, and several
// runs overlaid. A second tab draws the papers' experiments.

#include <QFutureWatcher>
#include <QPointer>
#include <QWidget>

#include <atomic>
#include <memory>
#include <vector>

#include "src/engine/training.h"

namespace Ui {
class TrainingView;
}

namespace vitscope::gui {

class ExperimentsView;
class LiveLabel;
class MessageBar;
class PlotWidget;
class RunFollower;

class TrainingView : public QWidget {
    Q_OBJECT
public:
    explicit TrainingView(QWidget *parent = nullptr);
    ~TrainingView() override;

    // The folder new runs go to (default: <app data>/runs).
    void setRunsDir(const QString &dir) { m_runsDir = dir; }
    QString runsDir() const { return m_runsDir; }

    void setRequest(const engine::TrainRequest &request); // fills the form
    engine::TrainRequest request() const;
    bool start();                       // from the form; false (and a message) when it cannot
    void startWith(const engine::TrainRequest &request);
    void resume(const QString &runDir);
    void pause(bool on);
    void stop();
    // Stops a running training (the trainer saves a checkpoint) and waits for the worker.
    void stopAndWait();
    bool isTraining() const { return m_training; }

    void openRun(const QString &dir);
    void openRunDialog();
    void resumeDialog();

    // State, for tests and the screenshot tool.
    int curvePointCount() const;     // loss points over every run shown
    int runCount() const { return int(m_runs.size()); }
    QString messageText() const;
    QString lastOutcome() const { return m_outcome; }
    PlotWidget *lossPlot() const { return m_lossPlot; }
    PlotWidget *accuracyPlot() const { return m_accPlot; }
    ExperimentsView *experiments() const { return m_experiments; }
    QWidget *exportTarget() const;
    void showExperiments(int plot);

    void saveSettings() const;
    void restoreSettings();

Q_SIGNALS:
    void trainingFinished(bool finished, const QString &runDir);
    void statusMessage(const QString &text);
    void modelTrained(const QString &modelDir);

private:
    struct Outcome {
        engine::TrainOutcome outcome;
        QString error;
        QString runDir;
    };
    void launch(std::function<engine::TrainOutcome(const engine::TrainHooks &)> job, const QString &runDir);
    void progress(const engine::TrainProgress &p);
    void finished();
    void refreshPlots();
    void updateButtons();
    void kindChanged();

    std::unique_ptr<Ui::TrainingView> m_ui;
    MessageBar *m_message = nullptr;
    LiveLabel *m_progressText = nullptr;
    PlotWidget *m_lossPlot = nullptr;
    PlotWidget *m_accPlot = nullptr;
    ExperimentsView *m_experiments = nullptr;
    QString m_runsDir;
    QFutureWatcher<Outcome> m_watcher;
    std::shared_ptr<std::atomic<bool>> m_stop, m_paused;
    QString m_currentRun;
    bool m_training = false; // from launch() until finished() ran
    QString m_outcome;
    std::vector<QPointer<RunFollower>> m_runs;
};

} // namespace vitscope::gui

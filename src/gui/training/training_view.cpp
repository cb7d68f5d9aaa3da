#include "src/gui/training/training_view.h"

#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QSettings>
#include <QStandardPaths>
#include <QThread>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>
#include <exception>

#include "src/engine/engine.h"
#include "src/gui/common/widgets.h"
#include "src/gui/training/experiments_view.h"
#include "src/gui/training/run_follower.h"
#include "ui_training_view.h"

namespace vitscope::gui {

namespace {

QString duration(double seconds)
{
    if (!std::isfinite(seconds) || seconds < 0)
        return QStringLiteral("?");
    const int s = int(std::lround(seconds));
    if (s < 60)
        return QObject::tr("%1 s").arg(s);
    if (s < 3600)
        return QObject::tr("%1 min %2 s").arg(s / 60).arg(s % 60, 2, 10, QLatin1Char('0'));
    return QObject::tr("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60, 2, 10, QLatin1Char('0'));
}

} // namespace

TrainingView::TrainingView(QWidget *parent)
    : QWidget(parent), m_ui(std::make_unique<Ui::TrainingView>()),
      m_stop(std::make_shared<std::atomic<bool>>(false)), m_paused(std::make_shared<std::atomic<bool>>(false))
{
    m_ui->setupUi(this);
    m_message = setUpViewHeader(
        this, m_ui->whatLabel,
        tr("<b>What am I seeing?</b> Training curves, read live from each run's metrics.jsonl. Loss per logged "
           "step; once per epoch the accuracy of a frozen-feature kNN classifier (MAE; the paper's linear "
           "probe idea, section 4) or of zero-shot classification with held-out prompts (CLIP). Runs started "
           "from vitscope-cli can be opened and followed while they train."),
        m_ui->messageHost);

    m_lossPlot = new PlotWidget(m_ui->lossPlotHost);
    m_lossPlot->setObjectName(QStringLiteral("lossPlot"));
    m_lossPlot->xAxis->setLabel(tr("step"));
    m_lossPlot->yAxis->setLabel(tr("training loss"));
    fillHost(m_ui->lossPlotHost, m_lossPlot);
    m_accPlot = new PlotWidget(m_ui->accPlotHost);
    m_accPlot->setObjectName(QStringLiteral("accuracyPlot"));
    m_accPlot->xAxis->setLabel(tr("epoch"));
    m_accPlot->yAxis->setLabel(tr("accuracy (%)"));
    fillHost(m_ui->accPlotHost, m_accPlot);
    m_experiments = new ExperimentsView(m_ui->experimentsTab);
    m_ui->experimentsTab->layout()->addWidget(m_experiments);

    m_ui->kindCombo->addItem(tr("MAE pretraining"), QStringLiteral("mae"));
    m_ui->kindCombo->addItem(tr("CLIP contrastive"), QStringLiteral("clip"));
    m_ui->dataCombo->addItem(tr("Fashion-MNIST"), QStringLiteral("fashion-mnist"));
    m_ui->dataCombo->addItem(tr("Choose a folder or caption CSV…"), QString());
    for (const char *s : {"random", "block", "grid"})
        m_ui->strategyCombo->addItem(QString::fromLatin1(s), QString::fromLatin1(s));
    m_ui->progressBar->setFormat(QStringLiteral("%p%"));
    m_progressText = replaceWithLiveLabel(m_ui->progressLabel, 3); // changes per step: no relayouts

    m_runsDir = QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + QStringLiteral("/runs");

    connect(m_ui->kindCombo, &QComboBox::currentIndexChanged, this, &TrainingView::kindChanged);
    connect(m_ui->dataCombo, &QComboBox::activated, this, [this](int index) {
        if (!m_ui->dataCombo->itemData(index).toString().isEmpty())
            return;
        const QString dir = QFileDialog::getExistingDirectory(this, tr("Training images: one subfolder per class"));
        if (dir.isEmpty()) {
            m_ui->dataCombo->setCurrentIndex(0);
            return;
        }
        m_ui->dataCombo->insertItem(index, QFileInfo(dir).fileName(), dir);
        m_ui->dataCombo->setItemData(index, dir, Qt::ToolTipRole);
        m_ui->dataCombo->setCurrentIndex(index);
    });
    connect(m_ui->startButton, &QPushButton::clicked, this, &TrainingView::start);
    m_ui->startButton->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return));
    connect(m_ui->pauseButton, &QPushButton::toggled, this, &TrainingView::pause);
    connect(m_ui->stopButton, &QPushButton::clicked, this, &TrainingView::stop);
    connect(m_ui->resumeButton, &QPushButton::clicked, this, &TrainingView::resumeDialog);
    connect(m_ui->openRunButton, &QPushButton::clicked, this, &TrainingView::openRunDialog);
    connect(m_ui->logCheck, &QCheckBox::toggled, m_lossPlot, &PlotWidget::setLogY);
    connect(m_lossPlot, &PlotWidget::logYChanged, m_ui->logCheck, &QCheckBox::setChecked);
    connect(m_ui->removeRunButton, &QPushButton::clicked, this, [this]() {
        const int i = m_ui->runsCombo->currentIndex();
        if (i < 0 || i >= int(m_runs.size()))
            return;
        if (m_runs[std::size_t(i)] && m_runs[std::size_t(i)]->dir() == m_currentRun && isTraining()) {
            m_message->show(tr("This run is training; stop it first."), MessageBar::Kind::Warning, 5000);
            return;
        }
        delete m_runs[std::size_t(i)];
        m_runs.erase(m_runs.begin() + i);
        m_ui->runsCombo->removeItem(i);
        refreshPlots();
    });
    connect(&m_watcher, &QFutureWatcher<Outcome>::finished, this, &TrainingView::finished);
    kindChanged();
    updateButtons();
}

TrainingView::~TrainingView()
{
    stopAndWait();
}

void TrainingView::kindChanged()
{
    const QString kind = m_ui->kindCombo->currentData().toString();
    const bool mae = kind == QLatin1String("mae");
    m_ui->strategyCombo->setEnabled(mae);
    m_ui->ratioSpin->setEnabled(mae);
    m_ui->normPixCheck->setEnabled(mae);
    m_ui->lrSpin->setValue(mae ? 1.5e-3 : 5e-4);
    m_ui->lrSpinLabel->setText(mae ? tr("Base &lr") : tr("&Learning rate"));
    const QString preset = m_ui->presetCombo->currentText();
    m_ui->presetCombo->clear();
    for (const auto &p : engine::presetNames(kind.toStdString()))
        m_ui->presetCombo->addItem(QString::fromStdString(p));
    const int i = m_ui->presetCombo->findText(preset.isEmpty() ? QStringLiteral("fmnist") : preset);
    m_ui->presetCombo->setCurrentIndex(i >= 0 ? i : m_ui->presetCombo->findText(QStringLiteral("fmnist")));
}

engine::TrainRequest TrainingView::request() const
{
    engine::TrainRequest q;
    q.kind = m_ui->kindCombo->currentData().toString().toStdString();
    q.data = m_ui->dataCombo->currentData().toString().toStdString();
    q.limit = m_ui->limitSpin->value();
    q.preset = m_ui->presetCombo->currentText().toStdString();
    q.maskStrategy = m_ui->strategyCombo->currentData().toString().toStdString();
    q.maskRatio = m_ui->ratioSpin->value() / 100.0;
    q.normPixLoss = m_ui->normPixCheck->isChecked();
    q.epochs = m_ui->epochsSpin->value();
    q.batch = m_ui->batchSpin->value();
    q.lr = m_ui->lrSpin->value();
    q.warmupEpochs = m_ui->warmupSpin->value();
    q.seed = std::uint64_t(m_ui->seedSpin->value());
    return q;
}

void TrainingView::setRequest(const engine::TrainRequest &q)
{
    m_ui->kindCombo->setCurrentIndex(m_ui->kindCombo->findData(QString::fromStdString(q.kind)));
    const QString data = QString::fromStdString(q.data);
    if (m_ui->dataCombo->findData(data) < 0)
        m_ui->dataCombo->insertItem(m_ui->dataCombo->count() - 1, QFileInfo(data).fileName(), data);
    m_ui->dataCombo->setCurrentIndex(m_ui->dataCombo->findData(data));
    m_ui->limitSpin->setValue(int(q.limit));
    m_ui->presetCombo->setCurrentText(QString::fromStdString(q.preset));
    m_ui->strategyCombo->setCurrentIndex(m_ui->strategyCombo->findData(QString::fromStdString(q.maskStrategy)));
    m_ui->ratioSpin->setValue(int(std::lround(q.maskRatio * 100)));
    m_ui->normPixCheck->setChecked(q.normPixLoss);
    m_ui->epochsSpin->setValue(int(q.epochs));
    m_ui->batchSpin->setValue(int(q.batch));
    m_ui->lrSpin->setValue(q.lr);
    m_ui->warmupSpin->setValue(q.warmupEpochs);
    m_ui->seedSpin->setValue(int(q.seed));
}

bool TrainingView::start()
{
    if (isTraining()) {
        m_message->show(tr("A run is training already; stop it first."), MessageBar::Kind::Warning, 5000);
        return false;
    }
    startWith(request());
    return true;
}

void TrainingView::startWith(const engine::TrainRequest &q)
{
    if (isTraining())
        return;
    if (!QDir().mkpath(m_runsDir)) {
        m_message->show(tr("%1: cannot create the runs folder").arg(m_runsDir));
        return;
    }
    const QString runDir = QString::fromStdString(engine::newRunDir(m_runsDir.toStdString(), q.kind));
    launch([q, runDir](const engine::TrainHooks &hooks) { return engine::train(q, runDir.toStdString(), hooks); },
           runDir);
}

void TrainingView::resume(const QString &runDir)
{
    if (isTraining())
        return;
    launch([runDir](const engine::TrainHooks &hooks) { return engine::resume(runDir.toStdString(), hooks); }, runDir);
}

void TrainingView::launch(std::function<engine::TrainOutcome(const engine::TrainHooks &)> job, const QString &runDir)
{
    m_stop->store(false);
    m_paused->store(false);
    {
        QSignalBlocker block(m_ui->pauseButton);
        m_ui->pauseButton->setChecked(false);
    }
    m_currentRun = runDir;
    m_outcome.clear();
    m_ui->progressBar->setValue(0);
    m_progressText->setText(tr("Preparing the data and the model…"));
    m_ui->runDirLabel->setText(tr("Run folder: %1").arg(QDir::toNativeSeparators(runDir)));
    engine::TrainHooks hooks;
    QPointer<TrainingView> self(this);
    hooks.onStep = [self](const engine::TrainProgress &p) {
        QMetaObject::invokeMethod(self, [self, p]() { if (self) self->progress(p); }, Qt::QueuedConnection);
    };
    auto stopFlag = m_stop;
    auto pausedFlag = m_paused;
    hooks.shouldStop = [stopFlag, pausedFlag]() {
        while (pausedFlag->load() && !stopFlag->load())
            QThread::msleep(50);
        return stopFlag->load();
    };
    m_training = true;
    m_watcher.setFuture(QtConcurrent::run([job, hooks, runDir]() {
        Outcome o;
        o.runDir = runDir;
        try {
            o.outcome = job(hooks);
        } catch (const std::exception &e) {
            o.error = QString::fromStdString(e.what());
        }
        return o;
    }));
    updateButtons();
    Q_EMIT statusMessage(tr("Training: %1").arg(runDir));
}

void TrainingView::progress(const engine::TrainProgress &p)
{
    // The run folder exists once the first step is reported: follow it.
    bool following = false;
    for (const auto &r : m_runs)
        following = following || (r && r->dir() == m_currentRun);
    if (!following)
        openRun(m_currentRun);
    m_ui->progressBar->setRange(0, int(std::max<std::int64_t>(1, p.totalSteps)));
    m_ui->progressBar->setValue(int(p.step));
    m_progressText->setText(
        tr("%1 · epoch %2 of %3 · step %4 of %5 · loss %6 · %7 images/s · elapsed %8 · about %9 left")
            .arg(m_paused->load() ? tr("paused") : tr("training"))
            .arg(p.epoch + 1)
            .arg(p.epochs)
            .arg(p.step)
            .arg(p.totalSteps)
            .arg(p.loss, 0, 'f', 4)
            .arg(p.imagesPerSecond, 0, 'f', 0)
            .arg(duration(p.elapsedSeconds), duration(p.etaSeconds)));
}

void TrainingView::finished()
{
    if (!m_training)
        return; // handled already (stopAndWait)
    m_training = false;
    const Outcome o = m_watcher.result();
    for (const auto &r : m_runs)
        if (r && r->dir() == o.runDir)
            r->poll();
    bool following = false;
    for (const auto &r : m_runs)
        following = following || (r && r->dir() == o.runDir);
    if (!following && o.error.isEmpty())
        openRun(o.runDir);
    if (!o.error.isEmpty()) {
        m_outcome = QStringLiteral("error");
        m_progressText->setText(tr("Failed."));
        m_message->show(o.error, MessageBar::Kind::Error, 0);
        Q_EMIT statusMessage(o.error);
        Q_EMIT trainingFinished(false, o.runDir);
    } else if (o.outcome.finished) {
        m_outcome = QStringLiteral("finished");
        m_ui->progressBar->setValue(m_ui->progressBar->maximum());
        m_progressText->setText(tr("Finished: %1 steps in %2. The model is in %3; load it in the Models view.")
                                         .arg(o.outcome.steps)
                                         .arg(duration(o.outcome.seconds))
                                         .arg(QDir::toNativeSeparators(QString::fromStdString(o.outcome.modelDir))));
        Q_EMIT modelTrained(QString::fromStdString(o.outcome.modelDir));
        Q_EMIT trainingFinished(true, o.runDir);
    } else {
        m_outcome = QStringLiteral("stopped");
        m_progressText->setText(
            tr("Stopped at step %1; a checkpoint was saved. \"Resume a run…\" continues it.").arg(o.outcome.steps));
        Q_EMIT trainingFinished(false, o.runDir);
    }
    refreshPlots();
    updateButtons();
}

void TrainingView::pause(bool on)
{
    m_paused->store(on);
    if (isTraining())
        m_progressText->setText(on ? tr("Paused (Pause again to continue).") : tr("Continuing…"));
}

void TrainingView::stop()
{
    m_stop->store(true);
    if (isTraining())
        m_progressText->setText(tr("Stopping after this step and saving a checkpoint…"));
}

void TrainingView::stopAndWait()
{
    if (!m_training)
        return;
    stop();
    m_watcher.waitForFinished();
    finished();
}

void TrainingView::updateButtons()
{
    const bool training = isTraining();
    m_ui->startButton->setEnabled(!training);
    m_ui->resumeButton->setEnabled(!training);
    m_ui->pauseButton->setEnabled(training);
    m_ui->stopButton->setEnabled(training);
    m_ui->configBox->setEnabled(!training);
}

void TrainingView::openRun(const QString &dir)
{
    for (const auto &r : m_runs)
        if (r && r->dir() == dir) {
            r->poll();
            return;
        }
    auto *follower = new RunFollower(dir, this);
    if (!follower->error().isEmpty()) {
        m_message->show(follower->error());
        delete follower;
        return;
    }
    m_runs.emplace_back(follower);
    m_ui->runsCombo->addItem(follower->label(), dir);
    m_ui->runsCombo->setItemData(m_ui->runsCombo->count() - 1, dir, Qt::ToolTipRole);
    m_ui->runsCombo->setCurrentIndex(m_ui->runsCombo->count() - 1);
    connect(follower, &RunFollower::updated, this, &TrainingView::refreshPlots);
    QStringList recent = QSettings().value(QStringLiteral("training/recentRuns")).toStringList();
    recent.removeAll(dir);
    recent.prepend(dir);
    QSettings().setValue(QStringLiteral("training/recentRuns"), recent.mid(0, 10));
    refreshPlots();
}

void TrainingView::openRunDialog()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Open a run folder"), m_runsDir);
    if (!dir.isEmpty())
        openRun(dir);
}

void TrainingView::resumeDialog()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Resume a run folder"), m_runsDir);
    if (!dir.isEmpty())
        resume(dir);
}

void TrainingView::refreshPlots()
{
    m_lossPlot->clearGraphs();
    m_accPlot->clearGraphs();
    int i = 0;
    QString evalName;
    for (const auto &r : m_runs) {
        if (!r)
            continue;
        QCPGraph *g = m_lossPlot->addGraph();
        g->setName(QStringLiteral("%1 (%2)").arg(r->label(), r->status()));
        g->setPen(QPen(seriesColor(i), 1.5));
        g->setData(r->stepX, r->stepLoss, true);
        if (!r->evalX.isEmpty()) {
            QCPGraph *a = m_accPlot->addGraph();
            a->setName(QStringLiteral("%1 · %2").arg(r->label(), r->evalName));
            a->setPen(QPen(seriesColor(i), 2));
            a->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, seriesColor(i), 6));
            a->setData(r->evalX, r->evalY, true);
            evalName = evalName.isEmpty() || evalName == r->evalName ? r->evalName : QStringLiteral("mixed");
        }
        ++i;
    }
    m_accPlot->yAxis->setLabel(evalName.isEmpty() || evalName == QLatin1String("mixed") ? tr("accuracy (%)")
                                                                                       : tr("%1 accuracy (%)").arg(evalName));
    m_lossPlot->legend->setVisible(m_lossPlot->graphCount() > 0);
    m_accPlot->legend->setVisible(m_accPlot->graphCount() > 0);
    m_lossPlot->rescaleAxes();
    m_accPlot->rescaleAxes();
    m_accPlot->yAxis->scaleRange(1.1);
    m_lossPlot->replot();
    m_accPlot->replot();
}

int TrainingView::curvePointCount() const
{
    int n = 0;
    for (const auto &r : m_runs)
        if (r)
            n += int(r->stepX.size());
    return n;
}

QString TrainingView::messageText() const
{
    return m_message->text();
}

QWidget *TrainingView::exportTarget() const
{
    return m_ui->curveTabs->currentWidget();
}

void TrainingView::showExperiments(int plot)
{
    m_ui->curveTabs->setCurrentWidget(m_ui->experimentsTab);
    m_experiments->showPlot(plot);
}

void TrainingView::saveSettings() const
{
    QSettings s;
    const engine::TrainRequest q = request();
    s.setValue(QStringLiteral("training/kind"), QString::fromStdString(q.kind));
    s.setValue(QStringLiteral("training/limit"), qlonglong(q.limit));
    s.setValue(QStringLiteral("training/preset"), QString::fromStdString(q.preset));
    s.setValue(QStringLiteral("training/strategy"), QString::fromStdString(q.maskStrategy));
    s.setValue(QStringLiteral("training/ratio"), q.maskRatio);
    s.setValue(QStringLiteral("training/epochs"), qlonglong(q.epochs));
    s.setValue(QStringLiteral("training/batch"), qlonglong(q.batch));
    s.setValue(QStringLiteral("training/lr"), q.lr);
    s.setValue(QStringLiteral("training/seed"), qulonglong(q.seed));
}

void TrainingView::restoreSettings()
{
    QSettings s;
    if (!s.contains(QStringLiteral("training/kind")))
        return;
    engine::TrainRequest q;
    q.kind = s.value(QStringLiteral("training/kind")).toString().toStdString();
    q.limit = s.value(QStringLiteral("training/limit")).toLongLong();
    q.preset = s.value(QStringLiteral("training/preset"), QStringLiteral("fmnist")).toString().toStdString();
    q.maskStrategy = s.value(QStringLiteral("training/strategy"), QStringLiteral("random")).toString().toStdString();
    q.maskRatio = s.value(QStringLiteral("training/ratio"), 0.75).toDouble();
    q.epochs = s.value(QStringLiteral("training/epochs"), 5).toLongLong();
    q.batch = s.value(QStringLiteral("training/batch"), 128).toLongLong();
    q.lr = s.value(QStringLiteral("training/lr"), 1.5e-3).toDouble();
    q.seed = s.value(QStringLiteral("training/seed"), 0).toULongLong();
    setRequest(q);
    m_ui->lrSpin->setValue(q.lr);
}

} // namespace vitscope::gui

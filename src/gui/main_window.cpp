#include "src/gui/main_window.h"

#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QSettings>
#include <QStatusBar>
#include <QTimer>

#include <iterator>

#include "src/engine/engine.h"
#include "src/engine/model_spec.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/widgets.h"
#include "src/gui/inside/inside_view.h"
#include "src/gui/lessons/lesson_player.h"
#include "src/gui/inside/embedding_map.h"
#include "src/gui/mae_explorer/mae_explorer_view.h"
#include "src/gui/common/model_registry.h"
#include "src/gui/models_view/models_view.h"
#include "src/gui/samples/sample_grid_view.h"
#include "src/gui/training/training_view.h"
#include "src/gui/zero_shot/zero_shot_view.h"
#include "ui_main_window.h"
#include "vitscope/version.h"

// The .qrc lives in a static library: referencing its initialiser keeps the linker from
// dropping it.
static void initVitscopeResources()
{
    Q_INIT_RESOURCE(vitscope);
}

namespace vitscope::gui {

namespace {
const char *kViewNames[] = {"mae", "zeroshot", "training", "models", "dataset", "inside"};

bool isCheckpointFile(const QString &name)
{
    for (const char *ext : {".pth", ".pt", ".bin", ".safetensors", ".ckpt"})
        if (name.endsWith(QLatin1String(ext), Qt::CaseInsensitive))
            return true;
    return false;
}
}

MainWindow::MainWindow(const QString &dataDir, QWidget *parent) : MainWindow(Options{dataDir, true, true}, parent) {}

MainWindow::MainWindow(const Options &options, QWidget *parent)
    : QMainWindow(parent), m_ui(std::make_unique<Ui::MainWindow>())
{
    initVitscopeResources();
    m_ui->setupUi(this);
    setWindowTitle(QStringLiteral("vitscope %1").arg(QStringLiteral(VITSCOPE_VERSION)));
    setWindowIcon(QIcon(QStringLiteral(":/icons/vitscope.svg")));
    m_baseFont = QApplication::font();

    const engine::BuildInfo info = engine::buildInfo();
    m_torchText = QStringLiteral("LibTorch %1%2")
                      .arg(QString::fromStdString(info.torchVersion), info.torchCuda ? QStringLiteral(" (CUDA)") : QString());
    m_device = new QLabel(this);
    m_device->setObjectName(QStringLiteral("deviceLabel"));
    m_device->setToolTip(tr("Where models load and train. Choose in the Models view, or set VITSCOPE_DEVICE=cpu|cuda."));
    statusBar()->addPermanentWidget(m_device);

    m_models = new ModelRegistry(this);
    m_mae = new MaeExplorerView(m_models, this);
    m_zeroShot = new ZeroShotView(m_models, this);
    m_training = new TrainingView(this);
    m_modelsView = new ModelsView(m_models, this);
    m_samples = new SampleGridView(this);
    m_inside = new InsideView(m_models, this);
    m_ui->views->addTab(m_mae, tr("MAE explorer"));
    m_ui->views->addTab(m_zeroShot, tr("Zero-shot"));
    m_ui->views->addTab(m_training, tr("Training"));
    m_ui->views->addTab(m_modelsView, tr("Models"));
    m_ui->views->addTab(m_samples, tr("Dataset"));
    m_ui->views->addTab(m_inside, tr("Inside"));
    m_ui->views->setTabToolTip(0, tr("Masking and reconstruction with an MAE (Ctrl+1)"));
    m_ui->views->setTabToolTip(1, tr("Zero-shot classification with CLIP from typed class names (Ctrl+2)"));
    m_ui->views->setTabToolTip(2, tr("Train, follow and compare runs; the papers' experiments (Ctrl+3)"));
    m_ui->views->setTabToolTip(3, tr("Bundled models, Hugging Face folders, device (Ctrl+4)"));
    m_ui->views->setTabToolTip(4, tr("The Fashion-MNIST test split (Ctrl+5)"));
    m_ui->views->setTabToolTip(5, tr("Inside the models: attention maps, rollout and the embedding map (Ctrl+6)"));
    auto *viewInside = new QAction(tr("&Inside the models"), this);
    viewInside->setShortcut(QKeySequence(QStringLiteral("Ctrl+6")));
    for (QObject *o : m_ui->actionViewDataset->associatedObjects())
        if (auto *menu = qobject_cast<QMenu *>(o))
            menu->addAction(viewInside);
    addAction(viewInside);
    connect(viewInside, &QAction::triggered, this, [this]() { m_ui->views->setCurrentWidget(m_inside); });
    connect(m_inside, &InsideView::statusMessage, this, [this](const QString &t) { statusBar()->showMessage(t, 8000); });

    auto status = [this](const QString &text) { statusBar()->showMessage(text, 8000); };
    connect(m_samples, &SampleGridView::statusMessage, this, status);
    connect(m_mae, &MaeExplorerView::statusMessage, this, status);
    connect(m_zeroShot, &ZeroShotView::statusMessage, this, status);
    connect(m_training, &TrainingView::statusMessage, this, status);
    connect(m_modelsView, &ModelsView::statusMessage, this, status);
    connect(m_modelsView, &ModelsView::deviceChanged, this, &MainWindow::updateDeviceLabel);
    connect(m_models, &ModelRegistry::loaded, this, &MainWindow::updateDeviceLabel);

    connectActions();
    setUpLessons();
    connect(m_ui->actionWhat, &QAction::triggered, this, &MainWindow::showWhat);
    connect(m_ui->actionAbout, &QAction::triggered, this, &MainWindow::showAbout);

    if (options.restoreSettings) {
        QSettings s;
        restoreGeometry(s.value(QStringLiteral("window/geometry")).toByteArray());
        restoreState(s.value(QStringLiteral("window/state")).toByteArray());
        m_ui->views->setCurrentIndex(s.value(QStringLiteral("window/view"), 0).toInt());
        m_mae->restoreSettings();
        m_zeroShot->restoreSettings();
        m_training->restoreSettings();
        if (s.value(QStringLiteral("window/presentation"), false).toBool())
            m_ui->actionPresentation->setChecked(true);
    }
    updateDeviceLabel();

    m_samples->load(options.dataDir);
    m_mae->loadFashionMnist(options.dataDir);
    m_zeroShot->addFashionMnistSamples(options.dataDir, 2);
    m_inside->loadFashionMnist(options.dataDir);
    if (options.loadBundled)
        for (const auto &name : engine::bundledModels())
            m_modelsView->loadModel(QString::fromStdString(name), false);
    // A model opened from the command line or a drop: once it is current, its view shows,
    // unless a view was asked for (showView) or the user moved on from the view openPaths chose.
    connect(m_models, &ModelRegistry::currentChanged, this, [this](const QString &kind, const QString &) {
        if (!m_showModelsView || m_ui->views->currentWidget() != m_pathsView)
            return;
        m_showModelsView = false;
        m_ui->views->setCurrentWidget(kind == QLatin1String("mae") ? static_cast<QWidget *>(m_mae) : m_zeroShot);
    });
}

// The File, Edit, View and Training menus' actions.
void MainWindow::connectActions()
{
    connect(m_ui->actionOpenImage, &QAction::triggered, this, [this]() {
        if (m_ui->views->currentWidget() == m_zeroShot)
            m_zeroShot->openImagesDialog();
        else {
            m_ui->views->setCurrentWidget(m_mae);
            m_mae->openImageDialog();
        }
    });
    connect(m_ui->actionOpenImageFolder, &QAction::triggered, this, [this]() {
        if (m_ui->views->currentWidget() == m_mae)
            m_mae->openFolderDialog();
        else {
            m_ui->views->setCurrentWidget(m_zeroShot);
            m_zeroShot->openFolderDialog();
        }
    });
    connect(m_ui->actionOpenModel, &QAction::triggered, this, [this]() {
        m_ui->views->setCurrentWidget(m_modelsView);
        m_modelsView->openFolderDialog();
    });
    connect(m_ui->actionOpenRun, &QAction::triggered, this, [this]() {
        m_ui->views->setCurrentWidget(m_training);
        m_training->openRunDialog();
    });
    connect(m_ui->actionOpenDataFolder, &QAction::triggered, this, &MainWindow::openDataFolder);
    connect(m_ui->actionReload, &QAction::triggered, m_samples, &SampleGridView::reload);
    connect(m_ui->actionExportView, &QAction::triggered, this, &MainWindow::exportView);
    connect(m_ui->actionQuit, &QAction::triggered, this, &QWidget::close);
    connect(m_ui->actionPaste, &QAction::triggered, this, &MainWindow::paste);
    connect(m_ui->actionPresentation, &QAction::toggled, this, &MainWindow::setPresentationMode);
    QAction *viewActions[] = {m_ui->actionViewMae, m_ui->actionViewZeroShot, m_ui->actionViewTraining,
                              m_ui->actionViewModels, m_ui->actionViewDataset};
    for (int i = 0; i < 5; ++i)
        connect(viewActions[i], &QAction::triggered, this, [this, i]() { m_ui->views->setCurrentIndex(i); });
    connect(m_ui->actionStartTraining, &QAction::triggered, this, [this]() {
        m_ui->views->setCurrentWidget(m_training);
        m_training->start();
    });
    connect(m_ui->actionStopTraining, &QAction::triggered, m_training, &TrainingView::stop);
    connect(m_training, &TrainingView::modelTrained, this, [this](const QString &dir) {
        statusBar()->showMessage(tr("Training finished: the model is in %1").arg(dir), 15000);
    });
}

// The Lesson menu and its player, which plays slides on the views.
void MainWindow::setUpLessons()
{
    LessonTargets targets;
    targets.window = this;
    targets.models = m_models;
    targets.mae = m_mae;
    targets.zeroShot = m_zeroShot;
    targets.inside = m_inside;
    targets.viewNames = viewNames();
    targets.showView = [this](const QString &name) { return showView(name); };
    targets.currentView = [this]() { return viewNames().value(m_ui->views->currentIndex()); };
    m_lessons = new LessonPlayer(targets);
    menuBar()->insertMenu(m_ui->menuHelp->menuAction(), m_lessons->createMenu());
}

MainWindow::~MainWindow()
{
    m_training->stopAndWait();
}

void MainWindow::updateDeviceLabel()
{
    const engine::BuildInfo info = engine::buildInfo();
    QString where = QString::fromStdString(info.device);
    const QString choice = m_modelsView->deviceChoice();
    if (choice != QLatin1String("auto"))
        where = choice.toUpper() + QStringLiteral(" (chosen)");
    m_device->setText(tr("Device: %1 · %2 · %3 models loaded").arg(where, m_torchText).arg(m_models->models().size()));
}

bool MainWindow::showView(const QString &name)
{
    m_showModelsView = false;
    for (int i = 0; i < int(std::size(kViewNames)); ++i)
        if (name == QLatin1String(kViewNames[i])) {
            m_ui->views->setCurrentIndex(i);
            return true;
        }
    return false;
}

void MainWindow::setPresentationMode(bool on)
{
    m_presentation = on;
    if (m_ui->actionPresentation->isChecked() != on)
        m_ui->actionPresentation->setChecked(on);
    QFont f = m_baseFont;
    if (on)
        f.setPointSizeF((m_baseFont.pointSizeF() > 0 ? m_baseFont.pointSizeF() : 10.0) * 1.6);
    QApplication::setFont(f);
    statusBar()->showMessage(on ? tr("Presentation mode: larger fonts (F11 to leave)") : QString(), 4000);
}

bool MainWindow::isBusy() const
{
    return m_models->isLoading() || m_mae->isBusy() || m_zeroShot->isBusy() || m_samples->isLoading() ||
           m_inside->isBusy() || (m_lessons && m_lessons->isSettling());
}

void MainWindow::openPaths(const QStringList &paths)
{
    QStringList images;
    for (const QString &p : paths) {
        const QFileInfo info(p);
        const QDir dir(p);
        if (info.isDir() && dir.exists(QStringLiteral("config.json")) && dir.exists(QStringLiteral("metrics.jsonl"))) {
            m_training->openRun(info.absoluteFilePath());
            m_ui->views->setCurrentWidget(m_training);
        } else if ((info.isDir() && (dir.exists(QStringLiteral("config.json")) ||
                                     dir.exists(QStringLiteral("open_clip_config.json")))) ||
                   (info.isFile() && isCheckpointFile(info.fileName()))) {
            // A model folder; FAIR .pth, OpenAI .pt, open_clip .bin / .safetensors: the core tells them apart.
            m_modelsView->loadModel(info.absoluteFilePath());
            m_ui->views->setCurrentWidget(m_modelsView);
            m_showModelsView = true;
        } else if (!info.exists() && engine::modelSpecKind(p.toStdString()) == engine::ModelSpecKind::Bundled) {
            m_modelsView->loadModel(p);
            m_ui->views->setCurrentWidget(m_modelsView);
            m_showModelsView = true;
        } else if (!info.exists() && engine::modelSpecKind(p.toStdString()) == engine::ModelSpecKind::HubId) {
            m_modelsView->openHubModel(p); // downloads with the dialog's progress, then loads
            m_ui->views->setCurrentWidget(m_modelsView);
            m_showModelsView = true;
        } else if (info.isFile() && info.suffix().compare(QLatin1String("json"), Qt::CaseInsensitive) == 0) {
            try {
                m_lessons->open(info.absoluteFilePath()); // `vitscope LESSON.json`
            } catch (const LessonError &e) {
                statusBar()->showMessage(QString::fromStdString(e.what()), 15000);
            }
        } else if (info.isDir()) {
            m_zeroShot->addFiles({info.absoluteFilePath()});
            m_ui->views->setCurrentWidget(m_zeroShot);
        } else {
            images << info.absoluteFilePath();
        }
    }
    if (!images.isEmpty()) {
        m_mae->openImageFile(images.first());
        m_zeroShot->addFiles(images);
        m_ui->views->setCurrentWidget(images.size() == 1 ? static_cast<QWidget *>(m_mae) : m_zeroShot);
    }
    m_pathsView = m_ui->views->currentWidget();
}

QStringList MainWindow::viewNames()
{
    QStringList names;
    for (const char *n : kViewNames)
        names << QString::fromLatin1(n);
    return names;
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (!localFiles(event->mimeData()).isEmpty())
        event->acceptProposedAction();
}

void MainWindow::dropEvent(QDropEvent *event)
{
    openPaths(localFiles(event->mimeData()));
    event->acceptProposedAction();
}

void MainWindow::paste()
{
    if (m_ui->views->currentWidget() == m_zeroShot)
        m_zeroShot->pasteFromClipboard();
    else {
        m_ui->views->setCurrentWidget(m_mae);
        m_mae->pasteFromClipboard();
    }
}

void MainWindow::exportView()
{
    QWidget *target = m_ui->views->currentWidget();
    if (target == m_mae)
        target = m_mae->exportTarget();
    else if (target == m_training)
        target = m_training->exportTarget();
    else if (target == m_inside)
        target = m_inside->exportTarget();
    auto *bar = findChild<MessageBar *>(); // any view's bar will do for the result
    if (auto *own = m_ui->views->currentWidget()->findChild<MessageBar *>())
        bar = own;
    exportWidgetInteractive(target, QStringLiteral("vitscope-") + QLatin1String(kViewNames[m_ui->views->currentIndex()]),
                            bar);
}

void MainWindow::openDataFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Folder with the Fashion-MNIST IDX files"),
                                                          m_samples->dataDir());
    if (dir.isEmpty())
        return;
    m_samples->load(dir);
    m_mae->loadFashionMnist(dir);
}

void MainWindow::showWhat()
{
    QString text;
    QWidget *view = m_ui->views->currentWidget();
    if (view == m_inside)
        text = m_inside->currentWhatText();
    else if (auto *label = view->findChild<QLabel *>(QStringLiteral("whatLabel")))
        text = label->text();
    else
        text = tr("<b>Dataset.</b> The first ten images of each class of the Fashion-MNIST test split "
                  "(Xiao et al. 2017): 28 × 28 grey images of 10 kinds of clothing. The bundled models were "
                  "trained on its training split.");
    QMessageBox box(QMessageBox::Information, tr("What am I seeing?"), text, QMessageBox::Ok, this);
    box.setTextFormat(Qt::RichText);
    box.exec();
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, tr("About vitscope"),
                       tr("<h3>vitscope %1</h3>"
                          "<p>Explore masked autoencoders (MAE, He et al. 2021) and CLIP (Radford et al. 2021): "
                          "masking, reconstruction, zero-shot classification and training.</p>"
                          "<p>%2<br>Device: %3</p>")
                           .arg(QStringLiteral(VITSCOPE_VERSION), m_torchText,
                                QString::fromStdString(engine::buildInfo().device)));
}

void MainWindow::saveSettings() const
{
    QSettings s;
    s.setValue(QStringLiteral("window/geometry"), saveGeometry());
    s.setValue(QStringLiteral("window/state"), saveState());
    s.setValue(QStringLiteral("window/view"), m_ui->views->currentIndex());
    s.setValue(QStringLiteral("window/presentation"), m_presentation);
    m_mae->saveSettings();
    m_zeroShot->saveSettings();
    m_training->saveSettings();
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    saveSettings();
    if (m_training->isTraining()) {
        statusBar()->showMessage(tr("Stopping the training run and saving a checkpoint…"));
        QApplication::processEvents();
        m_training->stopAndWait();
    }
    event->accept();
}

void MainWindow::saveScreenshots(const QString &dir, std::function<void(bool, QString)> done)
{
    QDir().mkpath(dir);
    struct Shot {
        QString file;
        std::function<void()> prepare;
    };
    auto shots = std::make_shared<std::vector<Shot>>();
    shots->push_back({QStringLiteral("mae-explorer.png"), [this]() {
                          m_ui->views->setCurrentWidget(m_mae);
                          m_mae->setCompare(false);
                      }});
    shots->push_back({QStringLiteral("mae-compare.png"), [this]() { m_mae->setCompare(true); }});
    shots->push_back({QStringLiteral("zero-shot.png"), [this]() {
                          m_mae->setCompare(false);
                          m_ui->views->setCurrentWidget(m_zeroShot);
                      }});
    shots->push_back({QStringLiteral("training.png"), [this]() {
                          // The bundled models' training runs give the curves something to show.
                          for (const auto &m : m_models->models()) {
                              const QString run = QString::fromStdString(m.info.dir) + QStringLiteral("/run");
                              if (QFileInfo::exists(run + QStringLiteral("/metrics.jsonl")))
                                  m_training->openRun(run);
                          }
                          m_ui->views->setCurrentWidget(m_training);
                      }});
    shots->push_back({QStringLiteral("experiments-mask-ratio.png"), [this]() { m_training->showExperiments(0); }});
    shots->push_back({QStringLiteral("experiments-kshot.png"), [this]() { m_training->showExperiments(2); }});
    shots->push_back({QStringLiteral("experiments-partial-finetune.png"), [this]() { m_training->showExperiments(3); }});
    shots->push_back({QStringLiteral("experiments-shift.png"), [this]() { m_training->showExperiments(4); }});
    shots->push_back({QStringLiteral("models.png"), [this]() { m_ui->views->setCurrentWidget(m_modelsView); }});
    shots->push_back({QStringLiteral("dataset.png"), [this]() { m_ui->views->setCurrentWidget(m_samples); }});
    shots->push_back({QStringLiteral("inside-attention.png"), [this]() {
                          m_ui->views->setCurrentWidget(m_inside);
                          m_inside->showMapTab(false);
                          m_inside->setModel(QStringLiteral("fmnist-clip"));
                          m_inside->setMode(InsideView::Mode::Rollout);
                      }});
    shots->push_back({QStringLiteral("inside-mae-attention.png"), [this]() {
                          m_inside->setModel(QStringLiteral("fmnist-mae"));
                          m_inside->setMode(InsideView::Mode::ClassToken);
                      }});
    shots->push_back({QStringLiteral("inside-embedding-map.png"), [this]() {
                          m_inside->showMapTab(true);
                          m_inside->mapView()->setModel(QStringLiteral("fmnist-clip"));
                          m_inside->mapView()->compute();
                      }});

    auto index = std::make_shared<int>(-1);
    auto waited = std::make_shared<int>(0);
    auto timer = new QTimer(this);
    timer->setInterval(250);
    connect(timer, &QTimer::timeout, this, [this, timer, shots, index, waited, dir, done]() {
        if (*index >= 0) {
            // Wait for the view to settle: nothing in flight, twice in a row, at most 60 s.
            if (isBusy() && ++*waited < 240)
                return;
            if (++*waited < 3)
                return;
            const QString path = QDir(dir).filePath((*shots)[std::size_t(*index)].file);
            if (!grab().save(path, "PNG")) {
                timer->stop();
                timer->deleteLater();
                done(false, path);
                return;
            }
        }
        ++*index;
        *waited = 0;
        if (*index >= int(shots->size())) {
            timer->stop();
            timer->deleteLater();
            done(true, dir);
            return;
        }
        (*shots)[std::size_t(*index)].prepare();
    });
    timer->start();
}

} // namespace vitscope::gui

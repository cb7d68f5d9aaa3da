#include "src/gui/main_window.h"

#include <QFileDialog>
#include <QLabel>
#include <QMessageBox>
#include <QStatusBar>

#include "src/engine/engine.h"
#include "src/gui/samples/sample_grid_view.h"
#include "ui_main_window.h"
#include "vitscope/version.h"

// The .qrc lives in a static library: referencing its initialiser keeps the linker from
// dropping it.
static void initVitscopeResources()
{
    Q_INIT_RESOURCE(vitscope);
}

namespace vitscope::gui {

MainWindow::MainWindow(const QString &dataDir, QWidget *parent)
    : QMainWindow(parent), m_ui(std::make_unique<Ui::MainWindow>())
{
    initVitscopeResources();
    m_ui->setupUi(this);
    setWindowTitle(QStringLiteral("vitscope %1").arg(QStringLiteral(VITSCOPE_VERSION)));
    setWindowIcon(QIcon(QStringLiteral(":/icons/vitscope.svg")));

    const engine::BuildInfo info = engine::buildInfo();
    m_deviceText = QString::fromStdString(info.device);
    m_torchText = QStringLiteral("LibTorch %1%2")
                      .arg(QString::fromStdString(info.torchVersion), info.torchCuda ? QStringLiteral(" (CUDA)") : QString());
    auto *device = new QLabel(QStringLiteral("Device: %1 · %2").arg(m_deviceText, m_torchText), this);
    device->setObjectName(QStringLiteral("deviceLabel"));
    device->setToolTip(tr("Models run here. Set VITSCOPE_DEVICE=cpu|cuda to choose."));
    statusBar()->addPermanentWidget(device);

    m_samples = new SampleGridView(this);
    m_ui->views->addTab(m_samples, tr("Dataset"));
    connect(m_samples, &SampleGridView::statusMessage, this,
            [this](const QString &text) { statusBar()->showMessage(text, 8000); });

    connect(m_ui->actionOpenDataFolder, &QAction::triggered, this, &MainWindow::openDataFolder);
    connect(m_ui->actionReload, &QAction::triggered, m_samples, &SampleGridView::reload);
    connect(m_ui->actionQuit, &QAction::triggered, this, &QWidget::close);
    connect(m_ui->actionAbout, &QAction::triggered, this, &MainWindow::showAbout);

    m_samples->load(dataDir);
}

MainWindow::~MainWindow() = default;

void MainWindow::openDataFolder()
{
    const QString dir = QFileDialog::getExistingDirectory(
        this, tr("Folder with the Fashion-MNIST IDX files"), m_samples->dataDir());
    if (!dir.isEmpty())
        m_samples->load(dir);
}

void MainWindow::showAbout()
{
    QMessageBox::about(this, tr("About vitscope"),
                       tr("<h3>vitscope %1</h3>"
                          "<p>Explore masked autoencoders (MAE) and CLIP: masking, reconstruction, "
                          "zero-shot classification and training.</p>"
                          "<p>%2<br>Device: %3</p>")
                           .arg(QStringLiteral(VITSCOPE_VERSION), m_torchText, m_deviceText));
}

} // namespace vitscope::gui

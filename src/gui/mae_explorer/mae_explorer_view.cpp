#include "src/gui/mae_explorer/mae_explorer_view.h"

#include <QApplication>
#include <QClipboard>
#include <QDragEnterEvent>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QLabel>
#include <QMimeData>
#include <QRandomGenerator>
#include <QSettings>
#include <QStandardPaths>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <exception>
#include <memory>

#include "src/gui/common/image_io.h"
#include "src/gui/common/live_source.h"
#include "src/gui/common/widgets.h"
#include "src/gui/common/patch_image_widget.h"
#include "src/engine/demo_content.h"
#include "src/gui/common/model_registry.h"
#include "ui_mae_explorer_view.h"

namespace vitscope::gui {

namespace {

const char *kPanelTitles[] = {"Original", "Masked", "Reconstruction", "Reconstruction + visible", "Error per patch"};

} // namespace

MaeExplorerView::MaeExplorerView(ModelRegistry *models, QWidget *parent)
    : QWidget(parent), m_ui(std::make_unique<Ui::MaeExplorerView>()), m_models(models)
{
    m_ui->setupUi(this);
    m_job = std::make_unique<NewestRequestWins<Job>>(
        this, [this] { return prepareJob(); }, [this](const Job &job) { show(job); });
    m_intake = new ImageIntake(
        this, [this](const QImage &image, const QString &label) { setImage(image, label); },
        [this](const QStringList &paths) {
            if (QFileInfo(paths.first()).isDir())
                openFolder(paths.first());
            else
                openImageFile(paths.first());
        });
    // The result line and the ratio change with every slider step: painted labels of a fixed
    // size, so that a change never re-lays the window out (a QLabel's did, tens of ms).
    m_info = replaceWithLiveLabel(m_ui->infoLabel, 2);
    m_ui->ratioLabel->setFixedSize(m_ui->ratioLabel->fontMetrics().horizontalAdvance(QStringLiteral("custom")) + 6,
                                   m_ui->ratioLabel->sizeHint().height());
    m_message = setUpViewHeader(
        this, m_ui->whatLabel,
        tr("<b>What am I seeing?</b> A masked autoencoder (He et al. 2021) sees only the visible patches and "
           "predicts the removed ones. Panels as in the paper's Figures 2–4: the masked input, the "
           "reconstruction, and the reconstruction with the visible patches put back. The error map shows "
           "where the prediction is off (the loss counts removed patches only; visible ones are hatched). "
           "Click a patch of the masked panel to hide or show it (custom mask)."),
        m_ui->messageHost);

    createPanels();

    m_ui->strategyCombo->addItem(tr("Random"), QStringLiteral("random"));
    m_ui->strategyCombo->addItem(tr("Block"), QStringLiteral("block"));
    m_ui->strategyCombo->addItem(tr("Grid (keep 1 of 2×2)"), QStringLiteral("grid"));
    m_ui->strategyCombo->addItem(tr("Custom (click patches)"), QStringLiteral("custom"));
    m_ui->strategyCombo->setItemData(0, tr("Uniform random patches without replacement (the paper's default)"),
                                     Qt::ToolTipRole);
    m_ui->strategyCombo->setItemData(1, tr("Large random blocks, as in BEiT: harder, blurrier"), Qt::ToolTipRole);
    m_ui->strategyCombo->setItemData(2, tr("Keep one patch of every 2×2 cell: 75%, easy to interpolate"),
                                     Qt::ToolTipRole);

    m_ui->statsCombo->addItem(tr("each patch's own statistics"), false);
    m_ui->statsCombo->addItem(tr("the visible patches' statistics"), true);
    m_ui->statsHelp->setText(
        tr("<small>This model predicts each patch normalized to zero mean and unit variance (norm_pix_loss). "
           "To draw it, the paper's figures use each removed patch's <i>true</i> mean and variance, which "
           "leaks brightness and contrast from the hidden image. \"Visible patches' statistics\" uses only "
           "what the model saw: an honest, flatter picture.</small>"));

    setupThumbnailList(m_ui->sourceList, QSize(56, 56), QSize(66, 66));

    connect(m_ui->modelCombo, &QComboBox::currentIndexChanged, this, [this]() {
        updateControls();
        if (!fitSourceToModel())
            request();
    });
    followCurrentModel(m_ui->modelCombo, m_models, QStringLiteral("mae"));
    connect(m_ui->strategyCombo, &QComboBox::currentIndexChanged, this, [this]() {
        if (currentStrategy() == QLatin1String("custom") && m_customKeep.empty() && m_hasResult)
            for (int i = 0; i < int(m_last.removed.size()); ++i)
                if (!m_last.removed[std::size_t(i)])
                    m_customKeep.push_back(i);
        updateControls();
        request();
    });
    connect(m_ui->ratioSlider, &QSlider::valueChanged, this, [this](int v) {
        m_ui->ratioLabel->setText(QStringLiteral("%1%").arg(v));
        request();
    });
    connect(m_ui->seedSpin, &QSpinBox::valueChanged, this, &MaeExplorerView::request);
    connect(m_ui->newSeedButton, &QPushButton::clicked, this,
            [this]() { m_ui->seedSpin->setValue(int(QRandomGenerator::global()->bounded(1000000))); });
    m_ui->newSeedButton->setShortcut(QKeySequence(Qt::Key_N));
    connect(m_ui->statsCombo, &QComboBox::currentIndexChanged, this, &MaeExplorerView::request);
    connect(m_ui->compareButton, &QPushButton::toggled, this, [this](bool on) {
        m_ui->stack->setCurrentIndex(on ? 1 : 0);
        request();
    });
    connect(m_ui->clearCustomButton, &QPushButton::clicked, this, [this]() {
        m_customKeep.clear();
        for (int i = 0; i < (m_hasResult ? m_last.grid * m_last.grid : 0); ++i)
            m_customKeep.push_back(i);
        setStrategy(QStringLiteral("custom"));
        request();
    });
    connect(m_ui->openFileButton, &QPushButton::clicked, this, &MaeExplorerView::openImageDialog);
    connect(m_ui->openFolderButton, &QPushButton::clicked, this, &MaeExplorerView::openFolderDialog);
    connect(m_ui->sourceList, &QListWidget::currentRowChanged, this, &MaeExplorerView::selectSource);
    connect(m_ui->sourceCombo, &QComboBox::activated, this, [this](int index) {
        m_sourceFitted = false; // the user's choice: models no longer move it
        const QString dir = m_ui->sourceCombo->itemData(index).toString();
        if (dir.isEmpty())
            loadFashionMnist(QString());
        else
            openFolder(dir);
    });

    connect(m_models, &ModelRegistry::loaded, this, &MaeExplorerView::modelsChanged);
    setUpLive();
    m_ui->sourceCombo->addItem(tr("Fashion-MNIST test set"), QString());
    if (const QString demo = QString::fromStdString(engine::demoPhotosDir()); !demo.isEmpty()) {
        m_ui->sourceCombo->addItem(tr("Demo photos"), demo);
        m_ui->sourceCombo->setItemData(1, tr("Natural photos that ship with vitscope (photos/SOURCES.md)"),
                                       Qt::ToolTipRole);
    }
    modelsChanged();
    updateControls();
}

// The single view's five panels in a row, and the compare view's random / block / grid
// rows (Figure 6).
void MaeExplorerView::createPanels()
{
    // Single view: five panels in a row.
    auto *single = new QWidget(this);
    m_singlePage = single;
    new QGridLayout(single);
    for (const char *t : kPanelTitles) {
        auto *panel = new PatchImageWidget(tr(t), single);
        panel->setObjectName(QStringLiteral("maePanel"));
        m_panels.push_back(panel);
    }
    single->installEventFilter(this);
    layoutPanels();
    m_panels[1]->setClickable(true);
    m_panels[1]->setToolTip(tr("Click a patch to toggle it: the mask becomes a custom one"));
    m_panels[4]->setToolTip(tr("Mean squared error per patch in the model's target space; brighter is worse"));
    connect(m_panels[1], &PatchImageWidget::patchClicked, this, &MaeExplorerView::togglePatch);
    m_ui->stack->addWidget(single);

    // Compare view: random / block / grid rows (Figure 6).
    auto *compare = new QWidget(this);
    auto *grid = new QGridLayout(compare);
    const QString rows[] = {tr("random"), tr("block"), tr("grid")};
    for (int r = 0; r < 3; ++r) {
        auto *name = new QLabel(QStringLiteral("<b>%1</b>").arg(rows[r]), compare);
        grid->addWidget(name, r, 0);
        for (int c = 0; c < 3; ++c) {
            auto *panel = new PatchImageWidget(QString(), compare);
            panel->setObjectName(QStringLiteral("comparePanel"));
            grid->addWidget(panel, r, c + 1);
            m_comparePanels.push_back(panel);
        }
    }
    m_ui->stack->addWidget(compare);
}

MaeExplorerView::~MaeExplorerView()
{
    m_live->stop();
    m_job.reset(); // waits for a running redraw
    m_sourceWatcher.waitForFinished();
}

// Five panels in one row when the page is wide, else three over two: whichever draws them larger.
void MaeExplorerView::layoutPanels()
{
    const int w = std::max(1, m_singlePage->width()), h = std::max(1, m_singlePage->height());
    const int oneRow = std::min(w / 5, h);
    const int twoRows = std::min(w / 3, h / 2);
    const int columns = oneRow >= twoRows ? 5 : 3;
    if (columns == m_columns)
        return;
    m_columns = columns;
    auto *grid = static_cast<QGridLayout *>(m_singlePage->layout());
    for (auto *p : m_panels)
        grid->removeWidget(p);
    for (int i = 0; i < int(m_panels.size()); ++i)
        grid->addWidget(m_panels[std::size_t(i)], i / columns, i % columns);
}

bool MaeExplorerView::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_singlePage && event->type() == QEvent::Resize)
        layoutPanels();
    return QWidget::eventFilter(watched, event);
}

QString MaeExplorerView::currentStrategy() const
{
    return m_ui->strategyCombo->currentData().toString();
}

int MaeExplorerView::ratioPercent() const
{
    return m_ui->ratioSlider->value();
}

void MaeExplorerView::setStrategy(const QString &name)
{
    const int i = m_ui->strategyCombo->findData(name);
    if (i >= 0)
        m_ui->strategyCombo->setCurrentIndex(i);
}

void MaeExplorerView::setRatioPercent(int percent)
{
    m_ui->ratioSlider->setValue(percent);
}

void MaeExplorerView::setSeed(int seed)
{
    m_ui->seedSpin->setValue(seed);
}

void MaeExplorerView::setCompare(bool on)
{
    m_ui->compareButton->setChecked(on);
}

int MaeExplorerView::seed() const
{
    return m_ui->seedSpin->value();
}

bool MaeExplorerView::compare() const
{
    return m_ui->compareButton->isChecked();
}

QString MaeExplorerView::currentModel() const
{
    return m_ui->modelCombo->currentData().toString();
}

QWidget *MaeExplorerView::exportTarget() const
{
    return m_ui->stack->currentWidget();
}

QString MaeExplorerView::messageText() const
{
    return m_message->text();
}

bool MaeExplorerView::isBusy() const
{
    return m_job->isBusy() || m_sourceWatcher.isRunning();
}

QImage MaeExplorerView::panelImage(const QString &title) const
{
    for (const auto *p : m_panels)
        if (p->title() == title)
            return p->image();
    return {};
}

void MaeExplorerView::modelsChanged()
{
    const bool changed = fillModelCombo(
        m_ui->modelCombo, *m_models,
        [](const ModelEntry &m) { return m.info.kind == "mae" ? QString::fromStdString(m.info.name) : QString(); },
        tr("no MAE loaded (see Models)"));
    updateControls();
    if (changed && !fitSourceToModel())
        request();
}

// A model that takes colour photos of 96 px or more, shown Fashion-MNIST: switch the
// source to the demo photos; back on a Fashion-MNIST-sized model after such a switch,
// back to its samples. A source the user chose stays. True when it switched; the
// images' arrival then redraws.
bool MaeExplorerView::fitSourceToModel()
{
    const ModelEntry *m = m_models->find(currentModel());
    const int demo = m_ui->sourceCombo->findText(tr("Demo photos"));
    if (!m || demo < 0)
        return false;
    const bool natural = engine::takesNaturalPhotos(m->info);
    const int current = m_ui->sourceCombo->currentIndex();
    if (natural && current == 0) {
        openFolder(m_ui->sourceCombo->itemData(demo).toString());
        m_sourceFitted = true;
        return true;
    }
    if (!natural && m_sourceFitted && current == demo) {
        m_sourceFitted = false;
        m_image = {}; // the first sample is drawn when the samples arrive
        loadFashionMnist(QString());
        return true;
    }
    return false;
}

QString MaeExplorerView::sourceName() const
{
    return m_ui->sourceCombo->currentText();
}

void MaeExplorerView::updateControls()
{
    const QString s = currentStrategy();
    m_ui->ratioSlider->setEnabled(s == QLatin1String("random") || s == QLatin1String("block"));
    if (s == QLatin1String("grid"))
        m_ui->ratioLabel->setText(QStringLiteral("75%"));
    else if (s == QLatin1String("custom"))
        m_ui->ratioLabel->setText(tr("custom"));
    else
        m_ui->ratioLabel->setText(QStringLiteral("%1%").arg(m_ui->ratioSlider->value()));
    const ModelEntry *m = m_models->find(currentModel());
    const bool normPix = m && m->info.normPixLoss;
    m_ui->statsCombo->setVisible(normPix);
    m_ui->statsTitle->setVisible(normPix);
    m_ui->statsHelp->setVisible(normPix);
    m_ui->clearCustomButton->setEnabled(m_hasResult);
}

engine::MaskRequest MaeExplorerView::currentRequest() const
{
    engine::MaskRequest q;
    q.strategy = currentStrategy().toStdString();
    q.ratio = m_ui->ratioSlider->value() / 100.0;
    q.seed = std::uint64_t(m_ui->seedSpin->value());
    q.keep = m_customKeep;
    q.visibleStats = m_ui->statsCombo->currentData().toBool();
    return q;
}

void MaeExplorerView::request()
{
    m_job->request();
}

std::function<MaeExplorerView::Job()> MaeExplorerView::prepareJob()
{
    const ModelEntry *m = m_models->find(currentModel());
    if (!m || !m->mae || m_image.rgb.empty())
        return {};
    auto session = m->mae;
    const auto image = m_image;
    const auto req = currentRequest();
    const bool compare = m_ui->compareButton->isChecked();
    return [session, image, req, compare]() {
        Job job;
        job.compare = compare;
        QElapsedTimer timer;
        timer.start();
        try {
            if (compare) {
                for (const char *s : {"random", "block", "grid"}) {
                    auto q = req;
                    q.strategy = s;
                    job.results.push_back(session->explore(image, q));
                }
            } else {
                job.results.push_back(session->explore(image, req));
            }
        } catch (const std::exception &e) {
            job.error = QString::fromStdString(e.what());
        }
        job.ms = double(timer.nsecsElapsed()) / 1e6;
        return job;
    };
}

void MaeExplorerView::show(const Job &job)
{
    if (!job.error.isEmpty()) {
        m_message->show(job.error);
        Q_EMIT statusMessage(job.error);
        return;
    }
    if (job.results.empty())
        return;
    const ModelEntry *m = m_models->find(currentModel());
    if (job.compare) {
        for (int r = 0; r < 3 && r < int(job.results.size()); ++r) {
            const auto &res = job.results[std::size_t(r)];
            const int removed = int(std::count(res.removed.begin(), res.removed.end(), 1));
            m_comparePanels[std::size_t(3 * r)]->setTitle(
                tr("masked: %1 of %2 removed").arg(removed).arg(res.removed.size()));
            m_comparePanels[std::size_t(3 * r)]->setImage(toQImage(res.masked), res.grid);
            m_comparePanels[std::size_t(3 * r + 1)]->setTitle(tr("reconstruction · loss %1").arg(res.loss, 0, 'f', 3));
            m_comparePanels[std::size_t(3 * r + 1)]->setImage(toQImage(res.reconstruction), res.grid);
            m_comparePanels[std::size_t(3 * r + 2)]->setTitle(tr("reconstruction + visible"));
            m_comparePanels[std::size_t(3 * r + 2)]->setImage(toQImage(res.pasted), res.grid);
        }
        m_last = job.results[0];
    } else {
        m_last = job.results[0];
        m_panels[0]->setImage(toQImage(m_last.original), m_last.grid);
        m_panels[1]->setImage(toQImage(m_last.masked), m_last.grid);
        m_panels[2]->setImage(toQImage(m_last.reconstruction), m_last.grid);
        m_panels[3]->setImage(toQImage(m_last.pasted), m_last.grid);
        m_panels[4]->setHeat(m_last.patchError, m_last.removed, m_last.grid);
    }
    m_hasResult = true;
    const int total = int(m_last.removed.size());
    const int removed = int(std::count(m_last.removed.begin(), m_last.removed.end(), 1));
    m_info->setText(
        tr("%1 · %2 of %3 patches removed (%4%) · loss %5 (mean squared error over the removed patches) · %6 on %7 · %8 ms")
            .arg(m_imageName)
            .arg(removed)
            .arg(total)
            .arg(total ? 100.0 * removed / total : 0.0, 0, 'f', 1)
            .arg(m_last.loss, 0, 'f', 4)
            .arg(m ? QString::fromStdString(m->info.name) : QString(), m ? QString::fromStdString(m->info.device) : QString())
            .arg(job.ms, 0, 'f', 0));
    updateControls();
    Q_EMIT resultShown();
}

void MaeExplorerView::togglePatch(int index)
{
    if (!m_hasResult || index < 0 || index >= int(m_last.removed.size()))
        return;
    if (currentStrategy() != QLatin1String("custom")) {
        m_customKeep.clear();
        for (int i = 0; i < int(m_last.removed.size()); ++i)
            if (!m_last.removed[std::size_t(i)])
                m_customKeep.push_back(i);
    }
    auto it = std::find(m_customKeep.begin(), m_customKeep.end(), index);
    if (it != m_customKeep.end()) {
        if (m_customKeep.size() == 1) {
            m_message->show(tr("At least one patch must stay visible: the encoder needs something to see."),
                            MessageBar::Kind::Warning, 6000);
            return;
        }
        m_customKeep.erase(it);
    } else {
        m_customKeep.push_back(index);
        std::sort(m_customKeep.begin(), m_customKeep.end());
    }
    if (currentStrategy() != QLatin1String("custom")) {
        QSignalBlocker block(m_ui->strategyCombo);
        setStrategy(QStringLiteral("custom"));
        updateControls();
    }
    request();
}

void MaeExplorerView::saveSettings() const
{
    QSettings s;
    s.setValue(QStringLiteral("mae/strategy"), currentStrategy());
    s.setValue(QStringLiteral("mae/ratio"), ratioPercent());
    s.setValue(QStringLiteral("mae/seed"), m_ui->seedSpin->value());
    s.setValue(QStringLiteral("mae/visibleStats"), m_ui->statsCombo->currentIndex());
}

void MaeExplorerView::restoreSettings()
{
    QSettings s;
    QString strategy = s.value(QStringLiteral("mae/strategy"), QStringLiteral("random")).toString();
    if (strategy == QLatin1String("custom"))
        strategy = QStringLiteral("random"); // a custom mask belongs to one image
    setStrategy(strategy);
    setRatioPercent(s.value(QStringLiteral("mae/ratio"), 75).toInt());
    setSeed(s.value(QStringLiteral("mae/seed"), 0).toInt());
    m_ui->statsCombo->setCurrentIndex(s.value(QStringLiteral("mae/visibleStats"), 0).toInt());
}

} // namespace vitscope::gui

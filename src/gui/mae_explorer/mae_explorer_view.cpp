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
#include "src/gui/common/widgets.h"
#include "src/gui/mae_explorer/patch_image_widget.h"
#include "src/gui/models/model_registry.h"
#include "ui_mae_explorer_view.h"

namespace vitscope::gui {

namespace {

const char *kPanelTitles[] = {"Original", "Masked", "Reconstruction", "Reconstruction + visible", "Error per patch"};

struct SourceItems {
    std::vector<engine::RgbImage> images; // Fashion-MNIST: the images themselves
    QStringList paths;                    // a folder: files
    QList<QImage> thumbs;
    QStringList names;
    QString error;
    int skipped = 0;
};

QIcon iconFor(const QImage &image)
{
    return QIcon(QPixmap::fromImage(image.scaled(64, 64, Qt::KeepAspectRatio,
                                                 image.width() < 64 ? Qt::FastTransformation : Qt::SmoothTransformation)));
}

} // namespace

MaeExplorerView::MaeExplorerView(ModelRegistry *models, QWidget *parent)
    : QWidget(parent), m_ui(std::make_unique<Ui::MaeExplorerView>()), m_models(models)
{
    m_ui->setupUi(this);
    setAcceptDrops(true);
    // The result line and the ratio change with every slider step: painted labels of a fixed
    // size, so that a change never re-lays the window out (a QLabel's did, tens of ms).
    m_info = replaceWithLiveLabel(m_ui->infoLabel, 2);
    m_ui->ratioLabel->setFixedSize(m_ui->ratioLabel->fontMetrics().horizontalAdvance(QStringLiteral("custom")) + 6,
                                   m_ui->ratioLabel->sizeHint().height());
    m_ui->whatLabel->setText(
        tr("<b>What am I seeing?</b> A masked autoencoder (He et al. 2021) sees only the visible patches and "
           "predicts the removed ones. Panels as in the paper's Figures 2–4: the masked input, the "
           "reconstruction, and the reconstruction with the visible patches put back. The error map shows "
           "where the prediction is off (the loss counts removed patches only; visible ones are hatched). "
           "Click a patch of the masked panel to hide or show it (custom mask)."));

    m_message = new MessageBar(this);
    fillHost(m_ui->messageHost, m_message);

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
        request();
    });
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
        const QString dir = m_ui->sourceCombo->itemData(index).toString();
        if (dir.isEmpty())
            loadFashionMnist(QString());
        else
            openFolder(dir);
    });

    connect(&m_watcher, &QFutureWatcher<Job>::finished, this, &MaeExplorerView::finished);
    connect(m_models, &ModelRegistry::loaded, this, &MaeExplorerView::modelsChanged);
    m_ui->sourceCombo->addItem(tr("Fashion-MNIST test set"), QString());
    modelsChanged();
    updateControls();
}

MaeExplorerView::~MaeExplorerView()
{
    m_watcher.waitForFinished();
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
    return m_running || m_pending || m_sourceWatcher.isRunning();
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
    const QString current = currentModel();
    QSignalBlocker block(m_ui->modelCombo);
    m_ui->modelCombo->clear();
    for (const auto &m : m_models->ofKind(QStringLiteral("mae")))
        m_ui->modelCombo->addItem(QString::fromStdString(m.info.name), m.id);
    int i = m_ui->modelCombo->findData(current);
    if (i < 0 && m_ui->modelCombo->count() > 0)
        i = 0;
    m_ui->modelCombo->setCurrentIndex(i);
    if (m_ui->modelCombo->count() == 0)
        m_ui->modelCombo->setPlaceholderText(tr("no MAE loaded (see Models)"));
    updateControls();
    if (currentModel() != current)
        request();
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
    ++m_generation;
    if (m_running) {
        m_pending = true;
        return;
    }
    start();
}

void MaeExplorerView::start()
{
    m_pending = false;
    const ModelEntry *m = m_models->find(currentModel());
    if (!m || !m->mae || m_image.rgb.empty())
        return;
    auto session = m->mae;
    const auto image = m_image;
    const auto req = currentRequest();
    const bool compare = m_ui->compareButton->isChecked();
    const quint64 generation = m_generation;
    m_running = true;
    m_watcher.setFuture(QtConcurrent::run([session, image, req, compare, generation]() {
        Job job;
        job.generation = generation;
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
    }));
}

void MaeExplorerView::finished()
{
    m_running = false;
    const Job job = m_watcher.result();
    if (job.generation == m_generation || !m_pending)
        show(job);
    if (m_pending)
        start();
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

void MaeExplorerView::setImage(const QImage &image, const QString &name)
{
    if (image.isNull())
        return;
    m_image = fromQImage(image);
    m_imageName = name;
    request();
}

void MaeExplorerView::openImageFile(const QString &path)
{
    auto *watcher = new QFutureWatcher<LoadedImage>(this);
    connect(watcher, &QFutureWatcher<LoadedImage>::finished, this, [this, watcher]() {
        const LoadedImage r = watcher->result();
        watcher->deleteLater();
        if (!r.ok()) {
            m_message->show(r.error);
            Q_EMIT statusMessage(r.error);
            return;
        }
        setImage(r.image, QFileInfo(r.path).fileName());
    });
    watcher->setFuture(QtConcurrent::run([path]() { return loadImageFile(path); }));
}

void MaeExplorerView::openImageDialog()
{
    const QString dir = QSettings().value(QStringLiteral("mae/lastImageDir"),
                                          QStandardPaths::writableLocation(QStandardPaths::PicturesLocation))
                            .toString();
    const QString path = QFileDialog::getOpenFileName(this, tr("Open an image"), dir,
                                                      tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff *.gif);;All files (*)"));
    if (path.isEmpty())
        return;
    QSettings().setValue(QStringLiteral("mae/lastImageDir"), QFileInfo(path).absolutePath());
    openImageFile(path);
}

void MaeExplorerView::openFolderDialog()
{
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Folder of images"),
                                                          QSettings().value(QStringLiteral("mae/lastImageDir")).toString());
    if (!dir.isEmpty())
        openFolder(dir);
}

void MaeExplorerView::pasteFromClipboard()
{
    const QMimeData *mime = QApplication::clipboard()->mimeData();
    if (mime && mime->hasImage()) {
        setImage(qvariant_cast<QImage>(mime->imageData()), tr("pasted image"));
        return;
    }
    if (!localFiles(mime).isEmpty()) {
        openImageFile(localFiles(mime).first());
        return;
    }
    m_message->show(tr("The clipboard holds no image."), MessageBar::Kind::Warning, 5000);
}

void MaeExplorerView::dragEnterEvent(QDragEnterEvent *event)
{
    if (carriesImages(event->mimeData()))
        event->acceptProposedAction();
}

void MaeExplorerView::dropEvent(QDropEvent *event)
{
    const QMimeData *mime = event->mimeData();
    if (mime->hasImage()) {
        setImage(qvariant_cast<QImage>(mime->imageData()), tr("dropped image"));
    } else if (!localFiles(mime).isEmpty()) {
        const QString path = localFiles(mime).first();
        if (QFileInfo(path).isDir())
            openFolder(path);
        else
            openImageFile(path);
    }
    event->acceptProposedAction();
}

void MaeExplorerView::loadFashionMnist(const QString &dir)
{
    m_sourceWatcher.waitForFinished();
    auto items = std::make_shared<SourceItems>();
    const std::string d = dir.toStdString();
    m_sourceWatcher.setFuture(QtConcurrent::run([items, d]() {
        try {
            auto grid = engine::loadFashionMnistSamples(d, 10);
            for (auto &s : grid.samples) {
                items->thumbs << toQImage(s.image);
                items->names << QStringLiteral("%1 · test #%2").arg(QString::fromStdString(s.className)).arg(s.index);
                items->images.push_back(std::move(s.image));
            }
        } catch (const std::exception &e) {
            items->error = QString::fromStdString(e.what());
        }
    }));
    disconnect(&m_sourceWatcher, nullptr, this, nullptr);
    connect(&m_sourceWatcher, &QFutureWatcher<void>::finished, this, [this, items]() {
        m_ui->sourceCombo->setCurrentIndex(0);
        m_sourceImages = items->images;
        QSignalBlocker block(m_ui->sourceList);
        m_ui->sourceList->clear();
        for (int i = 0; i < items->thumbs.size(); ++i) {
            auto *item = new QListWidgetItem(iconFor(items->thumbs[i]), QString(), m_ui->sourceList);
            item->setToolTip(items->names[i]);
            item->setData(Qt::UserRole, i);
        }
        if (!items->error.isEmpty()) {
            m_message->show(items->error);
            return;
        }
        if (m_image.rgb.empty() && !m_sourceImages.empty())
            m_ui->sourceList->setCurrentRow(0), selectSource(0);
    });
}

void MaeExplorerView::openFolder(const QString &dir)
{
    m_sourceWatcher.waitForFinished();
    auto items = std::make_shared<SourceItems>();
    m_sourceWatcher.setFuture(QtConcurrent::run([items, dir]() {
        const QStringList files = listImageFiles(dir, &items->error, 400);
        for (const QString &f : files) {
            const LoadedImage im = loadImageFile(f);
            if (!im.ok()) {
                ++items->skipped;
                continue;
            }
            items->paths << f;
            items->names << QFileInfo(f).fileName();
            items->thumbs << im.image.scaled(64, 64, Qt::KeepAspectRatio, Qt::SmoothTransformation);
        }
    }));
    disconnect(&m_sourceWatcher, nullptr, this, nullptr);
    connect(&m_sourceWatcher, &QFutureWatcher<void>::finished, this, [this, items, dir]() {
        if (!items->error.isEmpty()) {
            m_message->show(items->error);
            return;
        }
        if (m_ui->sourceCombo->findData(dir) < 0)
            m_ui->sourceCombo->addItem(QFileInfo(dir).fileName(), dir);
        m_ui->sourceCombo->setCurrentIndex(m_ui->sourceCombo->findData(dir));
        m_sourceImages.clear();
        QSignalBlocker block(m_ui->sourceList);
        m_ui->sourceList->clear();
        for (int i = 0; i < items->paths.size(); ++i) {
            auto *item = new QListWidgetItem(iconFor(items->thumbs[i]), QString(), m_ui->sourceList);
            item->setToolTip(items->names[i]);
            item->setData(Qt::UserRole + 1, items->paths[i]);
        }
        if (items->paths.isEmpty())
            m_message->show(tr("%1: no image files found").arg(QDir::toNativeSeparators(dir)), MessageBar::Kind::Warning);
        else if (items->skipped > 0)
            m_message->show(tr("%1 files in %2 could not be read and were skipped").arg(items->skipped).arg(dir),
                            MessageBar::Kind::Warning);
        if (!items->paths.isEmpty())
            m_ui->sourceList->setCurrentRow(0), selectSource(0);
    });
}

void MaeExplorerView::selectSource(int row)
{
    QListWidgetItem *item = m_ui->sourceList->item(row);
    if (!item)
        return;
    const QString path = item->data(Qt::UserRole + 1).toString();
    if (!path.isEmpty()) {
        openImageFile(path);
        return;
    }
    const int i = item->data(Qt::UserRole).toInt();
    if (i >= 0 && i < int(m_sourceImages.size())) {
        m_image = m_sourceImages[std::size_t(i)];
        m_imageName = item->toolTip();
        request();
    }
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

#include "src/gui/zero_shot/zero_shot_view.h"

#include <QApplication>
#include <QClipboard>
#include <QDragEnterEvent>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QMimeData>
#include <QPainter>
#include <QPromise>
#include <QSettings>
#include <QStandardPaths>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <exception>
#include <numeric>

#include "src/engine/demo_content.h"
#include "src/gui/common/file_dialogs.h"
#include "src/gui/common/live_source.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/widgets.h"
#include "src/gui/common/model_registry.h"
#include "src/gui/zero_shot/class_heatmaps.h"
#include "src/gui/zero_shot/probability_bars.h"
#include "ui_zero_shot_view.h"

namespace vitscope::gui {

// -------------------------------------------------------------------------- ZeroShotView

ZeroShotView::ZeroShotView(ModelRegistry *models, QWidget *parent)
    : QWidget(parent), m_ui(std::make_unique<Ui::ZeroShotView>()), m_models(models)
{
    m_ui->setupUi(this);
    m_intake = new ImageIntake(
        this,
        [this](const QImage &image, const QString &label) {
            addImages({Input::make(QString(), label, QString(), fromQImage(image))});
        },
        [this](const QStringList &paths) { addFiles(paths); }, ImageIntake::Prefer::Files);
    m_message = setUpViewHeader(
        this, m_ui->whatLabel,
        tr("<b>What am I seeing?</b> CLIP (Radford et al. 2021) embeds images and text in one space. Each class "
           "name becomes prompts (\"a photo of a {}.\"); an image gets the class whose prompt embedding is "
           "closest, softmax over cosine similarity × the learned temperature (section 3.1.2, Figure 1 (2) "
           "and (3)). No training on these classes: type any names and watch the predictions change. The small "
           "maps show where each top class is: each patch token through the same final LayerNorm and projection "
           "as the class token, cosine with the class text. Only the class token was trained against text, so "
           "these maps are rough and can light up the background (Zhou et al. 2022; Li et al. 2023)."),
        m_ui->messageHost);
    m_bars = new ProbabilityBars(m_ui->barsHost);
    fillHost(m_ui->barsHost, m_bars);
    m_summary = replaceWithLiveLabel(m_ui->summaryLabel, 2); // changes per batch: no relayouts
    m_heatmaps = new ClassHeatmaps(this);
    m_heatmaps->setObjectName(QStringLiteral("classHeatmaps"));
    m_ui->currentRow->addWidget(m_heatmaps, 1);

    setupThumbnailList(m_ui->thumbList, QSize(kThumbCellWidth, 64), QSize(kThumbCellWidth + 10, 124));
    m_ui->thumbList->setWordWrap(true);
    m_ui->thumbList->setLayoutMode(QListView::Batched); // thousands of thumbnails: lay out in slices
    m_ui->thumbList->setBatchSize(64);
    m_ui->resultsSplitter->setStretchFactor(0, 3);
    m_ui->resultsSplitter->setStretchFactor(1, 2);
    m_ui->confusionTable->hide();
    m_ui->confusionTable->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_ui->progressBar->hide();
    m_ui->cancelButton->hide();
    m_classPresets = engine::classPresets();
    for (const auto &p : m_classPresets)
        m_ui->classPresetCombo->addItem(QString::fromStdString(p.name));
    m_ui->classPresetCombo->addItem(tr("Custom"));
    connect(m_ui->classPresetCombo, &QComboBox::activated, this, &ZeroShotView::classPresetChosen);
    selectClassPreset(QStringLiteral("Fashion-MNIST"));
    connect(m_ui->demoPhotosButton, &QPushButton::clicked, this, &ZeroShotView::addDemoPhotos);
    setUpLive();

    m_templateSets = engine::templateSets();
    for (const auto &set : m_templateSets) {
        m_ui->templateSetCombo->addItem(QString::fromStdString(set.name));
        m_ui->templateSetCombo->setItemData(m_ui->templateSetCombo->count() - 1,
                                            QString::fromStdString(set.description), Qt::ToolTipRole);
    }
    m_ui->templateSetCombo->addItem(tr("Custom"));
    selectTemplateSet(QString::fromLatin1(engine::kHeldOutTemplates));
    templateSetChanged();

    m_summaryTimer.setSingleShot(true);
    m_summaryTimer.setInterval(250);
    connect(&m_summaryTimer, &QTimer::timeout, this, &ZeroShotView::updateSummary);
    m_debounce.setSingleShot(true);
    m_debounce.setInterval(250);
    connect(&m_debounce, &QTimer::timeout, this, &ZeroShotView::startClasses);
    connect(m_ui->classesEdit, &QPlainTextEdit::textChanged, this, [this]() {
        matchClassPreset();
        scheduleClasses();
    });
    connect(m_ui->templatesEdit, &QPlainTextEdit::textChanged, this, [this]() {
        const int custom = m_ui->templateSetCombo->count() - 1;
        const int i = m_ui->templateSetCombo->currentIndex();
        if (i >= 0 && i < int(m_templateSets.size())) {
            QStringList lines;
            for (const auto &t : m_templateSets[std::size_t(i)].templates)
                lines << QString::fromStdString(t);
            if (m_ui->templatesEdit->toPlainText() != lines.join(QLatin1Char('\n'))) {
                QSignalBlocker block(m_ui->templateSetCombo);
                m_ui->templateSetCombo->setCurrentIndex(custom);
            }
        }
        scheduleClasses();
    });
    connect(m_ui->templateSetCombo, &QComboBox::currentIndexChanged, this, &ZeroShotView::templateSetChanged);
    connect(m_ui->ensembleCheck, &QCheckBox::toggled, this, &ZeroShotView::scheduleClasses);
    m_ui->bf16Check->setChecked(engine::ClipSession::bf16ByDefault());
    connect(m_ui->bf16Check, &QCheckBox::toggled, this, [this]() {
        scheduleClasses();
        const auto s = session();
        if (!m_items.empty() && s && (bf16Weights() && s->bf16Available()) != m_itemsBf16)
            reembedItems();
    });
    connect(m_ui->modelCombo, &QComboBox::currentIndexChanged, this, [this]() {
        updateBf16Check();
        fitDefaultsToModel();
        scheduleClasses();
        if (!m_items.empty() && m_itemsModel != m_ui->modelCombo->currentData().toString())
            reembedItems();
    });
    connect(m_ui->openImagesButton, &QPushButton::clicked, this, &ZeroShotView::openImagesDialog);
    connect(m_ui->openFolderButton, &QPushButton::clicked, this, &ZeroShotView::openFolderDialog);
    connect(m_ui->clearButton, &QPushButton::clicked, this, &ZeroShotView::clearImages);
    connect(m_ui->cancelButton, &QPushButton::clicked, this, &ZeroShotView::cancel);
    connect(m_ui->thumbList, &QListWidget::currentRowChanged, this, &ZeroShotView::showCurrent);
    connect(&m_classWatcher, &QFutureWatcher<ClassJob>::finished, this, &ZeroShotView::classesFinished);
    connect(m_models, &ModelRegistry::loaded, this, &ZeroShotView::modelsChanged);
    followCurrentModel(m_ui->modelCombo, m_models, QStringLiteral("clip"));
    modelsChanged();
}

ZeroShotView::~ZeroShotView()
{
    m_live->stop();
    m_liveWatcher.waitForFinished();
    m_imageFuture.cancel();
    m_imageFuture.waitForFinished();
    m_classWatcher.waitForFinished();
}

engine::TowerWeights ZeroShotView::towerWeights() const
{
    return m_ui->bf16Check->isChecked() ? engine::TowerWeights::BFloat16 : engine::TowerWeights::Float32;
}

// Every image again through the chosen model and weights (from the small copies kept).
void ZeroShotView::reembedItems()
{
    std::vector<Input> again;
    for (auto &item : m_items)
        again.push_back(Input::make(QString(), item.name, item.trueLabel, item.image));
    clearImages();
    addImages(again);
}

std::shared_ptr<engine::ClipSession> ZeroShotView::session() const
{
    const ModelEntry *m = m_models->find(m_ui->modelCombo->currentData().toString());
    return m ? m->clip : nullptr;
}

void ZeroShotView::modelsChanged()
{
    const bool changed = fillModelCombo(
        m_ui->modelCombo, *m_models,
        [](const ModelEntry &m) { return m.info.kind == "clip" ? QString::fromStdString(m.info.name) : QString(); },
        tr("no CLIP loaded (see Models)"));
    updateBf16Check();
    if (changed) {
        fitDefaultsToModel();
        scheduleClasses();
        if (!m_queue.empty())
            startImages();
    }
}

void ZeroShotView::scheduleClasses()
{
    ++m_classGeneration;
    m_debounce.start();
}

void ZeroShotView::startClasses()
{
    if (m_classRunning) {
        m_classPending = true;
        return;
    }
    m_classPending = false;
    auto s = session();
    if (!s)
        return;
    const auto names = engine::parseClassNames(m_ui->classesEdit->toPlainText().toStdString());
    std::vector<std::string> templates;
    for (const QString &line : m_ui->templatesEdit->toPlainText().split(QLatin1Char('\n'))) {
        const QString t = line.trimmed();
        if (!t.isEmpty() && !t.startsWith(QLatin1Char('#')))
            templates.push_back(t.toStdString());
    }
    const bool ensemble = m_ui->ensembleCheck->isChecked();
    const auto weights = towerWeights();
    const quint64 generation = m_classGeneration;
    const QString modelId = m_ui->modelCombo->currentData().toString();
    m_classRunning = true;
    m_classWatcher.setFuture(QtConcurrent::run([s, names, templates, ensemble, weights, generation, modelId]() {
        ClassJob job;
        job.generation = generation;
        job.modelId = modelId;
        job.bf16 = weights == engine::TowerWeights::BFloat16 && s->bf16Available();
        for (const auto &n : names)
            job.names << QString::fromStdString(n);
        QElapsedTimer timer;
        timer.start();
        try {
            job.embeddings = s->embedClasses(names, templates, ensemble, weights);
            job.promptsEncoded = s->promptsEncoded();
        } catch (const std::exception &e) {
            job.error = QString::fromStdString(e.what());
        }
        job.ms = double(timer.nsecsElapsed()) / 1e6;
        return job;
    }));
}

void ZeroShotView::classesFinished()
{
    m_classRunning = false;
    const ClassJob job = m_classWatcher.result();
    const bool stale = job.generation != m_classGeneration;
    if (!stale || !m_classPending) {
        if (!job.error.isEmpty()) {
            m_message->show(job.error, MessageBar::Kind::Warning, 6000);
        } else {
            m_classNames = job.names;
            m_classEmbeddings = job.embeddings;
            m_classModel = job.modelId;
            ++m_classUpdates;
            m_ui->promptInfo->setText(tr("<small>%1 classes · class embeddings in %2 ms on %3 weights · %4 prompts "
                                         "encoded by the text tower so far (repeats come from the cache)</small>")
                                          .arg(job.names.size())
                                          .arg(job.ms, 0, 'f', 0)
                                          .arg(job.bf16 ? tr("bfloat16") : tr("float32"))
                                          .arg(job.promptsEncoded));
            recompute();
        }
    }
    if (m_classPending || (stale && !m_debounce.isActive()))
        startClasses();
}

void ZeroShotView::recomputeItem(Item &item)
{
    item.probabilities.clear();
    if (m_classEmbeddings.empty() || item.embedding.empty() || m_classModel != m_itemsModel)
        return;
    auto s = session();
    if (!s)
        return;
    item.probabilities = engine::zeroShotProbabilities(item.embedding, m_classEmbeddings, s->logitScale());
}

void ZeroShotView::updateItemText(int row)
{
    const Item &item = m_items[std::size_t(row)];
    QStringList lines;
    std::vector<int> order(item.probabilities.size());
    std::iota(order.begin(), order.end(), 0);
    const int shown = std::min<int>(2, int(order.size()));
    std::partial_sort(order.begin(), order.begin() + shown, order.end(), [&](int a, int b) {
        return item.probabilities[std::size_t(a)] > item.probabilities[std::size_t(b)] ||
               (item.probabilities[std::size_t(a)] == item.probabilities[std::size_t(b)] && a < b);
    });
    for (int k = 0; k < shown; ++k)
        lines << QStringLiteral("%1 %2%").arg(m_classNames[order[std::size_t(k)]])
                     .arg(100.0 * item.probabilities[std::size_t(order[std::size_t(k)])], 0, 'f', 0);
    if (QListWidgetItem *w = m_ui->thumbList->item(row))
        w->setText(lines.join(QLatin1Char('\n')));
}

void ZeroShotView::recompute()
{
    for (int row = 0; row < int(m_items.size()); ++row) {
        recomputeItem(m_items[std::size_t(row)]);
        updateItemText(row);
    }
    showCurrent();
    scheduleSummary();
    Q_EMIT predictionsUpdated();
}

void ZeroShotView::scheduleSummary()
{
    // Accuracy and the confusion matrix at most four times a second: rebuilding the table
    // per batch of a large folder would hold up the GUI thread.
    if (!m_summaryTimer.isActive())
        m_summaryTimer.start();
}

void ZeroShotView::showCurrent()
{
    const int row = m_ui->thumbList->currentRow();
    if (row < 0 || row >= int(m_items.size())) {
        m_bars->setBars({});
        m_heatmaps->clear();
        return;
    }
    const Item &item = m_items[std::size_t(row)];
    m_ui->previewLabel->setPixmap(QPixmap::fromImage(toQImage(item.image).scaled(
        m_ui->previewLabel->size() - QSize(8, 8), Qt::KeepAspectRatio,
        item.image.width < 64 ? Qt::FastTransformation : Qt::SmoothTransformation)));
    m_ui->previewLabel->setToolTip(item.path.isEmpty() ? item.name : item.path);
    QList<QPair<QString, float>> bars;
    for (int k = 0; k < int(item.probabilities.size()) && k < m_classNames.size(); ++k)
        bars << qMakePair(m_classNames[k], item.probabilities[std::size_t(k)]);
    std::stable_sort(bars.begin(), bars.end(), [](const auto &a, const auto &b) { return a.second > b.second; });
    m_bars->setBars(bars);
    if (m_itemsModel == m_classModel)
        requestHeatmaps(item.image, bars);
}

void ZeroShotView::requestHeatmaps(const engine::RgbImage &image, const QList<QPair<QString, float>> &bars)
{
    // Where the most probable classes are in the image.
    QStringList top;
    std::vector<std::vector<float>> embeddings;
    for (const auto &b : bars) {
        const int k = int(m_classNames.indexOf(b.first));
        if (k < 0 || k >= int(m_classEmbeddings.size()) || top.size() >= ClassHeatmaps::kMaps)
            continue;
        top << b.first;
        embeddings.push_back(m_classEmbeddings[std::size_t(k)]);
    }
    if (auto s = session(); s && !embeddings.empty())
        m_heatmaps->request(s, image, top, embeddings);
}

bool ZeroShotView::isBusy() const
{
    return m_imagesRunning || m_classRunning || m_debounce.isActive() || m_classPending || !m_queue.empty() ||
           m_summaryTimer.isActive() || m_heatmaps->isBusy();
}

int ZeroShotView::thumbnailCount() const
{
    return m_ui->thumbList->count();
}

QString ZeroShotView::thumbnailText(int row) const
{
    const QListWidgetItem *item = m_ui->thumbList->item(row);
    return item ? item->text() : QString();
}

const QList<QPair<QString, float>> &ZeroShotView::currentBars() const
{
    return m_bars->bars();
}

QString ZeroShotView::messageText() const
{
    return m_message->text();
}

QString ZeroShotView::summaryText() const
{
    return m_summary->text();
}

bool ZeroShotView::confusionVisible() const
{
    return !m_ui->confusionTable->isHidden();
}

QWidget *ZeroShotView::exportTarget() const
{
    return const_cast<ZeroShotView *>(this);
}

void ZeroShotView::openImagesDialog()
{
    const QStringList paths =
        askOpenFiles(this, tr("Images to classify"), QStringLiteral("zeroshot/lastDir"), imageFileFilter());
    if (!paths.isEmpty())
        addFiles(paths);
}

void ZeroShotView::openFolderDialog()
{
    const QString dir =
        askFolder(this, tr("Folder of images (subfolders = classes)"), QStringLiteral("zeroshot/lastDir"));
    if (!dir.isEmpty())
        addFiles({dir});
}

void ZeroShotView::pasteFromClipboard()
{
    if (!m_intake->paste())
        m_message->show(tr("The clipboard holds no image."), MessageBar::Kind::Warning, 5000);
}

} // namespace vitscope::gui

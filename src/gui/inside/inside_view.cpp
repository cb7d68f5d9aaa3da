#include "src/gui/inside/inside_view.h"

#include <QComboBox>
#include <QFileDialog>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QSlider>
#include <QSpinBox>
#include <QTabWidget>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <array>
#include <cmath>

#include "src/engine/engine.h"
#include "src/gui/common/file_dialogs.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/widgets.h"
#include "src/gui/inside/embedding_map.h"
#include "src/gui/common/patch_image_widget.h"
#include "src/engine/demo_content.h"
#include "src/gui/common/model_registry.h"

namespace vitscope::gui {

InsideView::InsideView(ModelRegistry *models, QWidget *parent) : QWidget(parent), m_models(models)
{
    m_job = std::make_unique<NewestRequestWins<Job>>(
        this, [this] { return prepareJob(); }, [this](const Job &job) { show(job); });
    auto *root = new QVBoxLayout(this);
    m_tabs = new QTabWidget(this);
    m_tabs->setObjectName(QStringLiteral("insideTabs"));
    root->addWidget(m_tabs);

    // ---- the attention tab
    auto *attention = new QWidget(m_tabs);
    auto *row = new QHBoxLayout(attention);
    auto *sidebar = new QWidget(attention);
    sidebar->setMaximumWidth(320);
    auto *side = new QVBoxLayout(sidebar);
    side->setContentsMargins(0, 0, 0, 0);
    auto *form = new QFormLayout();
    m_modelCombo = new QComboBox(sidebar);
    m_modelCombo->setObjectName(QStringLiteral("insideModelCombo"));
    m_modelCombo->setToolTip(tr("An MAE (its encoder) or a CLIP model (its image tower); load more in the Models view"));
    form->addRow(tr("&Model"), m_modelCombo);
    m_modeCombo = new QComboBox(sidebar);
    m_modeCombo->addItem(tr("Class token's attention"));
    m_modeCombo->addItem(tr("Attention rollout"));
    m_modeCombo->addItem(tr("Clicked patch's attention"));
    m_modeCombo->setToolTip(tr("What the heat map shows; click a patch of the image to see where that patch attends"));
    form->addRow(tr("&Show"), m_modeCombo);
    auto *layerRow = new QHBoxLayout();
    m_layerSlider = new QSlider(Qt::Horizontal, sidebar);
    m_layerSlider->setRange(0, 0);
    m_layerLabel = new LiveLabel(1, sidebar);
    m_layerLabel->setFixedWidth(m_layerLabel->fontMetrics().horizontalAdvance(QStringLiteral("00 / 00")) + 4);
    layerRow->addWidget(m_layerSlider);
    layerRow->addWidget(m_layerLabel);
    form->addRow(tr("Layer"), layerRow);
    m_headCombo = new QComboBox(sidebar);
    m_headCombo->setToolTip(tr("One attention head, or the mean of all heads"));
    form->addRow(tr("&Head"), m_headCombo);
    m_maskRow = new QWidget(sidebar);
    auto *maskLayout = new QHBoxLayout(m_maskRow);
    maskLayout->setContentsMargins(0, 0, 0, 0);
    m_ratioSlider = new QSlider(Qt::Horizontal, m_maskRow);
    m_ratioSlider->setRange(0, 90);
    m_ratioSlider->setValue(75);
    m_ratioSlider->setToolTip(tr("Fraction of patches removed before the MAE encoder (random masking)"));
    m_ratioLabel = new LiveLabel(1, m_maskRow);
    m_ratioLabel->setText(QStringLiteral("75%"));
    m_ratioLabel->setFixedWidth(m_ratioLabel->fontMetrics().horizontalAdvance(QStringLiteral("100%")) + 4);
    m_seedSpin = new QSpinBox(m_maskRow);
    m_seedSpin->setRange(0, 99999);
    m_seedSpin->setPrefix(tr("seed "));
    maskLayout->addWidget(m_ratioSlider);
    maskLayout->addWidget(m_ratioLabel);
    maskLayout->addWidget(m_seedSpin);
    form->addRow(tr("Mask"), m_maskRow);
    side->addLayout(form);
    auto *open = new QPushButton(tr("Open &image…"), sidebar);
    side->addWidget(open);
    m_samples = new QListWidget(sidebar);
    setupThumbnailList(m_samples, QSize(56, 56), QSize(64, 64));
    m_samples->setToolTip(tr("Fashion-MNIST test images, one per class"));
    side->addWidget(m_samples, 1);
    m_timing = new LiveLabel(2, sidebar); // changes with every result: never re-lays the view out
    side->addWidget(m_timing);
    row->addWidget(sidebar);

    auto *mainCol = new QVBoxLayout();
    m_what = new QLabel(attention);
    m_what->setWordWrap(true);
    m_what->setTextFormat(Qt::RichText);
    m_what->setObjectName(QStringLiteral("insideWhat"));
    mainCol->addWidget(m_what);
    auto *messageHost = new QWidget(attention);
    m_message = new MessageBar(attention);
    fillHost(messageHost, m_message);
    mainCol->addWidget(messageHost);
    m_main = new PatchImageWidget(tr("attention"), attention);
    m_main->setClickable(true);
    m_main->setMinimumSize(300, 320);
    mainCol->addWidget(m_main, 3);
    m_stripHost = new QWidget(attention);
    auto *strip = new QHBoxLayout(m_stripHost);
    strip->setContentsMargins(0, 0, 0, 0);
    mainCol->addWidget(m_stripHost, 1);
    row->addLayout(mainCol, 1);
    m_tabs->addTab(attention, tr("Attention"));

    // ---- the embedding map tab
    m_map = new EmbeddingMapView(models, m_tabs);
    m_tabs->addTab(m_map, tr("Embedding map"));
    connect(m_map, &EmbeddingMapView::openImage, this, [this](const engine::RgbImage &image, const QString &name) {
        setImage(image, name);
        m_tabs->setCurrentIndex(0);
    });
    connect(m_map, &EmbeddingMapView::statusMessage, this, &InsideView::statusMessage);

    connect(m_modelCombo, &QComboBox::currentIndexChanged, this, [this]() {
        m_patch = -1;
        updateControls();
        if (!fitSampleToModel())
            request();
    });
    followCurrentModel(m_modelCombo, m_models, QString()); // either kind
    connect(m_modeCombo, &QComboBox::currentIndexChanged, this, [this]() { redraw(); });
    connect(m_headCombo, &QComboBox::currentIndexChanged, this, [this]() { redraw(); });
    connect(m_layerSlider, &QSlider::valueChanged, this, [this]() { redraw(); });
    connect(m_ratioSlider, &QSlider::valueChanged, this, [this](int v) {
        m_ratioLabel->setText(QStringLiteral("%1%").arg(v));
        request();
    });
    connect(m_seedSpin, &QSpinBox::valueChanged, this, [this]() { request(); });
    connect(open, &QPushButton::clicked, this, &InsideView::openImageDialog);
    connect(m_samples, &QListWidget::currentRowChanged, this, [this](int r) {
        if (r >= 0 && r < int(m_sampleImages.size()))
            setImage(m_sampleImages[std::size_t(r)], m_samples->item(r)->toolTip());
    });
    connect(m_main, &PatchImageWidget::patchClicked, this, &InsideView::clickPatch);
    connect(m_models, &ModelRegistry::loaded, this, &InsideView::modelsChanged);
    modelsChanged();
    redraw();
}

InsideView::~InsideView()
{
    m_job.reset(); // waits for a running job
    m_sampleWatcher.waitForFinished();
}

QString InsideView::currentModel() const
{
    return m_modelCombo->currentData().toString();
}

int InsideView::layerCount() const
{
    return m_result ? m_result->layers : 0;
}

bool InsideView::isBusy() const
{
    return m_job->isBusy() || m_sampleWatcher.isRunning() || m_map->isBusy();
}

QWidget *InsideView::exportTarget() const
{
    return m_tabs->currentWidget();
}

const std::vector<float> &InsideView::shownMap() const
{
    return m_main->overlay();
}

QString InsideView::whatText() const
{
    return m_what->text();
}

QString InsideView::currentWhatText() const
{
    return m_tabs->currentIndex() == 1 ? m_map->whatText() : m_what->text();
}

void InsideView::modelsChanged()
{
    const bool changed = fillModelCombo(
        m_modelCombo, *m_models,
        [this](const ModelEntry &m) {
            const QString name = QString::fromStdString(m.info.name);
            return m.info.kind == "mae"    ? tr("%1 · MAE encoder").arg(name)
                   : m.info.kind == "clip" ? tr("%1 · CLIP image tower").arg(name)
                                           : QString();
        },
        tr("no model loaded (see Models)"));
    updateControls();
    if (changed || !m_result)
        request();
}

// A model that takes colour photos of 96 px or more, shown a Fashion-MNIST sample (or
// nothing yet): the first demo photo instead. True when it switched (the switch redraws).
bool InsideView::fitSampleToModel()
{
    const ModelEntry *m = m_models->find(currentModel());
    const int row = m_samples->currentRow();
    const bool nothingYet = m_image.width == 0;
    const bool onFashion = row >= 0 && row < m_firstPhotoRow && m_imageName == m_samples->item(row)->toolTip();
    if (!m || m_firstPhotoRow >= m_samples->count() || !engine::takesNaturalPhotos(m->info) ||
        !(nothingYet || onFashion))
        return false;
    m_samples->setCurrentRow(m_firstPhotoRow);
    return true;
}

void InsideView::updateControls()
{
    const ModelEntry *m = m_models->find(currentModel());
    m_maskRow->setEnabled(m && m->mae);
}

void InsideView::setModel(const QString &id)
{
    const int i = m_modelCombo->findData(id);
    if (i >= 0)
        m_modelCombo->setCurrentIndex(i);
}

void InsideView::setMode(Mode mode)
{
    m_modeCombo->setCurrentIndex(int(mode));
}

void InsideView::setLayer(int layer)
{
    m_pendingLayer = layer > m_layerSlider->maximum() ? layer : -1; // the model's depth may not be known yet
    m_layerSlider->setValue(layer);
}

void InsideView::setHead(int head)
{
    m_pendingHead = head + 1 >= m_headCombo->count() ? head : -2;
    m_headCombo->setCurrentIndex(head + 1);
}

int InsideView::layer() const
{
    return m_layerSlider->value();
}

int InsideView::head() const
{
    return m_headCombo->currentIndex() - 1;
}

InsideView::Mode InsideView::mode() const
{
    return Mode(m_modeCombo->currentIndex());
}

void InsideView::openImageFile(const QString &path)
{
    const LoadedImage li = loadImageFile(path);
    if (!li.ok()) {
        m_message->show(li.error);
        return;
    }
    setImage(fromQImage(li.image), QFileInfo(path).fileName());
}

void InsideView::setMaskRatio(int percent)
{
    m_ratioSlider->setValue(percent);
}

void InsideView::showMapTab(bool map)
{
    m_tabs->setCurrentIndex(map ? 1 : 0);
}

void InsideView::clickPatch(int patch)
{
    m_patch = patch;
    if (m_modeCombo->currentIndex() != int(Mode::Patch))
        m_modeCombo->setCurrentIndex(int(Mode::Patch)); // redraws
    else
        redraw();
}

void InsideView::setImage(const engine::RgbImage &image, const QString &name)
{
    m_image = image;
    m_imageName = name;
    m_patch = -1;
    request();
}

void InsideView::openImageDialog()
{
    const QString path = askOpenFile(this, tr("Open an image"), QStringLiteral("mae/lastImageDir"), imageFileFilter());
    if (path.isEmpty())
        return;
    const LoadedImage li = loadImageFile(path);
    if (!li.ok()) {
        m_message->show(li.error);
        return;
    }
    setImage(fromQImage(li.image), QFileInfo(path).fileName());
}

void InsideView::loadFashionMnist(const QString &dir)
{
    const std::string d = dir.toStdString();
    m_map->setDataDir(dir);
    disconnect(&m_sampleWatcher, nullptr, this, nullptr);
    connect(&m_sampleWatcher, &QFutureWatcher<SampleLoad>::finished, this, [this]() {
        const SampleLoad load = m_sampleWatcher.result();
        if (!load.error.isEmpty())
            m_message->show(load.error, MessageBar::Kind::Warning);
        QSignalBlocker block(m_samples);
        m_samples->clear();
        m_sampleImages.clear();
        auto add = [this](const engine::RgbImage &image, const QString &tip) {
            const QImage thumb = toQImage(image).scaled(56, 56, Qt::KeepAspectRatio, Qt::SmoothTransformation);
            auto *item = new QListWidgetItem(QIcon(QPixmap::fromImage(thumb)), QString());
            item->setToolTip(tip);
            m_samples->addItem(item);
            m_sampleImages.push_back(image);
        };
        for (const auto &s : load.grid.samples)
            add(s.image, QString::fromStdString(s.className));
        m_firstPhotoRow = int(m_sampleImages.size());
        for (const auto &[title, image] : load.photos)
            add(image, title);
        if (m_image.width == 0 && !m_sampleImages.empty()) {
            const int fashion = m_firstPhotoRow > 9 ? 9 : 0; // an ankle boot: a clear shape
            block.unblock();
            m_samples->setCurrentRow(!fitSampleToModel() ? fashion : m_samples->currentRow());
        }
    });
    // Errors are caught in the task: a stored exception would be rethrown by
    // waitForFinished() in the destructor.
    m_sampleWatcher.setFuture(QtConcurrent::run([d]() {
        SampleLoad load;
        try {
            load.grid = engine::loadFashionMnistSamples(d, 1);
        } catch (const std::exception &e) {
            load.error = QString::fromUtf8(e.what());
        }
        try {
            for (const auto &p : engine::demoPhotos()) {
                const LoadedImage im = loadImageFile(QString::fromStdString(p.path));
                if (im.ok())
                    load.photos.emplace_back(QString::fromStdString(p.title), fromQImage(im.image));
            }
        } catch (const std::exception &e) {
            load.error += (load.error.isEmpty() ? QString() : QStringLiteral("\n")) + QString::fromUtf8(e.what());
        }
        return load;
    }));
}

void InsideView::request()
{
    m_job->request();
}

std::function<InsideView::Job()> InsideView::prepareJob()
{
    const ModelEntry *m = m_models->find(currentModel());
    if (!m || m_image.width == 0)
        return {};
    engine::MaskRequest rq;
    rq.ratio = m_ratioSlider->value() / 100.0;
    rq.seed = std::uint64_t(m_seedSpin->value());
    auto mae = m->mae;
    auto clip = m->clip;
    const engine::RgbImage image = m_image;
    m_resultModel = currentModel();
    return [mae, clip, image, rq]() {
        Job job;
        try {
            job.result = std::make_shared<engine::AttentionResult>(mae ? mae->attention(image, rq) : clip->attention(image));
        } catch (const std::exception &e) {
            job.error = QString::fromUtf8(e.what());
        }
        return job;
    };
}

void InsideView::show(const Job &job)
{
    if (!job.error.isEmpty()) {
        m_message->show(job.error);
        Q_EMIT statusMessage(job.error);
    } else if (job.result) {
        const bool sameShape = m_result && m_result->layers == job.result->layers && m_result->heads == job.result->heads;
        m_result = job.result;
        if (!sameShape) {
            QSignalBlocker b1(m_layerSlider), b2(m_headCombo);
            m_layerSlider->setRange(0, m_result->layers - 1);
            m_layerSlider->setValue(m_result->layers - 1);
            m_headCombo->clear();
            m_headCombo->addItem(tr("mean of %1 heads").arg(m_result->heads));
            for (int h = 0; h < m_result->heads; ++h)
                m_headCombo->addItem(tr("head %1").arg(h + 1));
        }
        if (m_pendingLayer >= 0 && m_pendingLayer < m_result->layers) { // asked for before the depth was known
            QSignalBlocker block(m_layerSlider);
            m_layerSlider->setValue(m_pendingLayer);
        }
        if (m_pendingHead >= -1 && m_pendingHead < m_result->heads) {
            QSignalBlocker block(m_headCombo);
            m_headCombo->setCurrentIndex(m_pendingHead + 1);
        }
        m_pendingLayer = -1, m_pendingHead = -2;
        m_timing->setText(tr("%1 layers × %2 heads, %3 tokens; computed in %4 ms")
                              .arg(m_result->layers)
                              .arg(m_result->heads)
                              .arg(m_result->tokens)
                              .arg(m_result->ms, 0, 'f', 1));
        redraw();
        Q_EMIT attentionUpdated();
    }
}

void InsideView::redraw()
{
    const Mode mode = Mode(std::max(0, m_modeCombo->currentIndex()));
    const int layer = m_layerSlider->value();
    const int head = m_headCombo->currentIndex() - 1;
    m_headCombo->setEnabled(mode != Mode::Rollout);
    if (!m_result) {
        m_what->setText(tr("<b>What am I seeing?</b> Choose an image: the heat map shows which patches the encoder's "
                           "class token attends to."));
        return;
    }
    const auto &r = *m_result;
    m_layerLabel->setText(QStringLiteral("%1 / %2").arg(layer + 1).arg(r.layers));
    int from = 0;
    if (mode == Mode::Patch) {
        from = m_patch >= 0 ? r.tokenOfPatch(m_patch) : -1;
        if (from < 0)
            from = 0;
    }
    auto mapFor = [&](int l) { return r.map(l, head, from, mode == Mode::Rollout); };
    const QImage input = toQImage(r.input);
    const bool mae = m_models->find(m_resultModel) && m_models->find(m_resultModel)->mae;
    const int visible = int(r.patches.size()), all = r.grid * r.grid;
    const QString headText = head < 0 ? tr("mean of the heads") : tr("head %1").arg(head + 1);
    QString title;
    if (mode == Mode::ClassToken)
        title = tr("class token → patches · layer %1 · %2").arg(layer + 1).arg(headText);
    else if (mode == Mode::Rollout)
        title = tr("rollout up to layer %1").arg(layer + 1);
    else
        title = tr("patch %1 → patches · layer %2 · %3").arg(from == 0 ? tr("(class token)") : QString::number(m_patch))
                    .arg(layer + 1)
                    .arg(headText);
    m_main->setTitle(title);
    m_main->setImage(input, r.grid);
    m_main->setOverlay(mapFor(layer), mode == Mode::Patch && from > 0 ? m_patch : -1);

    // One small panel per layer, same mode and head; a click selects the layer.
    auto *strip = static_cast<QHBoxLayout *>(m_stripHost->layout());
    while (int(m_strip.size()) < r.layers) {
        auto *w = new PatchImageWidget(QString(), m_stripHost);
        w->setMinimumSize(70, 90);
        w->setShowGrid(false);
        w->setClickable(true);
        const int l = int(m_strip.size());
        connect(w, &PatchImageWidget::patchClicked, this, [this, l]() { m_layerSlider->setValue(l); });
        strip->addWidget(w);
        m_strip.push_back(w);
    }
    // The strip's maps change with the result, mode, head and the row shown, not with the
    // layer chosen: repainting seven panels per slider step cost the view its 50 ms goal.
    const std::array<long long, 4> key = {reinterpret_cast<long long>(m_result.get()), int(mode), head, from};
    const bool stripChanged = key != m_stripKey;
    m_stripKey = key;
    for (int l = 0; l < int(m_strip.size()); ++l) {
        m_strip[std::size_t(l)]->setVisible(l < r.layers);
        if (l >= r.layers)
            continue;
        m_strip[std::size_t(l)]->setTitle(l == layer ? tr("▸ layer %1").arg(l + 1) : tr("layer %1").arg(l + 1));
        if (stripChanged) {
            m_strip[std::size_t(l)]->setImage(input, r.grid);
            m_strip[std::size_t(l)]->setOverlay(mapFor(l));
        }
    }

    QString what = tr("<b>What am I seeing?</b> ");
    if (mode == Mode::ClassToken)
        what += tr("How much the class token attends to each patch in one layer (softmax(q·k/√d), one row of the "
                   "attention matrix; the class token's attention to itself is left out). Colours run from the "
                   "smallest to the largest weight in this map.");
    else if (mode == Mode::Rollout)
        what += tr("Attention rollout (Abnar and Zuidema, 2020): each layer's head-averaged attention with the "
                   "residual connection added, (A + I)/2 with rows renormalized, multiplied from the first layer up "
                   "to this one. It follows information through the layers, but it is a heuristic: it ignores the "
                   "MLPs and the size of the values.");
    else
        what += from > 0 ? tr("Where the outlined patch attends in this layer (its row of the attention matrix).")
                         : tr("Click a patch with a token to see where it attends; until then the class token is shown.");
    if (mae)
        what += tr(" The MAE encoder sees only the %1 visible patches of %2: the hatched ones were removed before "
                   "it and have no token at all, the saving that lets MAE train on 25% of the patches.")
                    .arg(visible)
                    .arg(all);
    if (m_what->text() != what) // a wrapped label re-lays the view out: only when it changes
        m_what->setText(what);
}

} // namespace vitscope::gui

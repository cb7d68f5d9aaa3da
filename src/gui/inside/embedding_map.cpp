#include "src/gui/inside/embedding_map.h"

#include <QComboBox>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QMouseEvent>
#include <QProgressBar>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>

#include "src/engine/engine.h"
#include "src/gui/common/file_dialogs.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/widgets.h"
#include "src/gui/common/model_registry.h"
#include "src/engine/colors.h"

namespace vitscope::gui {

namespace {

QColor classQColor(int index)
{
    if (index < 0)
        return QColor(150, 150, 150);
    const auto c = engine::classColor(index);
    return QColor(c[0], c[1], c[2]);
}

const char *kFashionClasses = "t-shirt/top, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot";

} // namespace

EmbeddingMapView::EmbeddingMapView(ModelRegistry *models, QWidget *parent) : QWidget(parent), m_models(models)
{
    auto *root = new QHBoxLayout(this);
    auto *sidebar = new QWidget(this);
    sidebar->setMaximumWidth(320);
    auto *side = new QVBoxLayout(sidebar);
    side->setContentsMargins(0, 0, 0, 0);
    auto *form = new QFormLayout();
    m_modelCombo = new QComboBox(sidebar);
    m_modelCombo->setObjectName(QStringLiteral("mapModelCombo"));
    form->addRow(tr("&Model"), m_modelCombo);
    m_perClass = new QSpinBox(sidebar);
    m_perClass->setRange(2, 1000);
    m_perClass->setValue(50);
    m_perClass->setSuffix(tr(" per class"));
    m_perClass->setToolTip(tr("Fashion-MNIST test images per class"));
    form->addRow(tr("&Images"), m_perClass);
    m_folderButton = new QPushButton(tr("Use a &folder…"), sidebar);
    m_folderButton->setToolTip(tr("Any folder of images (subfolders too; up to 2,000); Fashion-MNIST again when cancelled"));
    form->addRow(QString(), m_folderButton);
    m_source = new QLabel(tr("Fashion-MNIST test split"), sidebar);
    m_source->setWordWrap(true);
    form->addRow(tr("Data"), m_source);
    m_classes = new QLineEdit(QString::fromLatin1(kFashionClasses), sidebar);
    m_classes->setToolTip(tr("CLIP: the classes whose text embeddings join the map (comma-separated)"));
    form->addRow(tr("C&lasses"), m_classes);
    m_colorCombo = new QComboBox(sidebar);
    m_colorCombo->addItem(tr("true class"));
    m_colorCombo->addItem(tr("predicted class (CLIP zero-shot)"));
    form->addRow(tr("C&olour by"), m_colorCombo);
    m_poolCombo = new QComboBox(sidebar);
    m_poolCombo->addItem(tr("class token"));
    m_poolCombo->addItem(tr("mean of patch tokens"));
    m_poolCombo->setToolTip(tr("MAE: which encoder output is the image's feature"));
    form->addRow(tr("MAE &feature"), m_poolCombo);
    side->addLayout(form);
    auto *buttons = new QHBoxLayout();
    m_computeButton = new QPushButton(tr("&Compute map"), sidebar);
    m_cancelButton = new QPushButton(tr("Cancel"), sidebar);
    m_cancelButton->setEnabled(false);
    buttons->addWidget(m_computeButton);
    buttons->addWidget(m_cancelButton);
    side->addLayout(buttons);
    m_progress = new QProgressBar(sidebar);
    m_progress->setVisible(false);
    side->addWidget(m_progress);
    side->addStretch(1);
    root->addWidget(sidebar);

    auto *mainCol = new QVBoxLayout();
    m_what = new QLabel(this);
    m_what->setWordWrap(true);
    m_what->setTextFormat(Qt::RichText);
    mainCol->addWidget(m_what);
    auto *messageHost = new QWidget(this);
    m_message = new MessageBar(this);
    fillHost(messageHost, m_message);
    mainCol->addWidget(messageHost);
    m_plot = new PlotWidget(this);
    m_plot->setObjectName(QStringLiteral("embeddingPlot"));
    m_plot->setMouseTracking(true);
    m_plot->installEventFilter(this);
    m_plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    m_plot->legend->setVisible(true);
    mainCol->addWidget(m_plot, 1);
    root->addLayout(mainCol, 1);
    m_hover = new QLabel(m_plot);
    m_hover->setFrameShape(QFrame::Box);
    m_hover->setAutoFillBackground(true);
    m_hover->setAlignment(Qt::AlignCenter);
    m_hover->hide();

    connect(m_computeButton, &QPushButton::clicked, this, &EmbeddingMapView::compute);
    connect(m_cancelButton, &QPushButton::clicked, this, &EmbeddingMapView::cancel);
    connect(m_folderButton, &QPushButton::clicked, this, [this]() {
        setFolder(askFolder(this, tr("A folder of images"), QStringLiteral("mae/lastImageDir")));
    });
    connect(m_colorCombo, &QComboBox::currentIndexChanged, this, [this]() { draw(); });
    connect(&m_watcher, &QFutureWatcher<Job>::finished, this, &EmbeddingMapView::finished);
    connect(&m_progressTimer, &QTimer::timeout, this, [this]() {
        if (m_total && *m_total > 0) {
            m_progress->setRange(0, *m_total);
            m_progress->setValue(*m_done);
        }
    });
    connect(m_models, &ModelRegistry::loaded, this, &EmbeddingMapView::modelsChanged);
    followCurrentModel(m_modelCombo, m_models, QString());
    modelsChanged();
    m_what->setText(tr("<b>What am I seeing?</b> Press <i>Compute map</i>: every image becomes a point, placed by "
                       "the two directions along which the features vary most (PCA)."));
}

EmbeddingMapView::~EmbeddingMapView()
{
    if (m_cancel)
        *m_cancel = true;
    m_watcher.waitForFinished();
}

void EmbeddingMapView::modelsChanged()
{
    fillModelCombo(
        m_modelCombo, *m_models,
        [this](const ModelEntry &m) {
            if (m.info.kind != "mae" && m.info.kind != "clip")
                return QString();
            return QStringLiteral("%1 · %2").arg(QString::fromStdString(m.info.name),
                                                 m.info.kind == "mae" ? tr("MAE features") : tr("CLIP"));
        },
        QString());
}

void EmbeddingMapView::setModel(const QString &id)
{
    const int i = m_modelCombo->findData(id);
    if (i >= 0)
        m_modelCombo->setCurrentIndex(i);
}

void EmbeddingMapView::setFolder(const QString &dir)
{
    m_folder = dir;
    m_source->setText(dir.isEmpty() ? tr("Fashion-MNIST test split") : QDir::toNativeSeparators(dir));
    m_perClass->setEnabled(dir.isEmpty());
}

QString EmbeddingMapView::whatText() const
{
    return m_what->text();
}

void EmbeddingMapView::cancel()
{
    if (m_cancel)
        *m_cancel = true;
}

// The PCA of the image rows and the text rows together, each image's nearest class text
// (its zero-shot prediction), and the modality gap: the distance between the two clouds'
// centres.
void EmbeddingMapView::placePoints(Job &job, const std::vector<std::vector<float>> &rows,
                                   const std::vector<std::vector<float>> &texts, const std::vector<int> &labels,
                                   const std::vector<QString> &names, const std::vector<std::string> &classNames)
{
    const std::size_t n = rows.size();
    std::vector<std::vector<float>> all = rows;
    all.insert(all.end(), texts.begin(), texts.end());
    const auto proj = engine::pca2d(all);
    job.explained[0] = proj.explained[0], job.explained[1] = proj.explained[1];
    for (std::size_t i = 0; i < all.size(); ++i) {
        Point p;
        p.x = proj.points[i][0], p.y = proj.points[i][1];
        p.text = i >= n;
        if (p.text) {
            p.label = p.predicted = int(i - n);
            p.name = QString::fromStdString(classNames[i - n]);
        } else {
            p.label = labels[i], p.image = int(i), p.name = names[i];
            float best = -2;
            for (std::size_t k = 0; k < texts.size(); ++k) {
                float dot = 0;
                for (std::size_t d = 0; d < texts[k].size(); ++d)
                    dot += rows[i][d] * texts[k][d];
                if (dot > best)
                    best = dot, p.predicted = int(k);
            }
        }
        job.points.push_back(p);
    }
    if (!texts.empty()) { // the modality gap: distance between the two clouds' centres
        double gap = 0;
        for (std::size_t d = 0; d < texts[0].size(); ++d) {
            double mi = 0, mt = 0;
            for (const auto &r : rows)
                mi += r[d];
            for (const auto &t : texts)
                mt += t[d];
            gap += std::pow(mi / double(n) - mt / double(texts.size()), 2);
        }
        job.gap = std::sqrt(gap);
    }
}

void EmbeddingMapView::compute()
{
    if (m_running)
        return;
    const ModelEntry *m = m_models->find(m_modelCombo->currentData().toString());
    if (!m) {
        m_message->show(tr("No model: load an MAE or a CLIP model in the Models view"), MessageBar::Kind::Warning);
        return;
    }
    auto mae = m->mae;
    auto clip = m->clip;
    const std::string dataDir = m_dataDir.toStdString();
    const QString folder = m_folder;
    const int perClass = m_perClass->value();
    const bool meanPool = m_poolCombo->currentIndex() == 1;
    const auto classNames = engine::parseClassNames(m_classes->text().toStdString());
    std::vector<std::string> templates;
    for (const auto &set : engine::templateSets())
        if ((folder.isEmpty()) == (set.name.find("Fashion") != std::string::npos))
            templates = set.templates;
    if (templates.empty())
        templates = engine::templateSets().front().templates;
    m_cancel = std::make_shared<std::atomic<bool>>(false);
    m_done = std::make_shared<std::atomic<int>>(0);
    m_total = std::make_shared<std::atomic<int>>(0);
    auto cancel = m_cancel;
    auto done = m_done;
    auto total = m_total;
    m_running = true;
    m_computeButton->setEnabled(false);
    m_cancelButton->setEnabled(true);
    m_progress->setVisible(true);
    m_progress->setRange(0, 0);
    m_progressTimer.start(100);
    m_watcher.setFuture(QtConcurrent::run([=]() {
        Job job;
        try {
            std::vector<int> labels;
            std::vector<QString> names;
            if (folder.isEmpty()) {
                const auto grid = engine::loadFashionMnistSamples(dataDir, perClass);
                for (const auto &c : grid.classNames)
                    job.classNames << QString::fromStdString(c);
                for (const auto &s : grid.samples) {
                    job.images.push_back(s.image);
                    labels.push_back(s.label);
                    names.push_back(QStringLiteral("%1 #%2").arg(QString::fromStdString(s.className)).arg(s.index));
                }
            } else {
                QString error;
                const QStringList files = listImageFiles(folder, &error, 2000);
                if (!error.isEmpty())
                    throw std::runtime_error(error.toStdString());
                for (const auto &f : files) {
                    if (*cancel)
                        break;
                    const LoadedImage li = loadImageFile(f);
                    if (!li.ok())
                        continue; // named in the count below
                    job.images.push_back(fromQImage(li.image.scaled(256, 256, Qt::KeepAspectRatio)));
                    labels.push_back(-1);
                    names.push_back(QFileInfo(f).fileName());
                }
            }
            if (job.images.size() < 2)
                throw std::runtime_error("a map needs at least two readable images");
            *total = int(job.images.size());
            std::vector<std::vector<float>> rows;
            for (std::size_t start = 0; start < job.images.size(); start += 64) {
                if (*cancel) {
                    job.cancelled = true;
                    return job;
                }
                const std::vector<engine::RgbImage> batch(
                    job.images.begin() + std::ptrdiff_t(start),
                    job.images.begin() + std::ptrdiff_t(std::min(job.images.size(), start + 64)));
                auto f = mae ? mae->features(batch, meanPool) : clip->embedImages(batch);
                rows.insert(rows.end(), f.begin(), f.end());
                *done = int(rows.size());
            }
            std::vector<std::vector<float>> texts;
            if (clip && !classNames.empty()) {
                texts = clip->embedClasses(classNames, templates, true);
                job.classNames.clear();
                for (const auto &c : classNames)
                    job.classNames << QString::fromStdString(c);
            }
            placePoints(job, rows, texts, labels, names, classNames);
            job.kind = mae ? QStringLiteral("mae") : QStringLiteral("clip");
        } catch (const std::exception &e) {
            job.error = QString::fromUtf8(e.what());
        }
        return job;
    }));
}

void EmbeddingMapView::finished()
{
    m_running = false;
    m_progressTimer.stop();
    m_progress->setVisible(false);
    m_computeButton->setEnabled(true);
    m_cancelButton->setEnabled(false);
    Job job = m_watcher.result();
    if (job.cancelled) {
        Q_EMIT statusMessage(tr("Embedding map cancelled"));
        return;
    }
    if (!job.error.isEmpty()) {
        m_message->show(job.error);
        return;
    }
    m_points = std::move(job.points);
    m_images = std::move(job.images);
    m_classNames = job.classNames;
    m_kind = job.kind;
    m_explained[0] = job.explained[0], m_explained[1] = job.explained[1];
    m_gap = job.gap;
    draw();
    Q_EMIT mapUpdated();
}

void EmbeddingMapView::draw()
{
    m_plot->clearGraphs();
    m_plot->clearItems();
    if (m_points.empty())
        return;
    const bool predicted = m_colorCombo->currentIndex() == 1 && m_kind == QLatin1String("clip");
    const int classes = std::max(1, int(m_classNames.size()));
    std::vector<QCPGraph *> graphs;
    for (int c = -1; c < classes; ++c) {
        QCPGraph *g = m_plot->addGraph();
        g->setLineStyle(QCPGraph::lsNone);
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDisc, classQColor(c), 5));
        g->setName(c < 0 ? tr("no class") : m_classNames.value(c));
        graphs.push_back(g);
    }
    QCPGraph *texts = m_plot->addGraph();
    texts->setLineStyle(QCPGraph::lsNone);
    texts->setName(tr("class text embedding"));
    texts->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssDiamond, QPen(palette().color(QPalette::WindowText), 2),
                                           QBrush(Qt::white), 13));
    for (const auto &p : m_points) {
        if (p.text) {
            texts->addData(p.x, p.y);
            auto *label = new QCPItemText(m_plot);
            label->position->setCoords(p.x, p.y);
            label->setPositionAlignment(Qt::AlignLeft | Qt::AlignVCenter);
            label->setPadding(QMargins(10, 0, 0, 0));
            label->setText(p.name);
            label->setColor(palette().color(QPalette::WindowText));
            continue;
        }
        const int c = predicted ? p.predicted : p.label;
        graphs[std::size_t(std::clamp(c, -1, classes - 1) + 1)]->addData(p.x, p.y);
    }
    for (auto *g : graphs)
        if (g->dataCount() == 0)
            g->removeFromLegend();
    if (texts->dataCount() == 0)
        texts->removeFromLegend();
    m_plot->xAxis->setLabel(tr("PC1 (%1% of the variance)").arg(100 * m_explained[0], 0, 'f', 0));
    m_plot->yAxis->setLabel(tr("PC2 (%1%)").arg(100 * m_explained[1], 0, 'f', 0));
    m_plot->rescaleAxes();
    m_plot->xAxis->scaleRange(1.1);
    m_plot->yAxis->scaleRange(1.1);
    m_plot->replot();

    QString what = tr("<b>What am I seeing?</b> ");
    if (m_kind == QLatin1String("clip"))
        what += tr("CLIP image embeddings (dots) and the typed classes' text embeddings (diamonds), all unit vectors, "
                   "placed by one PCA. Images and texts occupy two separate regions of the sphere, the <i>modality "
                   "gap</i> (Liang et al., 2022): here the centres of the two clouds are %1 apart. Zero-shot still "
                   "works because it compares directions: each image goes to the class text it is most similar to. "
                   "Two dimensions keep only %2% of the variance: overlaps in the map need not be overlaps in the "
                   "embedding.")
                    .arg(m_gap, 0, 'f', 2)
                    .arg(100 * (m_explained[0] + m_explained[1]), 0, 'f', 0);
    else
        what += tr("MAE encoder features, no text and no labels used: colours are the true classes, added afterwards. "
                   "Clusters show what pre-training alone separates; MAE features are known to need fine-tuning "
                   "more than contrastive ones (MAE paper, section 4.3). Two dimensions keep %1% of the variance.")
                    .arg(100 * (m_explained[0] + m_explained[1]), 0, 'f', 0);
    what += tr(" Hover a dot to see its image; click to open it in the Attention tab.");
    m_what->setText(what);
}

int EmbeddingMapView::pointNear(const QPointF &pos) const
{
    int best = -1;
    double bestD = 10.0 * 10.0;
    for (int i = 0; i < int(m_points.size()); ++i) {
        const auto &p = m_points[std::size_t(i)];
        if (p.image < 0)
            continue;
        const double dx = m_plot->xAxis->coordToPixel(p.x) - pos.x();
        const double dy = m_plot->yAxis->coordToPixel(p.y) - pos.y();
        if (dx * dx + dy * dy < bestD)
            bestD = dx * dx + dy * dy, best = i;
    }
    return best;
}

void EmbeddingMapView::hoverAt(const QPointF &pos)
{
    const int i = pointNear(pos);
    if (i < 0) {
        m_hover->hide();
        return;
    }
    const auto &p = m_points[std::size_t(i)];
    const QImage img = toQImage(m_images[std::size_t(p.image)]).scaled(96, 96, Qt::KeepAspectRatio, Qt::FastTransformation);
    QString caption = p.name;
    if (p.predicted >= 0 && m_kind == QLatin1String("clip"))
        caption += QStringLiteral("\n") + tr("predicted: %1").arg(m_classNames.value(p.predicted));
    m_hover->setPixmap(QPixmap::fromImage(img));
    m_hover->setToolTip(caption);
    m_hover->setText(QString());
    m_hover->setPixmap(QPixmap::fromImage(img));
    m_hover->resize(104, 104);
    QPoint at = pos.toPoint() + QPoint(14, 14);
    if (at.x() + 104 > m_plot->width())
        at.rx() -= 132;
    if (at.y() + 104 > m_plot->height())
        at.ry() -= 132;
    m_hover->move(at);
    m_hover->show();
    m_hover->raise();
    Q_EMIT statusMessage(caption.replace(QLatin1Char('\n'), QStringLiteral(" · ")));
}

bool EmbeddingMapView::eventFilter(QObject *watched, QEvent *event)
{
    if (watched == m_plot) {
        if (event->type() == QEvent::MouseMove)
            hoverAt(static_cast<QMouseEvent *>(event)->position());
        else if (event->type() == QEvent::Leave)
            m_hover->hide();
        else if (event->type() == QEvent::MouseButtonPress)
            m_pressPos = static_cast<QMouseEvent *>(event)->position();
        else if (event->type() == QEvent::MouseButtonRelease) {
            auto *me = static_cast<QMouseEvent *>(event);
            const int i = pointNear(me->position());
            // A click, not the end of a drag of the map.
            if (i >= 0 && me->button() == Qt::LeftButton && (me->position() - m_pressPos).manhattanLength() < 4) {
                const auto &p = m_points[std::size_t(i)];
                Q_EMIT openImage(m_images[std::size_t(p.image)], p.name);
            }
        }
    }
    return QWidget::eventFilter(watched, event);
}

} // namespace vitscope::gui

// The Zero-shot view's image list: files, folders and samples read, thumbnailed and
// classified in batches on a worker (cancellable), each batch shown as it arrives.
#include "src/gui/zero_shot/zero_shot_view.h"

#include "src/engine/demo_content.h"

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

#include "src/gui/common/image_io.h"
#include "src/gui/common/widgets.h"
#include "src/gui/common/model_registry.h"
#include "src/gui/zero_shot/class_heatmaps.h"
#include "src/gui/zero_shot/probability_bars.h"
#include "ui_zero_shot_view.h"

namespace vitscope::gui {

namespace {

constexpr int kBatch = 32;
constexpr int kKeepSide = 256;

// The thumbnail centred on a transparent strip as wide as the grid cell: list items wrap
// their text at the icon's width, and the labels need more than 64 px.
QPixmap paddedThumbnail(const QImage &thumb)
{
    QPixmap pix(ZeroShotView::kThumbCellWidth, thumb.height());
    pix.fill(Qt::transparent);
    QPainter p(&pix);
    p.drawImage((ZeroShotView::kThumbCellWidth - thumb.width()) / 2, 0, thumb);
    return pix;
}

QImage keepSize(const QImage &image)
{
    const int shortSide = std::min(image.width(), image.height());
    if (shortSide <= kKeepSide)
        return image;
    return image.scaled(image.size() * (double(kKeepSide) / shortSide), Qt::KeepAspectRatio, Qt::SmoothTransformation);
}

} // namespace

ZeroShotView::Input ZeroShotView::Input::make(const QString &path, const QString &name, const QString &label,
                                               engine::RgbImage image)
{
    ZeroShotView::Input in;
    in.path = path;
    in.image = std::move(image);
    in.name = name;
    in.trueLabel = label;
    return in;
}

void ZeroShotView::addFiles(const QStringList &paths)
{
    std::vector<Input> inputs;
    for (const QString &p : paths) {
        const QFileInfo info(p);
        if (info.isDir()) {
            QString error;
            const QStringList files = listImageFiles(p, &error);
            if (!error.isEmpty())
                m_errors << error;
            if (files.isEmpty() && error.isEmpty())
                m_errors << tr("%1: no image files in this folder").arg(QDir::toNativeSeparators(p));
            for (const QString &f : files)
                inputs.push_back(Input::make(f, QFileInfo(f).fileName(), QFileInfo(f).dir().dirName()));
        } else {
            inputs.push_back(Input::make(p, info.fileName(), QString()));
        }
    }
    if (inputs.empty() && !m_errors.isEmpty()) {
        m_message->show(m_errors.join(QLatin1Char('\n')));
        m_errors.clear();
        return;
    }
    addImages(inputs);
}

void ZeroShotView::addImages(const std::vector<Input> &inputs)
{
    m_queue.insert(m_queue.end(), inputs.begin(), inputs.end());
    if (!m_imagesRunning)
        startImages();
}

void ZeroShotView::addFashionMnistSamples(const QString &dir, int perClass)
{
    const std::string d = dir.toStdString();
    auto *watcher = new QFutureWatcher<std::vector<Input>>(this);
    connect(watcher, &QFutureWatcher<std::vector<Input>>::finished, this, [this, watcher]() {
        const auto inputs = watcher->result();
        watcher->deleteLater();
        addImages(inputs);
    });
    watcher->setFuture(QtConcurrent::run([d, perClass]() {
        std::vector<Input> inputs;
        try {
            const auto grid = engine::loadFashionMnistSamples(d, perClass);
            for (const auto &s : grid.samples)
                inputs.push_back(Input::make(QString(), QStringLiteral("test #%1").arg(s.index),
                                           QString::fromStdString(s.className), s.image));
        } catch (const std::exception &) {
            // The Dataset view reports a missing Fashion-MNIST; this view just starts empty.
        }
        return inputs;
    }));
}

void ZeroShotView::startImages()
{
    auto s = session();
    if (!s || m_queue.empty())
        return;
    std::vector<Input> inputs;
    inputs.swap(m_queue);
    m_itemsModel = m_ui->modelCombo->currentData().toString();
    const auto weights = towerWeights();
    m_itemsBf16 = weights == engine::TowerWeights::BFloat16 && s->bf16Available();
    m_ui->progressBar->setRange(0, int(inputs.size()));
    m_ui->progressBar->setValue(0);
    m_ui->progressBar->setVisible(inputs.size() > 1);
    m_ui->cancelButton->setVisible(inputs.size() > kBatch);
    m_imagesRunning = true;
    const quint64 generation = ++m_imageGeneration;
    auto *watcher = new QFutureWatcher<Batch>(this);
    // A job cleared or replaced meanwhile is ignored: its generation is no longer current.
    connect(watcher, &QFutureWatcher<Batch>::resultReadyAt, this, [this, watcher, generation](int index) {
        if (generation == m_imageGeneration)
            batchReady(watcher->resultAt(index));
    });
    connect(watcher, &QFutureWatcher<Batch>::finished, this, [this, watcher, generation]() {
        watcher->deleteLater();
        if (generation == m_imageGeneration)
            imagesFinished();
    });
    m_imageFuture = QtConcurrent::run([s, inputs, weights](QPromise<Batch> &promise) {
        const int total = int(inputs.size());
        for (int start = 0; start < total; start += kBatch) {
            if (promise.isCanceled())
                return;
            Batch batch;
            batch.total = total;
            std::vector<engine::RgbImage> toEmbed;
            for (int i = start; i < std::min(total, start + kBatch); ++i) {
                const Input &in = inputs[std::size_t(i)];
                Item item;
                item.name = in.name;
                item.path = in.path;
                item.trueLabel = in.trueLabel;
                QImage full;
                if (!in.path.isEmpty()) {
                    const LoadedImage loaded = loadImageFile(in.path);
                    if (!loaded.ok()) {
                        batch.errors << loaded.error;
                        continue;
                    }
                    full = loaded.image;
                } else {
                    full = toQImage(in.image);
                }
                item.thumb = full.scaled(64, 64, Qt::KeepAspectRatio,
                                         full.width() < 64 ? Qt::FastTransformation : Qt::SmoothTransformation);
                item.image = fromQImage(keepSize(full));
                toEmbed.push_back(in.path.isEmpty() ? in.image : fromQImage(full));
                batch.items.push_back(std::move(item));
            }
            try {
                const auto emb = s->embedImages(toEmbed, weights);
                for (std::size_t k = 0; k < emb.size(); ++k)
                    batch.items[k].embedding = emb[k];
            } catch (const std::exception &e) {
                batch.errors << QString::fromStdString(e.what());
                batch.items.clear();
            }
            batch.done = std::min(total, start + kBatch);
            promise.setProgressValue(batch.done);
            promise.addResult(std::move(batch));
        }
    });
    watcher->setFuture(m_imageFuture);
}

void ZeroShotView::batchReady(const Batch &result)
{
    Batch batch = result;
    m_errors << batch.errors;
    m_ui->progressBar->setValue(batch.done);
    // Only the new images are scored here (class changes rescore everything in recompute()).
    m_ui->thumbList->setUpdatesEnabled(false);
    for (auto &item : batch.items) {
        recomputeItem(item);
        auto *w = new QListWidgetItem(QIcon(paddedThumbnail(item.thumb)), QString(), m_ui->thumbList);
        w->setToolTip(item.path.isEmpty() ? item.name : item.path);
        m_items.push_back(std::move(item));
        updateItemText(int(m_items.size()) - 1);
    }
    m_ui->thumbList->setUpdatesEnabled(true);
    scheduleSummary();
    showCurrent();
    Q_EMIT predictionsUpdated();
    if (m_ui->thumbList->currentRow() < 0 && m_ui->thumbList->count() > 0)
        m_ui->thumbList->setCurrentRow(0);
}

void ZeroShotView::imagesFinished()
{
    m_imagesRunning = false;
    m_ui->progressBar->hide();
    m_ui->cancelButton->hide();
    if (!m_errors.isEmpty()) {
        const int n = int(m_errors.size());
        QStringList shown = m_errors.mid(0, 5);
        if (n > 5)
            shown << tr("… and %1 more").arg(n - 5);
        m_message->show(tr("%n file(s) skipped:", nullptr, n) + QLatin1Char('\n') + shown.join(QLatin1Char('\n')));
        Q_EMIT statusMessage(m_errors.first());
        m_errors.clear();
    }
    if (!m_queue.empty())
        startImages();
}

void ZeroShotView::cancel()
{
    m_queue.clear();
    m_imageFuture.cancel();
    Q_EMIT statusMessage(tr("Cancelled: %1 images classified").arg(m_items.size()));
}

void ZeroShotView::clearImages()
{
    cancel();
    m_imageFuture.waitForFinished();
    ++m_imageGeneration; // whatever the old job still delivers is dropped
    m_imagesRunning = false;
    m_ui->progressBar->hide();
    m_ui->cancelButton->hide();
    m_items.clear();
    m_ui->thumbList->clear();
    m_bars->setBars({});
    m_ui->previewLabel->clear();
    updateSummary();
}

void ZeroShotView::addDemoPhotos()
{
    std::vector<Input> inputs;
    try {
        for (const auto &p : engine::demoPhotos())
            inputs.push_back(Input::make(QString::fromStdString(p.path), QFileInfo(QString::fromStdString(p.path)).fileName(),
                                         QString::fromStdString(p.label)));
    } catch (const std::exception &e) {
        m_message->show(QString::fromStdString(e.what()));
        return;
    }
    if (inputs.empty()) {
        m_message->show(tr("The demo photos are not installed (looked for photos/photos.json in the data folders; "
                           "set VITSCOPE_DATA_DIR)."));
        return;
    }
    addImages(inputs);
}

} // namespace vitscope::gui

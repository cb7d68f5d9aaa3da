// The MAE explorer's image sources: an image file, a pasted or dropped image, a folder of
// images or Fashion-MNIST's test set, read and thumbnailed on a worker.
#include "src/gui/mae_explorer/mae_explorer_view.h"

#include <QApplication>
#include <QClipboard>
#include <QDragEnterEvent>
#include <QElapsedTimer>
#include <QFileDialog>
#include <QFileInfo>
#include <QGridLayout>
#include <QLabel>
#include <QToolButton>
#include <QMimeData>
#include <QRandomGenerator>
#include <QSettings>
#include <QStandardPaths>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <algorithm>
#include <exception>
#include <memory>

#include "src/gui/common/file_dialogs.h"
#include "src/gui/common/image_io.h"
#include "src/gui/common/live_source.h"
#include "src/gui/common/widgets.h"
#include "src/gui/common/patch_image_widget.h"
#include "src/gui/common/model_registry.h"
#include "ui_mae_explorer_view.h"

namespace vitscope::gui {

namespace {

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

void MaeExplorerView::setImage(const QImage &image, const QString &name)
{
    if (image.isNull())
        return;
    m_image = fromQImage(image);
    m_imageName = name;
    m_imagePath.clear();
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
        m_imagePath = QFileInfo(r.path).absoluteFilePath();
    });
    watcher->setFuture(QtConcurrent::run([path]() { return loadImageFile(path); }));
}

void MaeExplorerView::openImageDialog()
{
    const QString path = askOpenFile(this, tr("Open an image"), QStringLiteral("mae/lastImageDir"), imageFileFilter());
    if (!path.isEmpty())
        openImageFile(path);
}

void MaeExplorerView::openFolderDialog()
{
    const QString dir = askFolder(this, tr("Folder of images"), QStringLiteral("mae/lastImageDir"));
    if (!dir.isEmpty())
        openFolder(dir);
}

void MaeExplorerView::pasteFromClipboard()
{
    if (!m_intake->paste())
        m_message->show(tr("The clipboard holds no image."), MessageBar::Kind::Warning, 5000);
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
        m_imagePath.clear();
        request();
    }
}

void MaeExplorerView::setUpLive()
{
    m_live = new LiveSource(this);
    auto *status = new QLabel(this);
    status->setObjectName(QStringLiteral("liveStatus"));
    status->setWordWrap(true);
    status->hide();
    m_ui->sourceButtons->addWidget(makeLiveButton(this, m_live, m_message));
    m_ui->sourceLayout->insertWidget(1, status);
    showLiveStatus(status, m_live);
    connect(m_live, &LiveSource::frameArrived, this, &MaeExplorerView::liveFrame);
    connect(this, &MaeExplorerView::resultShown, this, [this]() {
        if (m_live->hasNewFrame())
            liveFrame();
    });
}

// The newest frame, when the last one has been drawn: frames that arrive meanwhile
// replace each other in the source.
void MaeExplorerView::liveFrame()
{
    if (isBusy())
        return;
    const QImage frame = m_live->takeFrame();
    if (!frame.isNull())
        setImage(frame.width() > 512 || frame.height() > 512
                     ? frame.scaled(512, 512, Qt::KeepAspectRatio, Qt::SmoothTransformation)
                     : frame,
                 m_live->description());
}

} // namespace vitscope::gui

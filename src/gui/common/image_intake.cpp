#include "src/gui/common/image_intake.h"

#include <QApplication>
#include <QClipboard>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QMimeData>
#include <QWidget>

#include "src/gui/common/image_io.h"

namespace vitscope::gui {

ImageIntake::ImageIntake(QWidget *view, OnImage onImage, OnPaths onPaths, Prefer dropPrefers)
    : QObject(view), m_onImage(std::move(onImage)), m_onPaths(std::move(onPaths)), m_dropPrefers(dropPrefers)
{
    view->setAcceptDrops(true);
    view->installEventFilter(this);
}

bool ImageIntake::paste() const
{
    return take(QApplication::clipboard()->mimeData(), tr("pasted image"), Prefer::Image);
}

bool ImageIntake::take(const QMimeData *mime, const QString &label, Prefer prefer) const
{
    if (!mime)
        return false;
    const QStringList files = localFiles(mime);
    const bool image = mime->hasImage();
    if (image && (prefer == Prefer::Image || files.isEmpty())) {
        m_onImage(qvariant_cast<QImage>(mime->imageData()), label);
        return true;
    }
    if (!files.isEmpty()) {
        m_onPaths(files);
        return true;
    }
    return false;
}

bool ImageIntake::eventFilter(QObject *watched, QEvent *event)
{
    if (event->type() == QEvent::DragEnter) {
        auto *e = static_cast<QDragEnterEvent *>(event);
        if (carriesImages(e->mimeData()))
            e->acceptProposedAction();
        return true;
    }
    if (event->type() == QEvent::Drop) {
        auto *e = static_cast<QDropEvent *>(event);
        take(e->mimeData(), tr("dropped image"), m_dropPrefers);
        e->acceptProposedAction();
        return true;
    }
    return QObject::eventFilter(watched, event);
}

} // namespace vitscope::gui

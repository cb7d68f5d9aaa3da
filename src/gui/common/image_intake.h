#pragma once
// Images that reach a view by drag and drop or through the clipboard, handed to the view
// as one of two things: an image (a browser's picture, a screenshot tool's copy) or
// local paths (image files and folders). Every view that takes images installs one on
// itself instead of writing its own drop and paste handling: the accepted payloads and
// the messages are the same everywhere. GUI thread only.

#include <QImage>
#include <QObject>
#include <QString>
#include <QStringList>

#include <functional>

class QMimeData;
class QWidget;

namespace vitscope::gui {

class ImageIntake : public QObject {
public:
    // `label` names where the image came from ("dropped image", "pasted image").
    using OnImage = std::function<void(const QImage &image, const QString &label)>;
    using OnPaths = std::function<void(const QStringList &paths)>;
    enum class Prefer { Image, Files }; // what a drop that carries both opens

    // Accepts drops on `view` (which owns this object).
    ImageIntake(QWidget *view, OnImage onImage, OnPaths onPaths, Prefer dropPrefers = Prefer::Image);

    // The clipboard's image, else its local files. False when it holds neither (nothing
    // was called: the view says so).
    bool paste() const;
    // The same for any payload; `label` for an image.
    bool take(const QMimeData *mime, const QString &label, Prefer prefer) const;

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    OnImage m_onImage;
    OnPaths m_onPaths;
    Prefer m_dropPrefers;
};

} // namespace vitscope::gui

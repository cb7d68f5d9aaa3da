#include "src/gui/common/image_io.h"

#include <QDirIterator>
#include <QFileInfo>
#include <QImageReader>
#include <QMimeData>
#include <QUrl>

#include <algorithm>
#include <cstring>

namespace vitscope::gui {

QImage toQImage(const engine::RgbImage &image)
{
    if (image.width <= 0 || image.height <= 0 ||
        image.rgb.size() != static_cast<std::size_t>(image.width) * std::size_t(image.height) * 3)
        return {};
    return QImage(image.rgb.data(), image.width, image.height, image.width * 3, QImage::Format_RGB888).copy();
}

engine::RgbImage fromQImage(const QImage &source)
{
    const QImage img = source.convertToFormat(QImage::Format_RGB888);
    engine::RgbImage out;
    out.width = img.width();
    out.height = img.height();
    out.rgb.resize(static_cast<std::size_t>(img.width()) * img.height() * 3);
    for (int y = 0; y < img.height(); ++y)
        std::memcpy(out.rgb.data() + static_cast<std::size_t>(y) * img.width() * 3, img.constScanLine(y),
                    static_cast<std::size_t>(img.width()) * 3);
    return out;
}

LoadedImage loadImageFile(const QString &path)
{
    LoadedImage r;
    r.path = path;
    const QFileInfo info(path);
    const QString name = QDir::toNativeSeparators(path);
    if (!info.exists()) {
        r.error = QObject::tr("%1: no such file").arg(name);
        return r;
    }
    if (info.isDir()) {
        r.error = QObject::tr("%1: is a folder, not an image").arg(name);
        return r;
    }
    if (info.size() == 0) {
        r.error = QObject::tr("%1: empty file (0 bytes), not an image").arg(name);
        return r;
    }
    QImageReader reader(path);
    reader.setAutoTransform(true);
    reader.setDecideFormatFromContent(true);
    if (!reader.canRead()) {
        r.error = QObject::tr("%1: not an image this app can read (%2)")
                      .arg(name, reader.errorString().isEmpty() ? QObject::tr("unknown format") : reader.errorString());
        return r;
    }
    const QSize size = reader.size();
    if (size.isValid() && qint64(size.width()) * size.height() > kMaxImagePixels) {
        r.error = QObject::tr("%1: image too large (%2 x %3 pixels; the limit is %4 megapixels)")
                      .arg(name)
                      .arg(size.width())
                      .arg(size.height())
                      .arg(kMaxImagePixels / 1'000'000);
        return r;
    }
    reader.setAllocationLimit(int(kMaxImagePixels * 4 / (1024 * 1024)) + 1);
    QImage img;
    if (!reader.read(&img) || img.isNull()) {
        r.error = QObject::tr("%1: cannot decode the image, the file may be truncated or corrupt (%2)")
                      .arg(name, reader.errorString());
        return r;
    }
    r.image = img.convertToFormat(QImage::Format_RGB888);
    return r;
}

bool hasImageExtension(const QString &path)
{
    static const QStringList exts = {QStringLiteral("png"), QStringLiteral("jpg"), QStringLiteral("jpeg"),
                                     QStringLiteral("bmp"), QStringLiteral("webp"), QStringLiteral("tif"),
                                     QStringLiteral("tiff"), QStringLiteral("gif"), QStringLiteral("ppm"),
                                     QStringLiteral("pgm")};
    return exts.contains(QFileInfo(path).suffix().toLower());
}

QStringList localFiles(const QMimeData *mime)
{
    QStringList paths;
    if (mime && mime->hasUrls())
        for (const QUrl &u : mime->urls())
            if (u.isLocalFile())
                paths << u.toLocalFile();
    return paths;
}

bool carriesImages(const QMimeData *mime)
{
    return mime && (mime->hasImage() || !localFiles(mime).isEmpty());
}

QStringList listImageFiles(const QString &dir, QString *error, int limit)
{
    QStringList files;
    const QFileInfo info(dir);
    if (!info.isDir() || !info.isReadable()) {
        if (error)
            *error = QObject::tr("%1: %2").arg(QDir::toNativeSeparators(dir),
                                               info.exists() ? QObject::tr("not a readable folder")
                                                             : QObject::tr("no such folder"));
        return files;
    }
    QDirIterator it(dir, QDir::Files | QDir::Readable, QDirIterator::Subdirectories | QDirIterator::FollowSymlinks);
    while (it.hasNext() && files.size() < limit) {
        const QString p = it.next();
        if (hasImageExtension(p))
            files << p;
    }
    std::sort(files.begin(), files.end());
    return files;
}

} // namespace vitscope::gui

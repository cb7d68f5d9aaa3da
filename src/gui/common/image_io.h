#pragma once
// Images between Qt and the engine, and image files from strangers. Every file goes
// through QImageReader with explicit checks, so a 0-byte file, a non-image, a truncated
// file or a huge image gives a one-line message naming the file instead of a crash or
// a multi-gigabyte allocation.

#include <QImage>
#include <QString>
#include <QStringList>

class QMimeData;

#include "src/engine/engine.h"

namespace vitscope::gui {

// Largest image the app decodes (width x height); bigger ones are refused before decoding.
constexpr qint64 kMaxImagePixels = 60'000'000;

QImage toQImage(const engine::RgbImage &image);
engine::RgbImage fromQImage(const QImage &image);

struct LoadedImage {
    QString path;
    QImage image;  // RGB888, empty when `error` is set
    QString error; // "<file>: what was wrong"
    bool ok() const { return error.isEmpty(); }
};

// Reads one image file (PNG, JPEG, BMP, WebP, TIFF, ... whatever Qt's plugins decode).
// Thread-safe (QImageReader may run on workers).
LoadedImage loadImageFile(const QString &path);

// Image files (by extension) in `dir` and its subfolders, sorted; `error` set when the
// folder cannot be read.
QStringList listImageFiles(const QString &dir, QString *error = nullptr, int limit = 100000);
bool hasImageExtension(const QString &path);

// Drag and drop, clipboard: the local files a mime payload names, and whether it carries
// anything a view can open (files or an image).
QStringList localFiles(const QMimeData *mime);
bool carriesImages(const QMimeData *mime);

} // namespace vitscope::gui

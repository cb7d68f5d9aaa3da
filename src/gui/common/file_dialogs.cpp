#include "src/gui/common/file_dialogs.h"

#include <QFileDialog>
#include <QFileInfo>
#include <QObject>
#include <QSettings>
#include <QStandardPaths>

namespace vitscope::gui {

namespace {

QString lastDir(const QString &key)
{
    return QSettings().value(key, QStandardPaths::writableLocation(QStandardPaths::PicturesLocation)).toString();
}

} // namespace

QString imageFileFilter()
{
    return QObject::tr("Images (*.png *.jpg *.jpeg *.bmp *.webp *.tif *.tiff *.gif);;All files (*)");
}

QString askOpenFile(QWidget *parent, const QString &title, const QString &key, const QString &filter)
{
    const QString path = QFileDialog::getOpenFileName(parent, title, lastDir(key), filter);
    if (!path.isEmpty())
        QSettings().setValue(key, QFileInfo(path).absolutePath());
    return path;
}

QStringList askOpenFiles(QWidget *parent, const QString &title, const QString &key, const QString &filter)
{
    const QStringList paths = QFileDialog::getOpenFileNames(parent, title, lastDir(key), filter);
    if (!paths.isEmpty())
        QSettings().setValue(key, QFileInfo(paths.first()).absolutePath());
    return paths;
}

QString askSaveFile(QWidget *parent, const QString &title, const QString &key, const QString &filter,
                    const QString &name)
{
    const QString path = QFileDialog::getSaveFileName(parent, title, lastDir(key) + QLatin1Char('/') + name, filter);
    if (!path.isEmpty())
        QSettings().setValue(key, QFileInfo(path).absolutePath());
    return path;
}

QString askFolder(QWidget *parent, const QString &title, const QString &key)
{
    const QString dir = QFileDialog::getExistingDirectory(parent, title, lastDir(key));
    if (!dir.isEmpty())
        QSettings().setValue(key, QFileInfo(dir).absolutePath());
    return dir;
}

} // namespace vitscope::gui

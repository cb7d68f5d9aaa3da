#pragma once
// File and folder dialogs that open where the last dialog of their kind closed: `key`
// names the kind in QSettings ("mae/lastImageDir", "models/lastDir", ...), the first time
// the user's Pictures folder. Each returns empty when the user cancels. GUI thread only.

#include <QString>
#include <QStringList>

class QWidget;

namespace vitscope::gui {

// The file filter every image dialog shows (what Qt's image plugins read here).
QString imageFileFilter();

QString askOpenFile(QWidget *parent, const QString &title, const QString &key, const QString &filter);
QStringList askOpenFiles(QWidget *parent, const QString &title, const QString &key, const QString &filter);
QString askFolder(QWidget *parent, const QString &title, const QString &key);
// `name`: the file name offered in the remembered folder.
QString askSaveFile(QWidget *parent, const QString &title, const QString &key, const QString &filter,
                    const QString &name);

} // namespace vitscope::gui

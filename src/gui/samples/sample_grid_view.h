#pragma once
// The Dataset view: a grid of Fashion-MNIST test images, one row per class, each row
// headed by its class name. The images are read through the engine on a worker thread
// (QtConcurrent); only the latest request is drawn. A failed read is shown in the view
// with the engine's message (which names the file) and the app keeps running.

#include <QFutureWatcher>
#include <QString>
#include <QWidget>

#include "src/engine/engine.h"

class QGridLayout;
class QLabel;
class QScrollArea;

namespace vitscope::gui {

class SampleGridView : public QWidget {
    Q_OBJECT

public:
    explicit SampleGridView(QWidget *parent = nullptr);
    ~SampleGridView() override;

    // Starts reading `dir` (empty: the engine's default folder) in the background.
    void load(const QString &dir);
    void reload();

    QString dataDir() const { return m_dir; }
    bool isLoading() const { return m_watcher.isRunning(); }
    // The class names shown as row headers, top to bottom (empty until loaded).
    QStringList shownClassNames() const;
    int shownImageCount() const { return m_imageCount; }
    QString errorText() const;

    static constexpr int kPerClass = 10;
    static constexpr int kScale = 3; // 28 px -> 84 px, nearest neighbour: patches stay crisp

Q_SIGNALS:
    void loaded(int images);
    void failed(const QString &message);
    void statusMessage(const QString &text);

private:
    struct Result {
        engine::SampleGrid grid;
        QString error;
        quint64 generation = 0;
    };

    void showResult();
    void clearGrid();

    QString m_dir;
    quint64 m_generation = 0;
    QFutureWatcher<Result> m_watcher;
    QLabel *m_header = nullptr;
    QLabel *m_error = nullptr;
    QScrollArea *m_scroll = nullptr;
    QWidget *m_gridHost = nullptr;
    QGridLayout *m_grid = nullptr;
    QStringList m_classNames;
    int m_imageCount = 0;
};

} // namespace vitscope::gui

#pragma once
// The embedding map: CLIP image embeddings together with the typed classes' text
// embeddings, or MAE encoder features (class token or mean of the patch tokens), in one
// 2-D PCA map; points coloured by true or predicted class, hovering shows the image,
// clicking opens it in the attention tab. Embedding runs on a worker in batches, with
// progress and Cancel.

#include <QFutureWatcher>
#include <QTimer>
#include <QWidget>

#include <atomic>
#include <memory>
#include <vector>

#include "src/engine/sessions.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QProgressBar;
class QPushButton;
class QSpinBox;

namespace vitscope::gui {

class MessageBar;
class ModelRegistry;
class PlotWidget;

class EmbeddingMapView : public QWidget {
    Q_OBJECT
public:
    explicit EmbeddingMapView(ModelRegistry *models, QWidget *parent = nullptr);
    ~EmbeddingMapView() override;

    struct Point {
        double x = 0, y = 0;
        int label = -1;     // true class, -1 unknown
        int predicted = -1; // CLIP: the nearest class text
        bool text = false;  // a class's text embedding
        int image = -1;     // index into images()
        QString name;
    };

    void setDataDir(const QString &dir) { m_dataDir = dir; }
    void setModel(const QString &id);
    void setFolder(const QString &dir); // empty: Fashion-MNIST
    void compute();
    void cancel();
    bool isBusy() const { return m_running; }

    const std::vector<Point> &points() const { return m_points; }
    double explained(int axis) const { return m_explained[axis]; }
    QString whatText() const;
    // The point nearest to a position on the plot (pixels), -1 when none is within 10 px.
    int pointNear(const QPointF &pos) const;
    void hoverAt(const QPointF &pos); // what a mouse move does
    PlotWidget *plot() const { return m_plot; }

Q_SIGNALS:
    void openImage(const engine::RgbImage &image, const QString &name);
    void statusMessage(const QString &text);
    void mapUpdated();

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    struct Job {
        std::vector<Point> points;
        std::vector<engine::RgbImage> images;
        QStringList classNames;
        double explained[2] = {0, 0};
        double gap = -1;
        QString kind, error;
        bool cancelled = false;
    };
    static void placePoints(Job &job, const std::vector<std::vector<float>> &rows,
                            const std::vector<std::vector<float>> &texts, const std::vector<int> &labels,
                            const std::vector<QString> &names, const std::vector<std::string> &classNames);
    void modelsChanged();
    void finished();
    void draw();

    ModelRegistry *m_models;
    QString m_dataDir, m_folder;
    MessageBar *m_message = nullptr;
    QComboBox *m_modelCombo = nullptr, *m_colorCombo = nullptr, *m_poolCombo = nullptr;
    QSpinBox *m_perClass = nullptr;
    QLineEdit *m_classes = nullptr;
    QPushButton *m_computeButton = nullptr, *m_cancelButton = nullptr, *m_folderButton = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_what = nullptr, *m_source = nullptr, *m_hover = nullptr;
    PlotWidget *m_plot = nullptr;
    QTimer m_progressTimer;
    QPointF m_pressPos;

    QFutureWatcher<Job> m_watcher;
    std::shared_ptr<std::atomic<bool>> m_cancel;
    std::shared_ptr<std::atomic<int>> m_done, m_total;
    bool m_running = false;
    std::vector<Point> m_points;
    std::vector<engine::RgbImage> m_images;
    QStringList m_classNames;
    QString m_kind;
    double m_explained[2] = {0, 0};
    double m_gap = -1;
};

} // namespace vitscope::gui

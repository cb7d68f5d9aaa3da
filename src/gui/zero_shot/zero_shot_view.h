#pragma once
// Zero-shot classification with CLIP: class names typed by the user become prompts; as
// the text changes (debounced) the class embeddings are recomputed off the GUI thread
// (cached prompts make one more class name cost one class's prompts), and every image's
// probabilities follow. Images and folders can be dropped or opened; a large folder shows
// progress and can be cancelled; when subfolder names match class names, accuracy and a
// confusion matrix appear.

#include <QFutureWatcher>
#include <QImage>
#include <QTimer>
#include <QWidget>

#include <memory>
#include <vector>

#include "src/engine/demo_content.h"
#include "src/engine/sessions.h"
#include "src/gui/common/image_intake.h"

namespace Ui {
class ZeroShotView;
}

namespace vitscope::gui {

class MessageBar;
class ModelRegistry;
class ClassHeatmaps;
class LiveLabel;
class ProbabilityBars;
class LiveSource;

class ZeroShotView : public QWidget {
    Q_OBJECT
public:
    explicit ZeroShotView(ModelRegistry *models, QWidget *parent = nullptr);
    ~ZeroShotView() override;

    struct Input {
        QString path;            // a file, or empty when `image` is given
        engine::RgbImage image;
        QString name;
        QString trueLabel;       // folder name or dataset class, may be empty

        static Input make(const QString &path, const QString &name, const QString &label,
                          engine::RgbImage image = engine::RgbImage());
    };
    static constexpr int kThumbCellWidth = 160; // px: thumbnails with their two labels

    void addFiles(const QStringList &paths);   // files and folders
    void addImages(const std::vector<Input> &inputs);
    void addFashionMnistSamples(const QString &dir, int perClass);
    void openImagesDialog();
    void openFolderDialog();
    void pasteFromClipboard();
    void clearImages();
    void cancel();

    void addDemoPhotos(); // the photos that ship with the app, labelled
    // Live input (a camera or a video file): the preview and bars follow the newest frame.
    LiveSource *liveSource() const { return m_live; }
    int liveFramesShown() const { return m_liveShown; }
    // The named class preset ("CIFAR-10") or template set ("CLIP ImageNet ensemble (80)").
    void selectClassPreset(const QString &name);
    void selectTemplateSet(const QString &name);
    QString classPresetName() const;
    QString templateSetName() const;

    QString currentModel() const; // the chosen model's id

    void setClassText(const QString &text);
    QString classText() const;
    void setEnsemble(bool on);
    bool ensemble() const;
    // Both towers on bfloat16 weights for this view's prompts and images
    // (engine::TowerWeights); switching re-embeds the images.
    void setBf16Weights(bool on);
    bool bf16Weights() const;
    bool bf16Available() const; // for the chosen model on this machine
    void setTemplates(const QStringList &templates); // "Custom"
    QStringList templates() const;

    // State, for tests and the screenshot tool.
    bool isBusy() const;
    int imageCount() const { return int(m_items.size()); }
    int thumbnailCount() const;
    QString thumbnailText(int row) const;
    const QList<QPair<QString, float>> &currentBars() const;
    const ClassHeatmaps *classHeatmaps() const { return m_heatmaps; }
    QString messageText() const;
    QString summaryText() const;
    bool confusionVisible() const;
    QWidget *exportTarget() const;
    ClassHeatmaps *heatmaps() const { return m_heatmaps; }
    int classEmbeddingUpdates() const { return m_classUpdates; }

    void saveSettings() const;
    void restoreSettings();

Q_SIGNALS:
    void predictionsUpdated();
    void statusMessage(const QString &text);

protected:

private:
    struct Item {
        QString name, path, trueLabel;
        QImage thumb;
        engine::RgbImage image; // at most 256 px a side, for re-embedding with another model
        std::vector<float> embedding;
        std::vector<float> probabilities;
    };
    struct Batch {
        std::vector<Item> items;
        QStringList errors;
        int done = 0, total = 0;
    };
    struct ClassJob {
        quint64 generation = 0;
        QString modelId;
        QStringList names;
        std::vector<std::vector<float>> embeddings;
        QString error;
        double ms = 0;
        std::int64_t promptsEncoded = 0;
        bool bf16 = false; // the text tower ran on bfloat16 weights
    };

    void modelsChanged();
    void scheduleClasses();
    void startClasses();
    void classesFinished();
    void startImages();
    void batchReady(const Batch &batch);
    void imagesFinished();
    void recompute();
    void updateItemText(int row);
    void recomputeItem(Item &item);
    void showCurrent();
    void updateSummary();
    void scheduleSummary();
    void templateSetChanged();
    void classPresetChosen(int index);
    struct LiveJob {
        engine::RgbImage image;
        std::vector<float> probabilities;
        QString error;
    };
    void setUpLive();
    void liveFrame();
    void liveFinished();
    // The class heat maps of `image` for the most probable of `bars`.
    void requestHeatmaps(const engine::RgbImage &image, const QList<QPair<QString, float>> &bars);
    void matchClassPreset();
    void fitDefaultsToModel();
    void updateBf16Check();
    engine::TowerWeights towerWeights() const;
    void reembedItems();
    std::shared_ptr<engine::ClipSession> session() const;

    std::unique_ptr<Ui::ZeroShotView> m_ui;
    ModelRegistry *m_models;
    MessageBar *m_message = nullptr;
    ImageIntake *m_intake = nullptr; // drops and pastes
    ProbabilityBars *m_bars = nullptr;
    ClassHeatmaps *m_heatmaps = nullptr;
    engine::RgbImage m_liveImage; // the live frame on screen: its heat maps are drawn on Pause
    LiveLabel *m_summary = nullptr;
    std::vector<engine::TemplateSet> m_templateSets;
    std::vector<engine::ClassPreset> m_classPresets;
    QTimer m_debounce;
    QTimer m_summaryTimer;

    QFutureWatcher<ClassJob> m_classWatcher;
    LiveSource *m_live = nullptr;
    QFutureWatcher<LiveJob> m_liveWatcher;
    bool m_liveRunning = false;
    int m_liveShown = 0;
    quint64 m_classGeneration = 0;
    bool m_classPending = false;
    bool m_classRunning = false;  // until classesFinished() ran
    bool m_imagesRunning = false; // until imagesFinished() ran (every batch delivered)
    QStringList m_classNames;
    QString m_classModel;
    std::vector<std::vector<float>> m_classEmbeddings;
    int m_classUpdates = 0;

    std::vector<Input> m_queue;
    QFuture<Batch> m_imageFuture; // the current job; each job has its own watcher
    quint64 m_imageGeneration = 0;
    QStringList m_errors;
    std::vector<Item> m_items;
    QString m_itemsModel;
    bool m_itemsBf16 = false; // the items' embeddings came from bfloat16 weights
};

} // namespace vitscope::gui

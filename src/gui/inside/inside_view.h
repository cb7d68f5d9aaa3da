#pragma once
// "Inside the models": where an image encoder looks. For the MAE encoder and CLIP's image
// tower, the attention of the class token to the patches per layer and head (or the mean
// of the heads), attention rollout across layers (Abnar and Zuidema 2020, residual
// included), and, after a click on a patch, where that patch attends. For MAE only the
// visible patches have tokens: the masked ones are hatched. A second tab holds the
// embedding map (embedding_map.h). The model runs on a worker; layer, head and mode
// changes redraw from the kept result at once.

#include <QFutureWatcher>
#include <QWidget>

#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "src/engine/sessions.h"
#include "src/gui/common/newest_request_wins.h"

class QComboBox;
class QLabel;
class QListWidget;
class QSlider;
class QSpinBox;
class QTabWidget;

namespace vitscope::gui {

class EmbeddingMapView;
class LiveLabel;
class MessageBar;
class ModelRegistry;
class PatchImageWidget;

class InsideView : public QWidget {
    Q_OBJECT
public:
    enum class Mode { ClassToken, Rollout, Patch };

    explicit InsideView(ModelRegistry *models, QWidget *parent = nullptr);
    ~InsideView() override;

    void setImage(const engine::RgbImage &image, const QString &name);
    void openImageDialog();
    void loadFashionMnist(const QString &dir);
    void setModel(const QString &id);
    void setMode(Mode mode);
    void setLayer(int layer); // 0-based
    void setHead(int head);   // -1: mean of heads
    int layer() const;
    int head() const;
    Mode mode() const;
    void openImageFile(const QString &path); // errors go to the message bar
    void setMaskRatio(int percent);
    void clickPatch(int patch);
    void showMapTab(bool map);

    // State, for tests, the screenshot tool and the responsiveness benchmark.
    bool isBusy() const;
    const engine::AttentionResult *result() const { return m_result.get(); }
    const std::vector<float> &shownMap() const;
    QString whatText() const;        // the attention tab's explanation
    QString currentWhatText() const; // the shown tab's (F1)
    QString currentModel() const;
    QString imageName() const { return m_imageName; }
    int layerCount() const;
    EmbeddingMapView *mapView() const { return m_map; }
    QWidget *exportTarget() const;

Q_SIGNALS:
    void statusMessage(const QString &text);
    void attentionUpdated();

private:
    struct SampleLoad {
        engine::SampleGrid grid;
        std::vector<std::pair<QString, engine::RgbImage>> photos; // the demo photos: title, image
        QString error;
    };
    struct Job {
        std::shared_ptr<engine::AttentionResult> result;
        QString error;
    };
    void modelsChanged();
    void request();
    std::function<Job()> prepareJob();
    void show(const Job &job);
    void redraw();
    void updateControls();
    bool fitSampleToModel();

    ModelRegistry *m_models;
    QTabWidget *m_tabs = nullptr;
    MessageBar *m_message = nullptr;
    QComboBox *m_modelCombo = nullptr, *m_modeCombo = nullptr, *m_headCombo = nullptr;
    QSlider *m_layerSlider = nullptr, *m_ratioSlider = nullptr;
    QLabel *m_what = nullptr;
    LiveLabel *m_layerLabel = nullptr, *m_ratioLabel = nullptr, *m_timing = nullptr;
    QSpinBox *m_seedSpin = nullptr;
    QWidget *m_maskRow = nullptr;
    QListWidget *m_samples = nullptr;
    PatchImageWidget *m_main = nullptr;
    std::vector<PatchImageWidget *> m_strip;
    QWidget *m_stripHost = nullptr;
    EmbeddingMapView *m_map = nullptr;

    std::vector<engine::RgbImage> m_sampleImages;
    engine::RgbImage m_image;
    QString m_imageName;
    std::shared_ptr<engine::AttentionResult> m_result;
    QString m_resultModel;
    int m_patch = -1; // the clicked patch
    std::array<long long, 4> m_stripKey{}; // what the layer strip shows (see redraw)
    std::unique_ptr<NewestRequestWins<Job>> m_job; // attention of the newest request
    QFutureWatcher<SampleLoad> m_sampleWatcher;
    int m_pendingLayer = -1; // setLayer/setHead before a model's depth and heads were known
    int m_pendingHead = -2;
    int m_firstPhotoRow = 0; // the sample list: Fashion-MNIST, then the demo photos from here
};

} // namespace vitscope::gui

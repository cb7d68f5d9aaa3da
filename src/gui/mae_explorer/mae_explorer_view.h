#pragma once
// The MAE explorer: pick an image, a masking strategy and ratio; see the masked input,
// the reconstruction, the reconstruction with the visible patches pasted back, and the
// per-patch error. All model work runs on a worker; while the slider moves only the
// newest request is drawn (one in flight, at most one waiting).

#include <QFutureWatcher>
#include <QImage>
#include <QWidget>

#include <functional>
#include <memory>
#include <vector>

#include "src/engine/sessions.h"
#include "src/gui/common/image_intake.h"
#include "src/gui/common/newest_request_wins.h"

namespace Ui {
class MaeExplorerView;
}

namespace vitscope::gui {

class LiveSource;
class LiveLabel;
class MessageBar;
class ModelRegistry;
class PatchImageWidget;

class MaeExplorerView : public QWidget {
    Q_OBJECT
public:
    explicit MaeExplorerView(ModelRegistry *models, QWidget *parent = nullptr);
    ~MaeExplorerView() override;

    // Image sources.
    void openImageFile(const QString &path);  // errors go to the message bar
    void setImage(const QImage &image, const QString &name);
    void pasteFromClipboard();
    void openImageDialog();
    void openFolderDialog();
    void openFolder(const QString &dir);
    void loadFashionMnist(const QString &dir);

    // State, for tests and the screenshot tool.
    bool isBusy() const;
    bool hasResult() const { return m_hasResult; }
    const engine::MaeResult &lastResult() const { return m_last; }
    QImage panelImage(const QString &title) const;
    QString messageText() const;
    QString currentStrategy() const;
    int ratioPercent() const;
    void setStrategy(const QString &name);
    void setRatioPercent(int percent);
    void setSeed(int seed);
    void setCompare(bool on);
    int seed() const;
    bool compare() const;
    QString imagePath() const { return m_imagePath; } // the file shown; empty for a sample or a paste
    void togglePatch(int index);
    QString currentModel() const;
    QString imageName() const { return m_imageName; }
    QString sourceName() const; // "Fashion-MNIST test set", "Demo photos" or a folder's name
    LiveSource *liveSource() const { return m_live; } // a camera or video: the newest frame is drawn
    QWidget *exportTarget() const;

    void saveSettings() const;
    void restoreSettings();

Q_SIGNALS:
    void resultShown();
    void statusMessage(const QString &text);

protected:
    bool eventFilter(QObject *watched, QEvent *event) override;

private:
    struct Job {
        std::vector<engine::MaeResult> results;
        QString error;
        double ms = 0;
        bool compare = false;
    };

    void createPanels();
    void request();
    std::function<Job()> prepareJob();
    void show(const Job &job);
    void modelsChanged();
    void updateControls();
    bool fitSourceToModel();
    void setUpLive();
    void liveFrame();
    void selectSource(int row);
    engine::MaskRequest currentRequest() const;

    std::unique_ptr<Ui::MaeExplorerView> m_ui;
    ModelRegistry *m_models;
    MessageBar *m_message = nullptr;
    ImageIntake *m_intake = nullptr; // drops and pastes
    LiveLabel *m_info = nullptr;
    std::vector<PatchImageWidget *> m_panels;
    QWidget *m_singlePage = nullptr;
    int m_columns = 0;
    void layoutPanels();
    std::vector<PatchImageWidget *> m_comparePanels; // 3 rows x 3
    std::unique_ptr<NewestRequestWins<Job>> m_job; // the explorer's redraws: only the newest is shown
    engine::RgbImage m_image;
    QString m_imageName;
    QString m_imagePath;
    LiveSource *m_live = nullptr;
    std::vector<int> m_customKeep;
    engine::MaeResult m_last;
    bool m_hasResult = false;
    std::vector<engine::RgbImage> m_sourceImages;
    bool m_sourceFitted = false; // the demo photos were chosen for the model, not by the user
    QFutureWatcher<void> m_sourceWatcher;
};

} // namespace vitscope::gui

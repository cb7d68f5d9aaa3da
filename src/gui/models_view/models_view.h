#pragma once
// Models: the bundled Fashion-MNIST models, any Hugging Face folder (CLIP or ViTMAE),
// recent folders; the device models load onto. A folder that fails to load shows the
// core's message (which names the file and what was wrong) and nothing else changes.

#include <QWidget>

#include <memory>

namespace Ui {
class ModelsView;
}
class QTreeWidgetItem;

namespace vitscope::gui {

class GetModelDialog;
class MessageBar;
class ModelRegistry;

class ModelsView : public QWidget {
    Q_OBJECT
public:
    explicit ModelsView(ModelRegistry *models, QWidget *parent = nullptr);
    ~ModelsView() override;

    // Loads a bundled name, folder or checkpoint file; with makeCurrent (what a user opens)
    // it becomes the current model of the views that take its kind.
    void loadModel(const QString &dirOrName, bool makeCurrent = true);
    // A Hub id org/name[@revision]: Get model, downloading with its progress, then loaded
    // and made current.
    void openHubModel(const QString &id);
    void openFolderDialog();
    // A checkpoint file: FAIR .pth, OpenAI .pt, open_clip .bin / .safetensors.
    void openFileDialog();
    // The Hugging Face Hub: GetModelDialog, non-modal; a finished download is loaded.
    GetModelDialog *openGetModelDialog();
    QString messageText() const;
    QString statusOf(const QString &dirOrName) const;
    QString deviceChoice() const;

Q_SIGNALS:
    void statusMessage(const QString &text);
    void deviceChanged(const QString &device);

private:
    QTreeWidgetItem *rowFor(const QString &id, bool create);
    void loaded(const QString &id);
    void failed(const QString &id, const QString &message);
    void showInfo();
    void refreshRecent();

    std::unique_ptr<Ui::ModelsView> m_ui;
    ModelRegistry *m_models;
    MessageBar *m_message = nullptr;
    GetModelDialog *m_getModel = nullptr;
};

} // namespace vitscope::gui

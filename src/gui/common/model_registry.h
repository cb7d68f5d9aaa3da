#pragma once
// The models the app has loaded, shared by the views. Loading runs on a worker thread;
// `loaded` or `failed` arrives on the GUI thread. Sessions are shared_ptrs: a view's
// worker keeps its model alive even if the model is closed meanwhile.

#include <QObject>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>
#include <vector>

class QComboBox;

#include "src/engine/sessions.h"

namespace vitscope::gui {

struct ModelEntry {
    QString id; // what was asked for: a bundled name or a folder
    engine::ModelInfo info;
    std::shared_ptr<engine::MaeSession> mae;
    std::shared_ptr<engine::ClipSession> clip;
};

class ModelRegistry : public QObject {
    Q_OBJECT
public:
    explicit ModelRegistry(QObject *parent = nullptr);
    ~ModelRegistry() override;

    // A bundled name or a Hugging Face folder. Already loaded: `loaded` again at once.
    void load(const QString &dirOrName);
    bool isLoading() const { return m_pending > 0; }

    const std::vector<ModelEntry> &models() const { return m_models; }
    const ModelEntry *find(const QString &id) const;

    // "auto", "cpu" or "cuda": where the next models load.
    QString device() const { return m_device; }
    void setDevice(const QString &device) { m_device = device; }

    QStringList recent() const;

Q_SIGNALS:
    void loaded(const QString &id);
    void failed(const QString &dirOrName, const QString &message);
    void loadingChanged(bool loading);

private:
    void addRecent(const QString &dirOrName);

    std::vector<ModelEntry> m_models;
    QString m_device = QStringLiteral("auto");
    int m_pending = 0;
};

// Refills a view's model chooser with the loaded models that `label` names (an empty
// label leaves a model out; the item's data is the model's id), keeping the current
// choice when it is still loaded, else the first; `placeholder` when none is. Emits none
// of the combo's signals. Returns whether the chosen model changed.
bool fillModelCombo(QComboBox *combo, const ModelRegistry &models,
                    const std::function<QString(const ModelEntry &)> &label, const QString &placeholder);

} // namespace vitscope::gui

#pragma once
// The models the app has loaded, shared by the views. Loading runs on a worker thread;
// `loaded` or `failed` arrives on the GUI thread. Sessions are shared_ptrs: a view's
// worker keeps its model alive even if the model is closed meanwhile.

#include <QMap>
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

    // A bundled name, a model folder or checkpoint file, or a Hub id. Already loaded:
    // `loaded` again at once. With becomeCurrent, once loaded it becomes the current model of
    // its kind (currentChanged, after loaded): what the command line, the Models view and
    // Get model open; the bundled models load without it at start.
    void load(const QString &dirOrName, bool becomeCurrent = false);
    // The model the views of `kind` ("mae", "clip") were last sent to; empty when none.
    QString current(const QString &kind) const;
    bool isLoading() const { return m_pending > 0; }

    const std::vector<ModelEntry> &models() const { return m_models; }
    const ModelEntry *find(const QString &id) const;

    // "auto", "cpu" or "cuda": where the next models load.
    QString device() const { return m_device; }
    void setDevice(const QString &device) { m_device = device; }

    QStringList recent() const;

Q_SIGNALS:
    void loaded(const QString &id);
    void currentChanged(const QString &kind, const QString &id);
    void failed(const QString &dirOrName, const QString &message);
    void loadingChanged(bool loading);

private:
    void addRecent(const QString &dirOrName);
    void makeCurrent(const QString &id);

    std::vector<ModelEntry> m_models;
    QString m_device = QStringLiteral("auto");
    int m_pending = 0;
    QStringList m_wantCurrent;       // loading, to become current
    QMap<QString, QString> m_current; // kind -> id
};

// Refills a view's model chooser with the loaded models that `label` names (an empty
// label leaves a model out; the item's data is the model's id), keeping the current
// choice when it is still loaded, else the first; `placeholder` when none is. Emits none
// of the combo's signals. Returns whether the chosen model changed.
bool fillModelCombo(QComboBox *combo, const ModelRegistry &models,
                    const std::function<QString(const ModelEntry &)> &label, const QString &placeholder);

// Keeps a view's model chooser on the current model of `kind` (empty: either): when one becomes current,
// the combo selects it, and the combo's own signals run as for a user's choice. Choosing
// another model in the combo afterwards is the user's to do.
void followCurrentModel(QComboBox *combo, ModelRegistry *models, const QString &kind);

} // namespace vitscope::gui

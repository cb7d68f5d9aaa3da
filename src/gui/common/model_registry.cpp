#include "src/gui/common/model_registry.h"

#include <QComboBox>
#include <QSignalBlocker>

#include <QFutureWatcher>
#include <QSettings>
#include <QtConcurrent/QtConcurrentRun>

#include <exception>

namespace vitscope::gui {

namespace {

struct LoadResult {
    ModelEntry entry;
    QString error;
};

} // namespace

ModelRegistry::ModelRegistry(QObject *parent) : QObject(parent) {}

ModelRegistry::~ModelRegistry()
{
    QThreadPool::globalInstance()->waitForDone();
}

const ModelEntry *ModelRegistry::find(const QString &id) const
{
    for (const auto &m : m_models)
        if (m.id == id || QString::fromStdString(m.info.dir) == id)
            return &m;
    return nullptr;
}

QString ModelRegistry::current(const QString &kind) const
{
    return m_current.value(kind);
}

void ModelRegistry::makeCurrent(const QString &id)
{
    const ModelEntry *m = find(id);
    if (!m)
        return;
    const QString kind = QString::fromStdString(m->info.kind);
    m_current[kind] = m->id;
    Q_EMIT currentChanged(kind, m->id);
}

void ModelRegistry::load(const QString &dirOrName, bool becomeCurrent)
{
    if (const ModelEntry *m = find(dirOrName)) {
        const QString id = m->id;
        Q_EMIT loaded(id);
        if (becomeCurrent)
            makeCurrent(id);
        return;
    }
    if (becomeCurrent && !m_wantCurrent.contains(dirOrName))
        m_wantCurrent << dirOrName;
    const std::string arg = dirOrName.toStdString();
    const std::string device = m_device.toStdString();
    auto *watcher = new QFutureWatcher<LoadResult>(this);
    if (m_pending++ == 0)
        Q_EMIT loadingChanged(true);
    connect(watcher, &QFutureWatcher<LoadResult>::finished, this, [this, watcher, dirOrName]() {
        const LoadResult r = watcher->result();
        watcher->deleteLater();
        if (--m_pending == 0)
            Q_EMIT loadingChanged(false);
        const bool wantCurrent = m_wantCurrent.removeAll(dirOrName) > 0;
        if (!r.error.isEmpty()) {
            Q_EMIT failed(dirOrName, r.error);
            return;
        }
        if (!find(dirOrName))
            m_models.push_back(r.entry);
        addRecent(dirOrName);
        Q_EMIT loaded(dirOrName);
        if (wantCurrent)
            makeCurrent(dirOrName);
    });
    watcher->setFuture(QtConcurrent::run([arg, device, dirOrName]() {
        LoadResult r;
        try {
            const std::string kind = engine::modelKind(arg);
            r.entry.id = dirOrName;
            if (kind == "mae") {
                r.entry.mae = engine::MaeSession::load(arg, device);
                r.entry.info = r.entry.mae->info();
            } else if (kind == "clip") {
                r.entry.clip = engine::ClipSession::load(arg, device);
                r.entry.info = r.entry.clip->info();
            } else {
                r.error = QObject::tr("%1: model_type \"%2\" is neither an MAE (vit_mae) nor a CLIP model (clip)")
                              .arg(dirOrName, QString::fromStdString(kind));
            }
        } catch (const std::exception &e) {
            r.error = QString::fromStdString(e.what());
        }
        return r;
    }));
}

QStringList ModelRegistry::recent() const
{
    return QSettings().value(QStringLiteral("models/recent")).toStringList();
}

void ModelRegistry::addRecent(const QString &dirOrName)
{
    QStringList list = recent();
    list.removeAll(dirOrName);
    list.prepend(dirOrName);
    while (list.size() > 10)
        list.removeLast();
    QSettings().setValue(QStringLiteral("models/recent"), list);
}

bool fillModelCombo(QComboBox *combo, const ModelRegistry &models,
                    const std::function<QString(const ModelEntry &)> &label, const QString &placeholder)
{
    const QString current = combo->currentData().toString();
    QSignalBlocker block(combo);
    combo->clear();
    for (const auto &m : models.models())
        if (const QString text = label(m); !text.isEmpty())
            combo->addItem(text, m.id);
    int i = combo->findData(current);
    if (i < 0 && combo->count() > 0)
        i = 0;
    combo->setCurrentIndex(i);
    if (combo->count() == 0)
        combo->setPlaceholderText(placeholder);
    return combo->currentData().toString() != current;
}

void followCurrentModel(QComboBox *combo, ModelRegistry *models, const QString &kind)
{
    QObject::connect(models, &ModelRegistry::currentChanged, combo,
                     [combo, kind](const QString &currentKind, const QString &id) {
                         if (!kind.isEmpty() && currentKind != kind)
                             return;
                         if (const int i = combo->findData(id); i >= 0)
                             combo->setCurrentIndex(i);
                     });
}

} // namespace vitscope::gui

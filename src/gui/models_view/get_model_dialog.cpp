#include "src/gui/models_view/get_model_dialog.h"

#include <QComboBox>
#include <QDialogButtonBox>
#include <QFutureWatcher>
#include <QLabel>
#include <QLocale>
#include <QPointer>
#include <QProgressBar>
#include <QPushButton>
#include <QTimer>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrent>

#include "src/engine/hub_models.h"

namespace vitscope::gui {

namespace {

QString bytesText(qint64 bytes)
{
    return bytes < 0 ? QObject::tr("size unknown") : QLocale().formattedDataSize(bytes, 1, QLocale::DataSizeSIFormat);
}

QString durationText(double s)
{
    if (s < 0)
        return QStringLiteral("?");
    if (s < 60)
        return QObject::tr("%1 s").arg(int(s));
    return QObject::tr("%1 min %2 s").arg(int(s) / 60).arg(int(s) % 60, 2, 10, QLatin1Char('0'));
}

struct InfoResult {
    engine::HubModelInfo info;
    QString error;
};

} // namespace

GetModelDialog::GetModelDialog(QWidget *parent) : QDialog(parent)
{
    setWindowTitle(tr("Get a model from the Hugging Face Hub"));
    setModal(false);
    auto *layout = new QVBoxLayout(this);
    auto *intro = new QLabel(tr("Pick a model or type any <i>org/name</i> (or <i>org/name@revision</i>). Files go to the "
                                "Hugging Face cache (HF_HOME), shared with transformers; only what the model needs is "
                                "downloaded, and an interrupted download resumes."),
                             this);
    intro->setWordWrap(true);
    layout->addWidget(intro);
    m_id = new QComboBox(this);
    m_id->setEditable(true);
    for (const auto &id : engine::suggestedHubModels())
        m_id->addItem(QString::fromStdString(id));
    m_id->setObjectName(QStringLiteral("modelId"));
    layout->addWidget(m_id);
    m_info = new QLabel(this);
    m_info->setWordWrap(true);
    m_info->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_info->setObjectName(QStringLiteral("modelInfo"));
    layout->addWidget(m_info);
    m_bar = new QProgressBar(this);
    m_bar->setRange(0, 1000);
    m_bar->setValue(0);
    m_bar->setVisible(false);
    layout->addWidget(m_bar);
    m_rate = new QLabel(this);
    layout->addWidget(m_rate);
    auto *buttons = new QDialogButtonBox(this);
    m_download = buttons->addButton(tr("&Download"), QDialogButtonBox::AcceptRole);
    m_cancel = buttons->addButton(tr("&Cancel download"), QDialogButtonBox::RejectRole);
    m_cancel->setEnabled(false);
    auto *close = buttons->addButton(QDialogButtonBox::Close);
    layout->addWidget(buttons);
    connect(m_download, &QPushButton::clicked, this, &GetModelDialog::startDownload);
    connect(m_cancel, &QPushButton::clicked, this, &GetModelDialog::cancel);
    connect(close, &QPushButton::clicked, this, &QDialog::hide);
    m_debounce = new QTimer(this);
    m_debounce->setSingleShot(true);
    m_debounce->setInterval(400);
    connect(m_debounce, &QTimer::timeout, this, &GetModelDialog::askInfo);
    connect(m_id, &QComboBox::currentTextChanged, this, [this]() { m_debounce->start(); });
    if (!engine::hubAvailable()) {
        m_info->setText(tr("This build has no Hub client (libcurl was missing when it was built)."));
        m_download->setEnabled(false);
    } else {
        m_debounce->start();
    }
    resize(560, 260);
}

GetModelDialog::~GetModelDialog()
{
    if (m_cancelFlag)
        *m_cancelFlag = true; // a running download stops at its next chunk
}

void GetModelDialog::setModelId(const QString &id)
{
    m_id->setCurrentText(id);
}

QString GetModelDialog::modelId() const
{
    return m_id->currentText().trimmed();
}

QString GetModelDialog::infoText() const
{
    return m_info->text();
}

void GetModelDialog::askInfo()
{
    const QString id = modelId();
    if (id.isEmpty())
        return;
    const int request = ++m_infoRequest;
    m_info->setText(tr("Asking the Hub what %1 holds…").arg(id));
    auto *watcher = new QFutureWatcher<InfoResult>(this);
    connect(watcher, &QFutureWatcher<InfoResult>::finished, this, [this, watcher, request]() {
        watcher->deleteLater();
        if (request != m_infoRequest)
            return; // a newer id was typed meanwhile
        const InfoResult r = watcher->result();
        if (!r.error.isEmpty()) {
            m_info->setText(r.error);
            return;
        }
        QStringList lines;
        for (const auto &f : r.info.files)
            lines << QStringLiteral("%1  %2%3").arg(QString::fromStdString(f.name), bytesText(f.bytes),
                                                     f.cached ? tr(" (in the cache)") : QString());
        m_info->setText(tr("%1 at %2: %3 to download of %4\n%5")
                            .arg(QString::fromStdString(r.info.id), QString::fromStdString(r.info.commit.substr(0, 10)),
                                 bytesText(r.info.totalBytes - r.info.cachedBytes), bytesText(r.info.totalBytes),
                                 lines.join(QLatin1Char('\n'))));
    });
    const std::string stdId = id.toStdString();
    watcher->setFuture(QtConcurrent::run([stdId]() {
        InfoResult r;
        try {
            r.info = engine::hubModelInfo(stdId);
        } catch (const std::exception &e) {
            r.error = QString::fromStdString(e.what());
        }
        return r;
    }));
}

void GetModelDialog::startDownload()
{
    if (m_downloading || modelId().isEmpty())
        return;
    m_downloading = true;
    m_download->setEnabled(false);
    m_cancel->setEnabled(true);
    m_bar->setVisible(true);
    m_bar->setValue(0);
    m_rate->setText(tr("Starting…"));
    m_cancelFlag = std::make_shared<std::atomic<bool>>(false);
    auto flag = m_cancelFlag;
    QPointer<GetModelDialog> self(this);
    const std::string id = modelId().toStdString();
    auto *watcher = new QFutureWatcher<QPair<QString, QString>>(this);
    connect(watcher, &QFutureWatcher<QPair<QString, QString>>::finished, this, [this, watcher]() {
        watcher->deleteLater();
        const auto r = watcher->result();
        finished(r.first, r.second);
    });
    watcher->setFuture(QtConcurrent::run([id, flag, self]() {
        QPair<QString, QString> out;
        try {
            out.first = QString::fromStdString(engine::downloadHubModel(id, [&](const engine::HubProgress &p) {
                if (self) // plain data to the GUI thread, queued
                    QMetaObject::invokeMethod(self.data(), [self, p]() {
                        if (self)
                            self->progress(QString::fromStdString(p.file), p.allDone, p.allTotal, p.bytesPerSecond,
                                           p.etaSeconds);
                    }, Qt::QueuedConnection);
                return !*flag;
            }));
        } catch (const std::exception &e) {
            out.second = QString::fromStdString(e.what());
        }
        return out;
    }));
}

void GetModelDialog::cancel()
{
    if (m_cancelFlag)
        *m_cancelFlag = true;
}

void GetModelDialog::progress(const QString &file, qint64 allDone, qint64 allTotal, double rate, double eta)
{
    if (allTotal > 0)
        m_bar->setValue(int(1000.0 * double(allDone) / double(allTotal)));
    m_rate->setText(tr("%1: %2 of %3, %4/s, %5 left")
                        .arg(file, bytesText(allDone), bytesText(allTotal), bytesText(qint64(rate)), durationText(eta)));
}

void GetModelDialog::finished(const QString &folder, const QString &error)
{
    m_downloading = false;
    m_download->setEnabled(true);
    m_cancel->setEnabled(false);
    m_cancelFlag.reset();
    if (!error.isEmpty()) {
        m_bar->setVisible(false);
        m_rate->setText(error);
        return;
    }
    m_bar->setValue(1000);
    m_rate->setText(tr("In the cache: %1. Loading it…").arg(folder));
    Q_EMIT modelReady(folder);
}

} // namespace vitscope::gui

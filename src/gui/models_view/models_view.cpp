#include "src/gui/models_view/models_view.h"
#include "src/gui/models_view/get_model_dialog.h"

#include <QDir>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QLocale>
#include <QSettings>
#include <QShortcut>
#include <QVBoxLayout>

#include "src/engine/engine.h"
#include "src/gui/common/file_dialogs.h"
#include "src/gui/common/widgets.h"
#include "src/gui/common/model_registry.h"
#include "ui_models_view.h"

namespace vitscope::gui {

ModelsView::ModelsView(ModelRegistry *models, QWidget *parent)
    : QWidget(parent), m_ui(std::make_unique<Ui::ModelsView>()), m_models(models)
{
    m_ui->setupUi(this);
    m_message = setUpViewHeader(
        this, m_ui->whatLabel,
        tr("<b>Models.</b> The two bundled models were trained on Fashion-MNIST by this app's trainer (their "
           "cards give the command, the time and every measured result). The real models load here too: Hugging "
           "Face folders (<i>facebook/vit-mae-base</i>, <i>openai/clip-vit-base-patch32</i>; safetensors or "
           "pytorch_model.bin), FAIR's MAE <i>.pth</i>, OpenAI's CLIP <i>.pt</i> and open_clip's files, read without "
           "running any code stored in them; drop one on the window, or <i>Get model…</i> from the Hugging Face Hub. "
           "The panel on the right says where each setting came from. Loaded models appear in the MAE explorer and Zero-shot views."),
        m_ui->messageHost);
    m_ui->modelTree->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_ui->splitter->setStretchFactor(0, 3);
    m_ui->splitter->setStretchFactor(1, 2);

    const engine::BuildInfo info = engine::buildInfo();
    m_ui->deviceCombo->addItem(tr("Automatic"), QStringLiteral("auto"));
    m_ui->deviceCombo->addItem(tr("CPU"), QStringLiteral("cpu"));
    m_ui->deviceCombo->addItem(info.torchCuda ? tr("CUDA") : tr("CUDA (not in this build)"), QStringLiteral("cuda"));
    if (!info.torchCuda)
        m_ui->deviceCombo->setItemData(2, 0, Qt::UserRole - 1); // disabled
    connect(m_ui->deviceCombo, &QComboBox::currentIndexChanged, this, [this]() {
        m_models->setDevice(deviceChoice());
        QSettings().setValue(QStringLiteral("models/device"), deviceChoice());
        Q_EMIT deviceChanged(deviceChoice());
    });
    const int saved = m_ui->deviceCombo->findData(QSettings().value(QStringLiteral("models/device"), QStringLiteral("auto")));
    if (saved >= 0 && (saved != 2 || info.torchCuda))
        m_ui->deviceCombo->setCurrentIndex(saved);

    for (const auto &name : engine::bundledModels()) {
        QTreeWidgetItem *row = rowFor(QString::fromStdString(name), true);
        row->setText(2, tr("bundled, not loaded"));
    }
    connect(m_ui->openFolderButton, &QPushButton::clicked, this, &ModelsView::openFolderDialog);
    connect(m_ui->openFileButton, &QPushButton::clicked, this, &ModelsView::openFileDialog);
    connect(m_ui->getModelButton, &QPushButton::clicked, this, [this]() { openGetModelDialog(); });
    auto *openFile = new QShortcut(QKeySequence(QStringLiteral("Ctrl+Shift+M")), this);
    openFile->setContext(Qt::WindowShortcut);
    connect(openFile, &QShortcut::activated, this, &ModelsView::openFileDialog);
    connect(m_ui->loadButton, &QPushButton::clicked, this, [this]() {
        if (QTreeWidgetItem *item = m_ui->modelTree->currentItem())
            loadModel(item->data(0, Qt::UserRole).toString());
    });
    connect(m_ui->modelTree, &QTreeWidget::itemDoubleClicked, this,
            [this](QTreeWidgetItem *item) { loadModel(item->data(0, Qt::UserRole).toString()); });
    connect(m_ui->modelTree, &QTreeWidget::currentItemChanged, this, &ModelsView::showInfo);
    connect(m_ui->recentList, &QListWidget::itemDoubleClicked, this,
            [this](QListWidgetItem *item) { loadModel(item->text()); });
    connect(m_models, &ModelRegistry::loaded, this, &ModelsView::loaded);
    connect(m_models, &ModelRegistry::failed, this, &ModelsView::failed);
    refreshRecent();
}

ModelsView::~ModelsView() = default;

QString ModelsView::deviceChoice() const
{
    return m_ui->deviceCombo->currentData().toString();
}

QTreeWidgetItem *ModelsView::rowFor(const QString &id, bool create)
{
    for (int i = 0; i < m_ui->modelTree->topLevelItemCount(); ++i) {
        QTreeWidgetItem *item = m_ui->modelTree->topLevelItem(i);
        if (item->data(0, Qt::UserRole).toString() == id)
            return item;
    }
    if (!create)
        return nullptr;
    auto *item = new QTreeWidgetItem(m_ui->modelTree);
    item->setData(0, Qt::UserRole, id);
    item->setText(0, QFileInfo(id).fileName().isEmpty() ? id : QFileInfo(id).fileName());
    item->setText(3, id);
    item->setToolTip(3, id);
    return item;
}

void ModelsView::loadModel(const QString &dirOrName, bool makeCurrent)
{
    if (dirOrName.isEmpty())
        return;
    QTreeWidgetItem *row = rowFor(dirOrName, true);
    if (!m_models->find(dirOrName))
        row->setText(2, tr("loading…"));
    m_models->load(dirOrName, makeCurrent);
}

void ModelsView::openHubModel(const QString &id)
{
    GetModelDialog *dialog = openGetModelDialog();
    dialog->setModelId(id);
    if (!dialog->isDownloading())
        dialog->startDownload();
}

void ModelsView::openFolderDialog()
{
    const QString dir = askFolder(this, tr("A Hugging Face model folder (config.json + model.safetensors)"),
                                  QStringLiteral("models/lastDir"));
    if (!dir.isEmpty())
        loadModel(dir);
}

GetModelDialog *ModelsView::openGetModelDialog()
{
    if (!m_getModel) {
        m_getModel = new GetModelDialog(this);
        connect(m_getModel, &GetModelDialog::modelReady, this, [this](const QString &folder) { loadModel(folder); });
    }
    m_getModel->show();
    m_getModel->raise();
    return m_getModel;
}

void ModelsView::openFileDialog()
{
    const QString file = askOpenFile(this, tr("A model checkpoint file"), QStringLiteral("models/lastDir"),
                                     tr("Checkpoints (*.pth *.pt *.bin *.safetensors *.ckpt);;All files (*)"));
    if (!file.isEmpty())
        loadModel(file);
}

void ModelsView::loaded(const QString &id)
{
    const ModelEntry *m = m_models->find(id);
    QTreeWidgetItem *row = rowFor(id, true);
    if (!m)
        return;
    row->setText(0, QString::fromStdString(m->info.name));
    row->setText(1, m->info.kind == "mae" ? tr("MAE") : tr("CLIP"));
    row->setText(2, tr("loaded on %1").arg(QString::fromStdString(m->info.device)));
    row->setText(3, QString::fromStdString(m->info.dir));
    row->setToolTip(2, QString());
    if (!m_ui->modelTree->currentItem())
        m_ui->modelTree->setCurrentItem(row);
    else if (m_ui->modelTree->currentItem() == row)
        showInfo();
    refreshRecent();
    Q_EMIT statusMessage(tr("Loaded %1 (%2)").arg(QString::fromStdString(m->info.name), QString::fromStdString(m->info.summary)));
}

void ModelsView::failed(const QString &id, const QString &message)
{
    QTreeWidgetItem *row = rowFor(id, true);
    row->setText(2, tr("failed"));
    row->setToolTip(2, message);
    m_message->show(tr("Could not load %1: %2").arg(QDir::toNativeSeparators(id), message), MessageBar::Kind::Error, 0);
    Q_EMIT statusMessage(message);
}

QString ModelsView::statusOf(const QString &dirOrName) const
{
    for (int i = 0; i < m_ui->modelTree->topLevelItemCount(); ++i) {
        QTreeWidgetItem *item = m_ui->modelTree->topLevelItem(i);
        if (item->data(0, Qt::UserRole).toString() == dirOrName)
            return item->text(2);
    }
    return {};
}

QString ModelsView::messageText() const
{
    return m_message->text();
}

void ModelsView::showInfo()
{
    QTreeWidgetItem *item = m_ui->modelTree->currentItem();
    if (!item)
        return;
    const QString id = item->data(0, Qt::UserRole).toString();
    const ModelEntry *m = m_models->find(id);
    QString markdown;
    if (m) {
        markdown = QStringLiteral("## %1\n\n%2\n\n%3 parameters · input %4 × %4 · loaded on %5\n\nPath: `%6`\n\n")
                       .arg(QString::fromStdString(m->info.name), QString::fromStdString(m->info.summary))
                       .arg(QLocale().toString(qlonglong(m->info.parameters)))
                       .arg(m->info.imageSize)
                       .arg(QString::fromStdString(m->info.device), QString::fromStdString(m->info.dir));
        if (!m->info.format.empty()) {
            markdown += QStringLiteral("Format: %1\n\n").arg(QString::fromStdString(m->info.format));
            for (const auto &line : m->info.provenance)
                markdown += QStringLiteral("- %1\n").arg(QString::fromStdString(line));
            markdown += QStringLiteral("\n");
        }
        const QFileInfo where(QString::fromStdString(m->info.dir));
        QFile card((where.isDir() ? QDir(where.filePath()) : where.dir()).filePath(QStringLiteral("MODEL_CARD.md")));
        if (card.open(QIODevice::ReadOnly | QIODevice::Text))
            markdown += QStringLiteral("---\n\n") + QString::fromUtf8(card.readAll());
    } else {
        markdown = tr("## %1\n\n%2\n\nDouble-click or press *Load selected* to load it.")
                       .arg(item->text(0), item->text(2));
    }
    m_ui->infoBrowser->setMarkdown(markdown);
}

void ModelsView::refreshRecent()
{
    m_ui->recentList->clear();
    for (const QString &r : m_models->recent())
        if (QFileInfo(r).isDir() || QFileInfo(r).isFile())
            m_ui->recentList->addItem(r);
}

} // namespace vitscope::gui

// The Zero-shot view's prompts: class-name presets, template sets, fitting both to the
// model (a Fashion-MNIST model or a photo model), and their saved settings.
#include "src/gui/zero_shot/zero_shot_view.h"

#include <QSettings>
#include <QSignalBlocker>

#include "src/gui/common/model_registry.h"
#include "ui_zero_shot_view.h"

namespace vitscope::gui {

namespace {

QString joinLines(const std::vector<std::string> &lines)
{
    QStringList out;
    for (const auto &l : lines)
        out << QString::fromStdString(l);
    return out.join(QLatin1Char('\n'));
}

} // namespace

// The preset whose list is the text in the editor, else Custom (what the user typed).
void ZeroShotView::matchClassPreset()
{
    int preset = m_ui->classPresetCombo->count() - 1;
    for (int i = 0; i < int(m_classPresets.size()); ++i)
        if (m_ui->classesEdit->toPlainText() == joinLines(m_classPresets[std::size_t(i)].classes))
            preset = i;
    QSignalBlocker block(m_ui->classPresetCombo);
    m_ui->classPresetCombo->setCurrentIndex(preset);
}

void ZeroShotView::selectTemplateSet(const QString &name)
{
    const int i = m_ui->templateSetCombo->findText(name);
    if (i >= 0)
        m_ui->templateSetCombo->setCurrentIndex(i);
}

void ZeroShotView::selectClassPreset(const QString &name)
{
    const int i = m_ui->classPresetCombo->findText(name);
    if (i < 0 || i >= int(m_classPresets.size()))
        return;
    m_ui->classPresetCombo->setCurrentIndex(i);
    classPresetChosen(i);
}

void ZeroShotView::classPresetChosen(int index)
{
    if (index >= 0 && index < int(m_classPresets.size()))
        m_ui->classesEdit->setPlainText(joinLines(m_classPresets[std::size_t(index)].classes)); // schedules
}

QString ZeroShotView::currentModel() const
{
    return m_ui->modelCombo->currentData().toString();
}

QString ZeroShotView::templateSetName() const
{
    return m_ui->templateSetCombo->currentText();
}

QString ZeroShotView::classPresetName() const
{
    return m_ui->classPresetCombo->currentText();
}

// A Fashion-MNIST model gets its held-out templates and its ten classes; any other CLIP
// the paper's ImageNet ensemble and the demo photos' classes. What the user chose or
// typed ("Custom") stays.
void ZeroShotView::fitDefaultsToModel()
{
    const ModelEntry *m = m_models->find(m_ui->modelCombo->currentData().toString());
    if (!m)
        return;
    const bool fashion = engine::fashionMnistModel(m->info);
    if (m_ui->templateSetCombo->currentIndex() < int(m_templateSets.size())) {
        selectTemplateSet(QString::fromLatin1(fashion ? engine::kHeldOutTemplates : engine::kImageNetTemplates));
        if (!fashion)
            m_ui->ensembleCheck->setChecked(true);
    }
    if (m_ui->classPresetCombo->currentIndex() < int(m_classPresets.size())) {
        const QString preset = fashion ? QStringLiteral("Fashion-MNIST") : QStringLiteral("Demo photos");
        if (m_ui->classPresetCombo->currentText() != preset)
            selectClassPreset(preset);
    }
}

void ZeroShotView::templateSetChanged()
{
    const int i = m_ui->templateSetCombo->currentIndex();
    if (i < 0 || i >= int(m_templateSets.size()))
        return; // custom: keep what is in the editor
    QStringList lines;
    for (const auto &t : m_templateSets[std::size_t(i)].templates)
        lines << QString::fromStdString(t);
    QSignalBlocker block(m_ui->templatesEdit);
    m_ui->templatesEdit->setPlainText(lines.join(QLatin1Char('\n')));
    scheduleClasses();
}

void ZeroShotView::setClassText(const QString &text)
{
    m_ui->classesEdit->setPlainText(text);
}

QString ZeroShotView::classText() const
{
    return m_ui->classesEdit->toPlainText();
}

void ZeroShotView::setEnsemble(bool on)
{
    m_ui->ensembleCheck->setChecked(on);
}

bool ZeroShotView::ensemble() const
{
    return m_ui->ensembleCheck->isChecked();
}

void ZeroShotView::setBf16Weights(bool on)
{
    m_ui->bf16Check->setChecked(on);
}

bool ZeroShotView::bf16Weights() const
{
    return m_ui->bf16Check->isChecked();
}

bool ZeroShotView::bf16Available() const
{
    const auto s = session();
    return s && s->bf16Available();
}

// The switch stays as the user set it; where the chosen model cannot run bfloat16 it is
// greyed out and says why (it runs float32).
void ZeroShotView::updateBf16Check()
{
    const auto s = session();
    const bool available = s && s->bf16Available();
    m_ui->bf16Check->setEnabled(available);
    const QString what =
        tr("Both towers' products read bfloat16 copies of their weights (AVX512_BF16): on a 2-core machine "
           "a new ViT-B/32 prompt ran about 2.3x faster and a batch of its images about 1.8x. On the "
           "bundled model's 10,000 test images, bfloat16 prompts moved no probability by more than 0.0005 and "
           "bfloat16 images none by more than 0.008, changing the top class of 1 image; released checkpoints "
           "are not measured yet (docs/performance.md). The copies take half the towers' size again. "
           "Switching embeds the images again.");
    if (available)
        m_ui->bf16Check->setToolTip(what);
    else if (s)
        m_ui->bf16Check->setToolTip(what + QStringLiteral("<br><br>") +
                                    tr("Not here: it needs the model on the CPU and a CPU with AVX512_BF16. "
                                       "Everything runs on float32 weights."));
    else
        m_ui->bf16Check->setToolTip(what);
}

void ZeroShotView::setTemplates(const QStringList &templates)
{
    m_ui->templatesEdit->setPlainText(templates.join(QLatin1Char('\n'))); // a set's text keeps its name
}

QStringList ZeroShotView::templates() const
{
    QStringList out;
    for (const QString &line : m_ui->templatesEdit->toPlainText().split(QLatin1Char('\n')))
        if (!line.trimmed().isEmpty())
            out << line.trimmed();
    return out;
}

void ZeroShotView::saveSettings() const
{
    QSettings s;
    s.setValue(QStringLiteral("zeroshot/classes"), m_ui->classesEdit->toPlainText());
    s.setValue(QStringLiteral("zeroshot/templateSetName"), m_ui->templateSetCombo->currentText());
    s.setValue(QStringLiteral("zeroshot/templates"), m_ui->templatesEdit->toPlainText());
    s.setValue(QStringLiteral("zeroshot/ensemble"), m_ui->ensembleCheck->isChecked());
    s.setValue(QStringLiteral("zeroshot/bf16Text"), m_ui->bf16Check->isChecked());
}

void ZeroShotView::restoreSettings()
{
    QSettings s;
    if (s.contains(QStringLiteral("zeroshot/classes")))
        m_ui->classesEdit->setPlainText(s.value(QStringLiteral("zeroshot/classes")).toString());
    int set = m_ui->templateSetCombo->findText(s.value(QStringLiteral("zeroshot/templateSetName")).toString());
    if (!s.contains(QStringLiteral("zeroshot/templateSetName"))) { // older settings: saved by index, custom was 2
        const int old = s.value(QStringLiteral("zeroshot/templateSet"), -1).toInt();
        set = old == 2 ? m_ui->templateSetCombo->count() - 1 : old;
    }
    if (set >= 0 && set < m_ui->templateSetCombo->count())
        m_ui->templateSetCombo->setCurrentIndex(set);
    if (set == m_ui->templateSetCombo->count() - 1)
        m_ui->templatesEdit->setPlainText(s.value(QStringLiteral("zeroshot/templates")).toString());
    m_ui->ensembleCheck->setChecked(s.value(QStringLiteral("zeroshot/ensemble"), true).toBool());
    if (s.contains(QStringLiteral("zeroshot/bf16Text")))
        m_ui->bf16Check->setChecked(s.value(QStringLiteral("zeroshot/bf16Text")).toBool());
}

} // namespace vitscope::gui

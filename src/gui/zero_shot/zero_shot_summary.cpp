// The zero-shot view's summary line: image count, and accuracy with a confusion matrix
// when images carry true labels (folder names, dataset classes) that match class names.
#include <QHash>
#include <QHeaderView>
#include <QTableWidgetItem>

#include <algorithm>

#include "src/gui/zero_shot/zero_shot_view.h"
#include "src/gui/common/widgets.h"
#include "ui_zero_shot_view.h"

namespace vitscope::gui {

namespace {

QString normalizedLabel(QString s)
{
    return s.replace(QLatin1Char('_'), QLatin1Char(' ')).trimmed().toLower();
}

} // namespace

void ZeroShotView::updateSummary()
{
    m_ui->confusionTable->hide();
    if (m_items.empty()) {
        m_summary->setText(tr("Drop images or folders here, or open them."));
        return;
    }
    // Accuracy when every image has a true label that is one of the class names.
    QHash<QString, int> index;
    for (int k = 0; k < m_classNames.size(); ++k)
        index.insert(normalizedLabel(m_classNames[k]), k);
    int labelled = 0, correct = 0;
    const int K = int(m_classNames.size());
    std::vector<int> confusion(std::size_t(K * K), 0);
    for (const auto &item : m_items) {
        if (item.probabilities.empty() || item.trueLabel.isEmpty())
            continue;
        const auto it = index.find(normalizedLabel(item.trueLabel));
        if (it == index.end())
            continue;
        const int predicted = int(std::max_element(item.probabilities.begin(), item.probabilities.end()) -
                                  item.probabilities.begin());
        ++labelled;
        correct += predicted == *it;
        ++confusion[std::size_t(*it * K + predicted)];
    }
    QString text = tr("%n image(s)", nullptr, int(m_items.size()));
    if (labelled > 0) {
        text += tr(" · %1 with a true class among the names: accuracy %2% (%3 of %1)")
                    .arg(labelled)
                    .arg(100.0 * correct / labelled, 0, 'f', 1)
                    .arg(correct);
        auto *t = m_ui->confusionTable;
        t->clear();
        t->setRowCount(K);
        t->setColumnCount(K);
        t->setHorizontalHeaderLabels(m_classNames);
        t->setVerticalHeaderLabels(m_classNames);
        int rowMax = 1;
        for (int v : confusion)
            rowMax = std::max(rowMax, v);
        const QColor hi = palette().color(QPalette::Highlight);
        for (int r = 0; r < K; ++r)
            for (int c = 0; c < K; ++c) {
                const int v = confusion[std::size_t(r * K + c)];
                auto *cell = new QTableWidgetItem(v ? QString::number(v) : QString());
                cell->setTextAlignment(Qt::AlignCenter);
                QColor bg = hi;
                bg.setAlphaF(0.85 * v / rowMax);
                cell->setBackground(bg);
                t->setItem(r, c, cell);
            }
        t->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
        t->verticalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
        t->show();
    }
    m_summary->setText(text);
}

} // namespace vitscope::gui

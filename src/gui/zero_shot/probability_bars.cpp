#include "src/gui/zero_shot/probability_bars.h"

#include <QPainter>

#include <algorithm>

#include "src/gui/common/widgets.h"

namespace vitscope::gui {

ProbabilityBars::ProbabilityBars(QWidget *parent) : QWidget(parent)
{
    setObjectName(QStringLiteral("probabilityBars"));
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Preferred);
}

void ProbabilityBars::setBars(const QList<QPair<QString, float>> &bars)
{
    m_bars = bars;
    updateGeometry();
    update();
}

QSize ProbabilityBars::sizeHint() const
{
    return {360, std::max(180, int(std::min<qsizetype>(m_bars.size(), 12)) * (fontMetrics().height() + 8) + 8)};
}

void ProbabilityBars::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const int rowH = fontMetrics().height() + 8;
    const int rows = std::min<int>(int(m_bars.size()), std::max(1, (height() - 4) / rowH));
    int nameW = 0;
    for (int i = 0; i < rows; ++i)
        nameW = std::max(nameW, fontMetrics().horizontalAdvance(m_bars[i].first));
    nameW = std::min(nameW + 12, width() / 3);
    const int pctW = fontMetrics().horizontalAdvance(QStringLiteral("100.0%")) + 10;
    const int barMax = std::max(10, width() - nameW - pctW - 8);
    const QColor text = palette().color(QPalette::WindowText);
    for (int i = 0; i < rows; ++i) {
        const int y = 4 + i * rowH;
        const auto &[name, prob] = m_bars[i];
        p.setPen(text);
        p.drawText(QRect(0, y, nameW - 8, rowH - 4), Qt::AlignRight | Qt::AlignVCenter,
                   fontMetrics().elidedText(name, Qt::ElideRight, nameW - 8));
        QColor fill = i == 0 ? palette().color(QPalette::Highlight) : seriesColor(4);
        if (i > 0)
            fill.setAlpha(170);
        p.fillRect(QRect(nameW, y + 2, std::max(1, int(barMax * prob)), rowH - 8), fill);
        p.setPen(text);
        p.drawText(QRect(nameW + int(barMax * prob) + 4, y, pctW, rowH - 4), Qt::AlignLeft | Qt::AlignVCenter,
                   QStringLiteral("%1%").arg(100.0 * prob, 0, 'f', 1));
    }
    if (m_bars.isEmpty()) {
        p.setPen(palette().color(QPalette::PlaceholderText));
        p.drawText(rect(), Qt::AlignCenter, tr("Type class names on the left"));
    }
}

} // namespace vitscope::gui

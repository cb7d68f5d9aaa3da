#pragma once
// The zero-shot view's bar chart: one horizontal bar per class, highest first, the top one
// in the palette's highlight colour.

#include <QList>
#include <QPair>
#include <QString>
#include <QWidget>

namespace vitscope::gui {

// Horizontal probability bars, highest first.
class ProbabilityBars : public QWidget {
    Q_OBJECT
public:
    explicit ProbabilityBars(QWidget *parent = nullptr);
    void setBars(const QList<QPair<QString, float>> &bars); // sorted by the caller
    const QList<QPair<QString, float>> &bars() const { return m_bars; }
    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QList<QPair<QString, float>> m_bars;
};

} // namespace vitscope::gui

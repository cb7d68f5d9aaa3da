#include "src/gui/common/patch_image_widget.h"

#include <QMouseEvent>
#include <QPainter>
#include <QPainterPath>

#include <algorithm>
#include <cmath>

#include "src/engine/colors.h"

namespace vitscope::gui {

PatchImageWidget::PatchImageWidget(const QString &title, QWidget *parent) : QWidget(parent), m_title(title)
{
    setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void PatchImageWidget::setTitle(const QString &title)
{
    if (title == m_title)
        return;
    m_title = title;
    update();
}

void PatchImageWidget::setImage(const QImage &image, int grid)
{
    m_heatMode = false;
    m_overlay.clear();
    m_overlayImage = QImage();
    m_marked = -1;
    m_image = image;
    m_grid = grid;
    update();
}

void PatchImageWidget::setHeat(const std::vector<float> &values, const std::vector<std::uint8_t> &removed, int grid)
{
    m_heatMode = true;
    m_heat = values;
    m_removed = removed;
    m_grid = grid;
    // A small image of the heat map too, so exports and tests can read it.
    m_image = QImage(grid, grid, QImage::Format_RGB888);
    const float hi = values.empty() ? 1.f : std::max(1e-12f, *std::max_element(values.begin(), values.end()));
    for (int i = 0; i < grid * grid && i < int(values.size()); ++i)
        m_image.setPixelColor(i % grid, i / grid, heatColor(values[std::size_t(i)] / hi));
    update();
}

void PatchImageWidget::setOverlay(const std::vector<float> &values, int marked, double alpha)
{
    m_overlay = values;
    m_marked = marked;
    // The tint of each patch as one grid x grid image (values scaled min to max; patches
    // without a value dark), drawn scaled over the picture.
    m_overlayImage = QImage();
    if (m_grid > 0 && int(values.size()) >= m_grid * m_grid) {
        float lo = INFINITY, hi = -INFINITY;
        for (float v : values)
            if (std::isfinite(v))
                lo = std::min(lo, v), hi = std::max(hi, v);
        m_overlayImage = QImage(m_grid, m_grid, QImage::Format_ARGB32);
        for (int i = 0; i < m_grid * m_grid; ++i) {
            const float v = values[std::size_t(i)];
            QColor c = std::isfinite(v) ? heatColor(hi > lo ? (v - lo) / (hi - lo) : 0.5) : QColor(30, 30, 30);
            c.setAlphaF(std::isfinite(v) ? float(alpha) : 0.6f);
            m_overlayImage.setPixelColor(i % m_grid, i / m_grid, c);
        }
    }
    update();
}

void PatchImageWidget::clearOverlay()
{
    m_overlay.clear();
    m_overlayImage = QImage();
    m_marked = -1;
    update();
}

QColor PatchImageWidget::heatColor(double t)
{
    const auto c = engine::heatColor(t); // the colour map the CLI's PNGs use
    return QColor(c[0], c[1], c[2]);
}

QRect PatchImageWidget::imageRect() const
{
    const int titleH = fontMetrics().height() + 6;
    const int side = std::max(0, std::min(width() - 4, height() - titleH - 4));
    return QRect((width() - side) / 2, titleH + (height() - titleH - side) / 2, side, side);
}

void PatchImageWidget::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setPen(palette().color(QPalette::WindowText));
    QFont bold = font();
    bold.setBold(true);
    p.setFont(bold);
    p.drawText(QRect(0, 0, width(), fontMetrics().height() + 4), Qt::AlignHCenter | Qt::AlignBottom, m_title);
    const QRect r = imageRect();
    if (r.width() <= 0)
        return;
    if (m_image.isNull()) {
        p.fillRect(r, palette().color(QPalette::AlternateBase));
        return;
    }
    p.setRenderHint(QPainter::SmoothPixmapTransform, false);
    p.drawImage(r, m_image);
    if (m_grid <= 0)
        return;
    const double cell = double(r.width()) / m_grid;
    if (!m_overlayImage.isNull()) {
        // One scaled image for the colours, one path for the hatching: a handful of
        // painter calls however many patches (the Inside view repaints seven of these).
        p.drawImage(r, m_overlayImage);
        QPainterPath noToken;
        for (int i = 0; i < m_grid * m_grid && i < int(m_overlay.size()); ++i)
            if (!std::isfinite(m_overlay[std::size_t(i)]))
                noToken.addRect(QRectF(r.left() + (i % m_grid) * cell, r.top() + (i / m_grid) * cell, cell, cell));
        if (!noToken.isEmpty())
            p.fillPath(noToken, QBrush(QColor(30, 30, 30, 200), Qt::BDiagPattern));
        if (m_marked >= 0 && m_marked < m_grid * m_grid) {
            p.setPen(QPen(QColor(255, 64, 64), 2));
            p.drawRect(QRectF(r.left() + (m_marked % m_grid) * cell, r.top() + (m_marked / m_grid) * cell, cell, cell)
                           .adjusted(1, 1, -1, -1));
        }
    }
    if (m_heatMode) {
        QColor hatch = palette().color(QPalette::Base);
        hatch.setAlpha(170);
        for (int i = 0; i < m_grid * m_grid && i < int(m_removed.size()); ++i)
            if (!m_removed[std::size_t(i)])
                p.fillRect(QRectF(r.left() + (i % m_grid) * cell, r.top() + (i / m_grid) * cell, cell, cell),
                           QBrush(hatch, Qt::BDiagPattern));
    }
    if (m_showGrid && cell >= 6) {
        QColor line = palette().color(QPalette::Mid);
        line.setAlpha(90);
        p.setPen(QPen(line, 1));
        for (int k = 1; k < m_grid; ++k) {
            p.drawLine(QPointF(r.left() + k * cell, r.top()), QPointF(r.left() + k * cell, r.bottom()));
            p.drawLine(QPointF(r.left(), r.top() + k * cell), QPointF(r.right(), r.top() + k * cell));
        }
    }
}

void PatchImageWidget::mousePressEvent(QMouseEvent *event)
{
    if (!m_clickable || m_grid <= 0 || event->button() != Qt::LeftButton)
        return QWidget::mousePressEvent(event);
    const QRect r = imageRect();
    const QPointF pos = event->position();
    if (!r.contains(pos.toPoint()))
        return;
    const int col = std::clamp(int((pos.x() - r.left()) * m_grid / r.width()), 0, m_grid - 1);
    const int row = std::clamp(int((pos.y() - r.top()) * m_grid / r.height()), 0, m_grid - 1);
    Q_EMIT patchClicked(row * m_grid + col);
}

} // namespace vitscope::gui

#pragma once
// One panel of the MAE explorer: an image drawn with crisp (nearest) pixels, an optional
// patch grid, an optional per-patch heat map, and clicks reported as patch indices.

#include <QImage>
#include <QWidget>

#include <cstdint>
#include <vector>

namespace vitscope::gui {

class PatchImageWidget : public QWidget {
    Q_OBJECT
public:
    explicit PatchImageWidget(const QString &title, QWidget *parent = nullptr);

    void setTitle(const QString &title);
    QString title() const { return m_title; }
    void setImage(const QImage &image, int grid);
    // Heat map mode: one value per patch (row-major) coloured from low to high; patches
    // with removed[i] == 0 are hatched (they were visible, the loss ignores them).
    void setHeat(const std::vector<float> &values, const std::vector<std::uint8_t> &removed, int grid);
    // Overlay mode: the image stays, each patch is tinted with its value's colour (values
    // scaled min to max; NaN: the patch has no token, drawn hatched). `marked` (-1: none)
    // gets an outline: the patch whose attention is shown.
    void setOverlay(const std::vector<float> &values, int marked = -1, double alpha = 0.6);
    void clearOverlay();
    const std::vector<float> &overlay() const { return m_overlay; }
    void setClickable(bool on) { m_clickable = on; setCursor(on ? Qt::PointingHandCursor : Qt::ArrowCursor); }
    void setShowGrid(bool on) { m_showGrid = on; update(); }
    const QImage &image() const { return m_image; }
    QRect imageRect() const; // where the image is drawn, in widget coordinates
    int grid() const { return m_grid; }

    QSize sizeHint() const override { return {220, 240}; }
    QSize minimumSizeHint() const override { return {100, 120}; }

    // 0..1 -> a perceptually ordered colour (dark blue to yellow).
    static QColor heatColor(double t);

Q_SIGNALS:
    void patchClicked(int index);

protected:
    void paintEvent(QPaintEvent *event) override;
    void mousePressEvent(QMouseEvent *event) override;

private:
    QString m_title;
    QImage m_image;
    int m_grid = 0;
    bool m_clickable = false;
    bool m_showGrid = true;
    bool m_heatMode = false;
    std::vector<float> m_heat;
    std::vector<float> m_overlay;
    QImage m_overlayImage;
    int m_marked = -1;
    std::vector<std::uint8_t> m_removed;
};

} // namespace vitscope::gui

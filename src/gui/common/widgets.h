#pragma once
// Small widgets every view uses: a non-modal message bar, a plot with export, and the
// export of any widget to PNG / SVG.

#include <QFrame>
#include <QString>
#include <QTimer>

#include "src/gui/common/qcustomplot.h"

class QLabel;
class QListWidget;

namespace vitscope::gui {

// A thin coloured bar with one message and a close button; hides itself after a while.
// Never modal: the user keeps working.
class MessageBar : public QFrame {
    Q_OBJECT
public:
    enum class Kind { Info, Warning, Error };
    explicit MessageBar(QWidget *parent = nullptr);
    void show(const QString &text, Kind kind = Kind::Error, int hideAfterMs = 12000);
    QString text() const;

private:
    QLabel *m_label = nullptr;
    QTimer m_timer;
};

// QCustomPlot with a context menu: save as PNG or SVG, copy the data as CSV, toggle a
// logarithmic y axis, reset the zoom. Colours follow the palette (light and dark).
class PlotWidget : public QCustomPlot {
    Q_OBJECT
public:
    explicit PlotWidget(QWidget *parent = nullptr);
    void setLogY(bool on);
    bool logY() const { return m_logY; }
    // Applies the palette's colours to axes, grid and background.
    void applyPalette();
    bool savePlot(const QString &path); // by extension: .png, .svg, .csv
    QString csv() const;                // every graph: graph,x,y

Q_SIGNALS:
    void logYChanged(bool on);

protected:
    void contextMenuEvent(QContextMenuEvent *event) override;
    void changeEvent(QEvent *event) override;

private:
    bool m_logY = false;
};

// Text that changes often (a slider's value, a timing line): painted, word-wrapped, in a
// fixed number of lines. Unlike QLabel, setText() never asks the window for a new layout,
// which with the views' rich-text explanations cost tens of milliseconds per change.
class LiveLabel : public QWidget {
    Q_OBJECT
public:
    explicit LiveLabel(int lines = 1, QWidget *parent = nullptr);
    void setText(const QString &text);
    QString text() const { return m_text; }
    QSize sizeHint() const override;
    QSize minimumSizeHint() const override;

protected:
    void paintEvent(QPaintEvent *event) override;

private:
    QString m_text;
    int m_lines = 1;
};

// Puts a LiveLabel of `lines` lines where `label` (from a .ui form) is in its layout, with
// its text and object name; the QLabel is hidden. Returns the LiveLabel.
LiveLabel *replaceWithLiveLabel(QLabel *label, int lines);

// Puts `child` into the empty placeholder `host` (a widget from a .ui form), filling it.
void fillHost(QWidget *host, QWidget *child);
// A view's top from its form: the "What am I seeing?" line (`what`, rich text) and a
// MessageBar placed in `messageHost`. Returns the bar (owned by `view`).
MessageBar *setUpViewHeader(QWidget *view, QLabel *what, const QString &text, QWidget *messageHost);
// A list of thumbnails: icon mode, fixed grid, static, relaid out as the width changes.
void setupThumbnailList(QListWidget *list, QSize icon, QSize grid);

// Saves a widget's look: PNG (a grab) or SVG (rendered through QSvgGenerator).
bool exportWidget(QWidget *widget, const QString &path, QString *error = nullptr);
// Asks for a file name and saves; messages go to `bar`.
void exportWidgetInteractive(QWidget *widget, const QString &suggestedName, MessageBar *bar);

// Okabe-Ito colours, readable on light and dark backgrounds and for colour-blind viewers.
QColor seriesColor(int index);

} // namespace vitscope::gui

#include "src/gui/common/widgets.h"

#include <QApplication>
#include <QContextMenuEvent>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QVBoxLayout>
#include <QMenu>
#include <QPainter>
#include <QPainter>
#include <QSaveFile>
#include <QStandardPaths>
#include <QSvgGenerator>
#include <QToolButton>

namespace vitscope::gui {

MessageBar::MessageBar(QWidget *parent) : QFrame(parent)
{
    setObjectName(QStringLiteral("messageBar"));
    auto *layout = new QHBoxLayout(this);
    layout->setContentsMargins(8, 4, 4, 4);
    m_label = new QLabel(this);
    m_label->setObjectName(QStringLiteral("messageText"));
    m_label->setWordWrap(true);
    m_label->setTextInteractionFlags(Qt::TextSelectableByMouse);
    layout->addWidget(m_label, 1);
    auto *close = new QToolButton(this);
    close->setText(QStringLiteral("✕"));
    close->setAutoRaise(true);
    close->setToolTip(tr("Dismiss"));
    layout->addWidget(close);
    connect(close, &QToolButton::clicked, this, &QWidget::hide);
    m_timer.setSingleShot(true);
    connect(&m_timer, &QTimer::timeout, this, &QWidget::hide);
    QFrame::hide();
}

void MessageBar::show(const QString &text, Kind kind, int hideAfterMs)
{
    const char *colors[] = {"#1565c0", "#b26a00", "#b00020"};
    const char *color = colors[int(kind)];
    setStyleSheet(QStringLiteral("#messageBar { border: 1px solid %1; border-radius: 4px; } "
                                 "#messageText { color: %1; }")
                      .arg(QLatin1String(color)));
    m_label->setText(text);
    QFrame::show();
    if (hideAfterMs > 0)
        m_timer.start(hideAfterMs);
    else
        m_timer.stop();
}

QString MessageBar::text() const
{
    return isHidden() ? QString() : m_label->text();
}

QColor seriesColor(int index)
{
    static const QColor colors[] = {QColor(0, 114, 178), QColor(230, 159, 0), QColor(0, 158, 115),
                                    QColor(204, 121, 167), QColor(86, 180, 233), QColor(213, 94, 0),
                                    QColor(240, 228, 66), QColor(120, 120, 120)};
    return colors[index % 8];
}

PlotWidget::PlotWidget(QWidget *parent) : QCustomPlot(parent)
{
    setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    legend->setVisible(true);
    setMinimumHeight(180);
    applyPalette();
}

void PlotWidget::applyPalette()
{
    const QPalette pal = palette();
    const QColor fg = pal.color(QPalette::WindowText);
    const QColor bg = pal.color(QPalette::Base);
    QColor grid = fg;
    grid.setAlpha(50);
    setBackground(bg);
    for (QCPAxis *axis : {xAxis, yAxis}) {
        axis->setBasePen(QPen(fg));
        axis->setTickPen(QPen(fg));
        axis->setSubTickPen(QPen(fg));
        axis->setTickLabelColor(fg);
        axis->setLabelColor(fg);
        axis->grid()->setPen(QPen(grid, 1, Qt::DotLine));
    }
    legend->setBrush(bg);
    legend->setTextColor(fg);
    legend->setBorderPen(QPen(grid));
}

void PlotWidget::changeEvent(QEvent *event)
{
    QCustomPlot::changeEvent(event);
    if (event->type() == QEvent::PaletteChange || event->type() == QEvent::FontChange) {
        applyPalette();
        replot(QCustomPlot::rpQueuedReplot);
    }
}

void PlotWidget::setLogY(bool on)
{
    if (on == m_logY)
        return;
    m_logY = on;
    if (on) {
        yAxis->setScaleType(QCPAxis::stLogarithmic);
        yAxis->setTicker(QSharedPointer<QCPAxisTickerLog>(new QCPAxisTickerLog));
    } else {
        yAxis->setScaleType(QCPAxis::stLinear);
        yAxis->setTicker(QSharedPointer<QCPAxisTicker>(new QCPAxisTicker));
    }
    rescaleAxes();
    replot();
    Q_EMIT logYChanged(on);
}

QString PlotWidget::csv() const
{
    QString out = QStringLiteral("graph,x,y\n");
    for (int g = 0; g < graphCount(); ++g) {
        QString name = graph(g)->name();
        name.replace(QLatin1Char('"'), QLatin1String("\"\""));
        for (auto it = graph(g)->data()->constBegin(); it != graph(g)->data()->constEnd(); ++it)
            out += QStringLiteral("\"%1\",%2,%3\n").arg(name).arg(it->key, 0, 'g', 10).arg(it->value, 0, 'g', 10);
    }
    return out;
}

bool PlotWidget::savePlot(const QString &path)
{
    const QString ext = QFileInfo(path).suffix().toLower();
    if (ext == QLatin1String("png"))
        return savePng(path, 0, 0, 2.0);
    if (ext == QLatin1String("csv")) {
        QSaveFile f(path);
        if (!f.open(QIODevice::WriteOnly | QIODevice::Text))
            return false;
        f.write(csv().toUtf8());
        return f.commit();
    }
    if (ext == QLatin1String("svg")) {
        QSvgGenerator gen;
        gen.setFileName(path);
        gen.setSize(size());
        gen.setViewBox(rect());
        gen.setTitle(windowTitle());
        QCPPainter painter;
        if (!painter.begin(&gen))
            return false;
        toPainter(&painter, width(), height());
        return painter.end();
    }
    return false;
}

void PlotWidget::contextMenuEvent(QContextMenuEvent *event)
{
    QMenu menu(this);
    QAction *log = menu.addAction(tr("Logarithmic y axis"));
    log->setCheckable(true);
    log->setChecked(m_logY);
    QAction *reset = menu.addAction(tr("Reset zoom"));
    menu.addSeparator();
    QAction *png = menu.addAction(tr("Save as PNG…"));
    QAction *svg = menu.addAction(tr("Save as SVG…"));
    QAction *csvAction = menu.addAction(tr("Save data as CSV…"));
    QAction *chosen = menu.exec(event->globalPos());
    if (!chosen)
        return;
    if (chosen == log) {
        setLogY(!m_logY);
        return;
    }
    if (chosen == reset) {
        rescaleAxes();
        replot();
        return;
    }
    const QString ext = chosen == png ? QStringLiteral("png")
                        : chosen == svg ? QStringLiteral("svg")
                        : chosen == csvAction ? QStringLiteral("csv")
                                              : QString();
    if (ext.isEmpty())
        return;
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
    const QString path = QFileDialog::getSaveFileName(this, tr("Save plot"), dir + QStringLiteral("/plot.") + ext,
                                                      QStringLiteral("*.") + ext);
    if (!path.isEmpty() && !savePlot(path))
        QApplication::beep();
}

MessageBar *setUpViewHeader(QWidget *view, QLabel *what, const QString &text, QWidget *messageHost)
{
    what->setText(text);
    auto *bar = new MessageBar(view);
    fillHost(messageHost, bar);
    return bar;
}

void fillHost(QWidget *host, QWidget *child)
{
    auto *layout = new QVBoxLayout(host);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(child);
}

void setupThumbnailList(QListWidget *list, QSize icon, QSize grid)
{
    list->setViewMode(QListView::IconMode);
    list->setIconSize(icon); // wrapped item text is as wide as the icon: a wide icon gives it room
    list->setGridSize(grid);
    list->setResizeMode(QListView::Adjust);
    list->setMovement(QListView::Static);
    list->setUniformItemSizes(true);
}

bool exportWidget(QWidget *widget, const QString &path, QString *error)
{
    const QString ext = QFileInfo(path).suffix().toLower();
    if (ext == QLatin1String("svg")) {
        QSvgGenerator gen;
        gen.setFileName(path);
        gen.setSize(widget->size());
        gen.setViewBox(widget->rect());
        QPainter painter;
        if (!painter.begin(&gen)) {
            if (error)
                *error = QObject::tr("%1: cannot write").arg(path);
            return false;
        }
        widget->render(&painter);
        painter.end();
        return QFileInfo::exists(path);
    }
    const QPixmap pix = widget->grab();
    if (!pix.save(path, ext == QLatin1String("jpg") ? "JPG" : "PNG")) {
        if (error)
            *error = QObject::tr("%1: cannot write").arg(path);
        return false;
    }
    return true;
}

void exportWidgetInteractive(QWidget *widget, const QString &suggestedName, MessageBar *bar)
{
    const QString dir = QStandardPaths::writableLocation(QStandardPaths::PicturesLocation);
    const QString path = QFileDialog::getSaveFileName(widget, QObject::tr("Export view"),
                                                      dir + QLatin1Char('/') + suggestedName + QStringLiteral(".png"),
                                                      QObject::tr("PNG image (*.png);;SVG drawing (*.svg)"));
    if (path.isEmpty())
        return;
    QString error;
    if (exportWidget(widget, path, &error))
        bar->show(QObject::tr("Saved %1").arg(QDir::toNativeSeparators(path)), MessageBar::Kind::Info, 5000);
    else
        bar->show(error, MessageBar::Kind::Error);
}

LiveLabel::LiveLabel(int lines, QWidget *parent) : QWidget(parent), m_lines(std::max(1, lines))
{
    setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
}

void LiveLabel::setText(const QString &text)
{
    if (text == m_text)
        return;
    m_text = text;
    update(); // repaint only: the size never depends on the text
}

QSize LiveLabel::sizeHint() const
{
    return {fontMetrics().horizontalAdvance(QStringLiteral("0000000")), m_lines * fontMetrics().lineSpacing() + 2};
}

QSize LiveLabel::minimumSizeHint() const
{
    return {fontMetrics().horizontalAdvance(QStringLiteral("000")), sizeHint().height()};
}

LiveLabel *replaceWithLiveLabel(QLabel *label, int lines)
{
    auto *live = new LiveLabel(lines, label->parentWidget());
    live->setObjectName(label->objectName());
    live->setText(label->text());
    live->setToolTip(label->toolTip());
    if (QLayout *layout = label->parentWidget() ? label->parentWidget()->layout() : nullptr)
        delete layout->replaceWidget(label, live); // searches nested layouts too
    label->hide();
    label->setObjectName(label->objectName() + QStringLiteral("Replaced"));
    return live;
}

void LiveLabel::paintEvent(QPaintEvent *)
{
    QPainter p(this);
    p.setPen(palette().color(QPalette::WindowText));
    p.drawText(rect(), Qt::AlignLeft | Qt::AlignVCenter | (m_lines > 1 ? Qt::TextWordWrap : Qt::TextSingleLine), m_text);
}

} // namespace vitscope::gui

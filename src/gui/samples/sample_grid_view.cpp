#include "src/gui/samples/sample_grid_view.h"

#include <QGridLayout>
#include <QImage>
#include <QLabel>
#include <QPixmap>
#include <QScrollArea>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <exception>

namespace vitscope::gui {

SampleGridView::SampleGridView(QWidget *parent) : QWidget(parent)
{
    auto *layout = new QVBoxLayout(this);
    m_header = new QLabel(tr("Reading Fashion-MNIST…"), this);
    m_header->setObjectName(QStringLiteral("samplesHeader"));
    m_header->setWordWrap(true);
    layout->addWidget(m_header);

    m_error = new QLabel(this);
    m_error->setObjectName(QStringLiteral("samplesError"));
    m_error->setWordWrap(true);
    m_error->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_error->setStyleSheet(QStringLiteral("QLabel { color: #b00020; padding: 8px; }"));
    m_error->hide();
    layout->addWidget(m_error);

    m_scroll = new QScrollArea(this);
    m_scroll->setWidgetResizable(true);
    m_scroll->setFrameShape(QFrame::NoFrame);
    layout->addWidget(m_scroll, 1);

    connect(&m_watcher, &QFutureWatcher<Result>::finished, this, &SampleGridView::showResult);
}

SampleGridView::~SampleGridView()
{
    m_watcher.waitForFinished(); // the worker touches no widget, but outlives nothing
}

void SampleGridView::load(const QString &dir)
{
    m_dir = dir.isEmpty() ? QString::fromStdString(engine::defaultFashionMnistDir()) : dir;
    const quint64 generation = ++m_generation;
    const std::string path = m_dir.toStdString();
    m_header->setText(tr("Reading Fashion-MNIST from %1…").arg(m_dir));
    m_watcher.setFuture(QtConcurrent::run([path, generation]() {
        Result r;
        r.generation = generation;
        try {
            r.grid = engine::loadFashionMnistSamples(path, kPerClass);
        } catch (const std::exception &e) {
            r.error = QString::fromStdString(e.what());
        }
        return r;
    }));
}

void SampleGridView::reload()
{
    load(m_dir);
}

QStringList SampleGridView::shownClassNames() const
{
    return m_classNames;
}

QString SampleGridView::errorText() const
{
    return m_error->isVisible() || !m_error->text().isEmpty() ? m_error->text() : QString();
}

void SampleGridView::clearGrid()
{
    delete m_scroll->takeWidget();
    m_gridHost = nullptr;
    m_grid = nullptr;
    m_classNames.clear();
    m_imageCount = 0;
}

void SampleGridView::showResult()
{
    const Result r = m_watcher.result();
    if (r.generation != m_generation)
        return; // a newer request is on its way

    clearGrid();
    if (!r.error.isEmpty()) {
        m_header->setText(tr("Could not read Fashion-MNIST from %1.").arg(m_dir));
        m_error->setText(r.error);
        m_error->show();
        Q_EMIT statusMessage(r.error);
        Q_EMIT failed(r.error);
        return;
    }
    m_error->clear();
    m_error->hide();

    m_gridHost = new QWidget;
    m_grid = new QGridLayout(m_gridHost);
    m_grid->setHorizontalSpacing(6);
    m_grid->setVerticalSpacing(6);
    int row = -1;
    int col = 0;
    int lastLabel = -1;
    for (const auto &s : r.grid.samples) {
        if (s.label != lastLabel) {
            lastLabel = s.label;
            ++row;
            col = 1;
            auto *name = new QLabel(QString::fromStdString(s.className), m_gridHost);
            name->setObjectName(QStringLiteral("classNameLabel"));
            name->setStyleSheet(QStringLiteral("QLabel { font-weight: bold; padding-right: 12px; }"));
            m_grid->addWidget(name, row, 0, Qt::AlignRight | Qt::AlignVCenter);
            m_classNames << name->text();
        }
        // The engine's buffer is tightly packed RGB8; copy() detaches it from that buffer.
        const QImage img = QImage(s.image.rgb.data(), s.image.width, s.image.height, s.image.width * 3,
                                  QImage::Format_RGB888)
                               .copy()
                               .scaled(s.image.width * kScale, s.image.height * kScale, Qt::IgnoreAspectRatio,
                                       Qt::FastTransformation);
        auto *cell = new QLabel(m_gridHost);
        cell->setObjectName(QStringLiteral("sampleImage"));
        cell->setPixmap(QPixmap::fromImage(img));
        cell->setToolTip(tr("%1 · test image #%2").arg(QString::fromStdString(s.className)).arg(s.index));
        m_grid->addWidget(cell, row, col++);
        ++m_imageCount;
    }
    m_grid->setColumnStretch(col, 1);
    m_grid->setRowStretch(row + 1, 1);
    m_scroll->setWidget(m_gridHost);
    m_header->setText(tr("Fashion-MNIST test split: the first %1 images of each of the %2 classes · %3")
                          .arg(kPerClass)
                          .arg(r.grid.classNames.size())
                          .arg(QString::fromStdString(r.grid.source)));
    Q_EMIT statusMessage(tr("Read %1 sample images from %2").arg(m_imageCount).arg(m_dir));
    Q_EMIT loaded(m_imageCount);
}

} // namespace vitscope::gui

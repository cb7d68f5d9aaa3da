#include "src/gui/training/experiments_view.h"

#include <QComboBox>
#include <QDir>
#include <QFile>
#include <QHeaderView>
#include <QLabel>
#include <QTableWidget>
#include <QTextStream>
#include <QVBoxLayout>

#include <algorithm>
#include <map>

#include "src/engine/engine.h"
#include "src/gui/common/widgets.h"

namespace vitscope::gui {

double CsvTable::number(int row, const QString &name) const
{
    const int c = column(name);
    return c >= 0 && c < rows[row].size() ? rows[row][c].toDouble() : qQNaN();
}

QString CsvTable::text(int row, const QString &name) const
{
    const int c = column(name);
    return c >= 0 && c < rows[row].size() ? rows[row][c] : QString();
}

CsvTable readCsv(const QString &path)
{
    CsvTable t;
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly | QIODevice::Text)) {
        t.error = QObject::tr("%1: cannot read (%2)").arg(QDir::toNativeSeparators(path), f.errorString());
        return t;
    }
    QTextStream in(&f);
    t.header = in.readLine().trimmed().split(QLatin1Char(','));
    while (!in.atEnd()) {
        const QString line = in.readLine().trimmed();
        if (!line.isEmpty())
            t.rows << line.split(QLatin1Char(','));
    }
    return t;
}

namespace {

// "mae-mask-ratio-h200-2ep.csv" -> "H200, 2 epochs"
QString budgetOf(const QString &file)
{
    const QStringList parts = QFileInfo(file).completeBaseName().split(QLatin1Char('-'));
    if (parts.size() < 2)
        return file;
    QString machine = parts[parts.size() - 2].toUpper();
    QString epochs = parts.last();
    epochs.replace(QStringLiteral("ep"), QObject::tr(" epochs"));
    return QStringLiteral("%1, %2").arg(machine, epochs);
}

} // namespace

ExperimentsView::ExperimentsView(QWidget *parent) : QWidget(parent)
{
    auto *layout = new QVBoxLayout(this);
    m_choice = new QComboBox(this);
    m_choice->setObjectName(QStringLiteral("experimentChoice"));
    m_choice->addItem(tr("Accuracy against masking ratio (MAE Figure 5)"));
    m_choice->addItem(tr("Mask sampling strategies (MAE Table 1f)"));
    m_choice->addItem(tr("k-shot linear probes against zero-shot (CLIP Figure 6)"));
    m_choice->addItem(tr("Partial fine-tuning: the last k blocks (MAE Figure 9)"));
    m_choice->addItem(tr("Robustness under distribution shift (CLIP section 3.3)"));
    layout->addWidget(m_choice);
    m_note = new QLabel(this);
    m_note->setWordWrap(true);
    layout->addWidget(m_note);
    m_plot = new PlotWidget(this);
    m_plot->setObjectName(QStringLiteral("experimentPlot"));
    layout->addWidget(m_plot, 3);
    m_table = new QTableWidget(this);
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->hide();
    layout->addWidget(m_table, 2);
    connect(m_choice, &QComboBox::currentIndexChanged, this, &ExperimentsView::showPlot);
    setDir(QString::fromStdString(engine::experimentsDir()));
}

int ExperimentsView::plotCount() const
{
    return m_choice->count();
}

void ExperimentsView::setDir(const QString &dir)
{
    m_dir = dir;
    showPlot(m_choice->currentIndex());
}

void ExperimentsView::showPlot(int index)
{
    if (m_choice->currentIndex() != index)
        m_choice->setCurrentIndex(index); // re-enters through the signal
    m_plot->clearPlottables();
    m_plot->clearItems();
    m_plot->xAxis->setScaleType(QCPAxis::stLinear);
    m_plot->xAxis->setTicker(QSharedPointer<QCPAxisTicker>::create());
    m_table->hide();
    if (m_dir.isEmpty()) {
        m_note->setText(tr("The experiment tables (docs/experiments) were not found next to the app."));
        m_plot->replot();
        return;
    }
    if (index == 0)
        showRatio();
    else if (index == 1)
        showStrategy();
    else if (index == 2)
        showKShot();
    else if (index == 3)
        showPartialFinetune();
    else
        showShift();
    m_plot->rescaleAxes();
    m_plot->yAxis->scaleRange(1.15);
    m_plot->xAxis->scaleRange(1.1);
    m_plot->replot();
}

void ExperimentsView::showRatio()
{
    m_note->setText(tr("Linear probe and kNN accuracy on Fashion-MNIST against the masking ratio, one line per "
                       "training budget. The paper finds a peak near 75% for ImageNet. Small budgets flatten "
                       "the probe; see docs/experiments/README.md for the reading."));
    m_plot->xAxis->setLabel(tr("masking ratio (%)"));
    m_plot->yAxis->setLabel(tr("top-1 accuracy (%)"));
    const QStringList files = QDir(m_dir).entryList({QStringLiteral("mae-mask-ratio-*.csv")}, QDir::Files, QDir::Name);
    int series = 0;
    for (const QString &file : files) {
        // Ratio points, plus the random-masking point of the same budget's strategy sweep.
        std::map<double, std::pair<double, double>> points;
        QStringList sources = {file};
        QString strategyFile = file;
        strategyFile.replace(QStringLiteral("mask-ratio"), QStringLiteral("mask-strategy"));
        sources << strategyFile;
        for (const QString &src : sources) {
            const CsvTable t = readCsv(QDir(m_dir).filePath(src));
            for (int r = 0; r < t.rows.size(); ++r)
                if (t.text(r, QStringLiteral("mask_strategy")) == QLatin1String("random"))
                    points[100 * t.number(r, QStringLiteral("mask_ratio"))] = {
                        100 * t.number(r, QStringLiteral("linear_probe_top1")), 100 * t.number(r, QStringLiteral("knn_top1"))};
        }
        const QString budget = budgetOf(file);
        for (int which = 0; which < 2; ++which) {
            QCPGraph *g = m_plot->addGraph();
            g->setName(QStringLiteral("%1 · %2").arg(which == 0 ? tr("linear probe") : tr("kNN"), budget));
            QPen pen(seriesColor(series), 2, which == 0 ? Qt::SolidLine : Qt::DashLine);
            g->setPen(pen);
            g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, seriesColor(series), 6));
            for (const auto &[x, y] : points)
                g->addData(x, which == 0 ? y.first : y.second);
        }
        ++series;
    }
}

void ExperimentsView::showStrategy()
{
    m_note->setText(tr("Random, block and grid masking (MAE Table 1f: random 75% is best for the probe; block "
                       "and grid lose accuracy). kNN accuracy per strategy and budget; the table has every "
                       "column."));
    m_plot->xAxis->setLabel(QString());
    m_plot->yAxis->setLabel(tr("kNN top-1 accuracy (%)"));
    const QStringList files = QDir(m_dir).entryList({QStringLiteral("mae-mask-strategy-*.csv")}, QDir::Files, QDir::Name);
    QStringList names;
    QVector<QStringList> tableRows;
    for (const QString &file : files) {
        const CsvTable t = readCsv(QDir(m_dir).filePath(file));
        for (int r = 0; r < t.rows.size(); ++r)
            if (!names.contains(t.text(r, QStringLiteral("name"))))
                names << t.text(r, QStringLiteral("name"));
    }
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (int i = 0; i < names.size(); ++i)
        ticker->addTick(i + 1, names[i]);
    m_plot->xAxis->setTicker(ticker);
    const double width = 0.8 / std::max<qsizetype>(1, files.size());
    for (int f = 0; f < files.size(); ++f) {
        const CsvTable t = readCsv(QDir(m_dir).filePath(files[f]));
        auto *bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
        bars->setName(budgetOf(files[f]));
        bars->setWidth(width);
        bars->setPen(QPen(seriesColor(f)));
        bars->setBrush(seriesColor(f));
        for (int r = 0; r < t.rows.size(); ++r) {
            const int i = int(names.indexOf(t.text(r, QStringLiteral("name"))));
            bars->addData(i + 1 - 0.4 + width * (f + 0.5), 100 * t.number(r, QStringLiteral("knn_top1")));
            tableRows << QStringList{budgetOf(files[f]), t.text(r, QStringLiteral("name")),
                                     QString::number(100 * t.number(r, QStringLiteral("linear_probe_top1")), 'f', 2),
                                     QString::number(100 * t.number(r, QStringLiteral("knn_top1")), 'f', 2),
                                     t.text(r, QStringLiteral("final_loss")),
                                     t.text(r, QStringLiteral("train_images_per_s"))};
        }
    }
    m_table->clear();
    m_table->setColumnCount(6);
    m_table->setHorizontalHeaderLabels({tr("budget"), tr("strategy"), tr("linear probe %"), tr("kNN %"),
                                        tr("final loss"), tr("images/s")});
    m_table->setRowCount(int(tableRows.size()));
    for (int r = 0; r < tableRows.size(); ++r)
        for (int c = 0; c < 6; ++c)
            m_table->setItem(r, c, new QTableWidgetItem(tableRows[r][c]));
    m_table->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_table->show();
}

void ExperimentsView::showKShot()
{
    m_note->setText(tr("Linear probes on the bundled CLIP's image features with k labelled images per class "
                       "(mean and standard deviation over seeds), against zero-shot with no labelled image at "
                       "all. The CLIP paper (Figure 6) finds zero-shot matching a 4-shot probe on ImageNet."));
    m_plot->xAxis->setTicker(QSharedPointer<QCPAxisTickerLog>::create());
    m_plot->xAxis->setScaleType(QCPAxis::stLogarithmic);
    m_plot->xAxis->setLabel(tr("labelled images per class (k)"));
    m_plot->yAxis->setLabel(tr("top-1 accuracy (%)"));
    const CsvTable t = readCsv(QDir(m_dir).filePath(QStringLiteral("clip-kshot.csv")));
    if (!t.error.isEmpty()) {
        m_note->setText(t.error);
        return;
    }
    QCPGraph *probe = m_plot->addGraph();
    probe->setName(tr("k-shot linear probe"));
    probe->setPen(QPen(seriesColor(0), 2));
    probe->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, seriesColor(0), 7));
    auto *errors = new QCPErrorBars(m_plot->xAxis, m_plot->yAxis);
    errors->removeFromLegend();
    errors->setDataPlottable(probe);
    errors->setPen(QPen(seriesColor(0)));
    QVector<double> err;
    QCPGraph *zero = m_plot->addGraph();
    zero->setName(tr("zero-shot (no labelled image)"));
    zero->setPen(QPen(seriesColor(1), 2, Qt::DashLine));
    for (int r = 0; r < t.rows.size(); ++r) {
        const double k = t.number(r, QStringLiteral("shots"));
        probe->addData(k, 100 * t.number(r, QStringLiteral("accuracy")));
        err << 100 * t.number(r, QStringLiteral("std"));
        zero->addData(k, 100 * t.number(r, QStringLiteral("zeroshot_accuracy")));
    }
    errors->setData(err);
}

void ExperimentsView::showPartialFinetune()
{
    m_note->setText(tr("Test accuracy when only the last k encoder blocks are fine-tuned (k = 0: the head alone, a "
                       "linear probe through the fine-tuning recipe; k = all: full fine-tuning). The MAE paper "
                       "(Figure 9) finds that a single block already lifts accuracy far above the linear probe. "
                       "Made with vitscope-cli eval finetune --blocks 0,1,...; see docs/experiments/README.md."));
    m_plot->xAxis->setLabel(tr("blocks fine-tuned (k)"));
    m_plot->yAxis->setLabel(tr("top-1 accuracy (%)"));
    const QStringList files = QDir(m_dir).entryList({QStringLiteral("mae-partial-finetune-*.csv")}, QDir::Files, QDir::Name);
    if (files.isEmpty())
        m_note->setText(tr("No partial fine-tuning table (mae-partial-finetune-*.csv) in %1.").arg(m_dir));
    for (int f = 0; f < files.size(); ++f) {
        const CsvTable t = readCsv(QDir(m_dir).filePath(files[f]));
        QCPGraph *g = m_plot->addGraph();
        g->setName(budgetOf(files[f]));
        g->setPen(QPen(seriesColor(f), 2));
        g->setScatterStyle(QCPScatterStyle(QCPScatterStyle::ssCircle, seriesColor(f), 7));
        for (int r = 0; r < t.rows.size(); ++r)
            g->addData(t.number(r, QStringLiteral("blocks")), 100 * t.number(r, QStringLiteral("accuracy")));
    }
}

void ExperimentsView::showShift()
{
    m_note->setText(tr("Accuracy of zero-shot CLIP and of a linear probe trained on the unshifted training "
                       "features, on shifted copies of the test images. The CLIP paper finds zero-shot models "
                       "lose less under shift than supervised ones; a CLIP trained only on Fashion-MNIST captions "
                       "has no broader data to draw on. Made with vitscope-cli eval shift."));
    m_plot->xAxis->setLabel(QString());
    m_plot->yAxis->setLabel(tr("top-1 accuracy (%)"));
    const CsvTable t = readCsv(QDir(m_dir).filePath(QStringLiteral("clip-shift.csv")));
    if (!t.error.isEmpty()) {
        m_note->setText(t.error);
        return;
    }
    auto ticker = QSharedPointer<QCPAxisTickerText>::create();
    for (int r = 0; r < t.rows.size(); ++r)
        ticker->addTick(r + 1, t.text(r, QStringLiteral("shift")));
    m_plot->xAxis->setTicker(ticker);
    const QString columns[2] = {QStringLiteral("zero_shot"), QStringLiteral("linear_probe")};
    const QString names[2] = {tr("zero-shot CLIP"), tr("linear probe (unshifted training)")};
    for (int s = 0; s < 2; ++s) {
        auto *bars = new QCPBars(m_plot->xAxis, m_plot->yAxis);
        bars->setName(names[s]);
        bars->setWidth(0.38);
        bars->setPen(QPen(seriesColor(s)));
        bars->setBrush(seriesColor(s));
        for (int r = 0; r < t.rows.size(); ++r)
            bars->addData(r + 1 - 0.2 + 0.4 * s, 100 * t.number(r, columns[s]));
    }
}

} // namespace vitscope::gui

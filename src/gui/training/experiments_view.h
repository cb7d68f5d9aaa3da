#pragma once
// The paper experiments re-run at small scale (docs/experiments/*.csv, written by
// `vitscope-cli sweep` and `eval fewshot`), drawn like the papers' figures: accuracy
// against masking ratio (MAE Figure 5), the mask-sampling table (MAE Table 1f), and
// k-shot linear probes against zero-shot (CLIP Figure 6).

#include <QMap>
#include <QStringList>
#include <QVector>
#include <QWidget>

class QComboBox;
class QLabel;
class QTableWidget;

namespace vitscope::gui {

class PlotWidget;

// A CSV table: header and rows of cells (no quoting: the sweeps write none).
struct CsvTable {
    QStringList header;
    QVector<QStringList> rows;
    QString error;
    int column(const QString &name) const { return int(header.indexOf(name)); }
    double number(int row, const QString &name) const;
    QString text(int row, const QString &name) const;
};
CsvTable readCsv(const QString &path);

class ExperimentsView : public QWidget {
    Q_OBJECT
public:
    explicit ExperimentsView(QWidget *parent = nullptr);
    void setDir(const QString &dir);
    void showPlot(int index); // 0: ratio, 1: strategy, 2: k-shot, 3: partial fine-tuning, 4: shift
    int plotCount() const;
    PlotWidget *plot() const { return m_plot; }
    QString dir() const { return m_dir; }

private:
    void showRatio();
    void showStrategy();
    void showKShot();
    void showPartialFinetune();
    void showShift();

    QString m_dir;
    QComboBox *m_choice = nullptr;
    QLabel *m_note = nullptr;
    PlotWidget *m_plot = nullptr;
    QTableWidget *m_table = nullptr;
};

} // namespace vitscope::gui

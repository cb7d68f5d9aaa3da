#pragma once
// The application's main window: one tab per view, the compute device in the status bar.
// Lives on the GUI thread; views do their model work through src/engine on workers.

#include <QMainWindow>
#include <QString>

#include <memory>

namespace Ui {
class MainWindow;
}

namespace vitscope::gui {

class SampleGridView;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    // `dataDir`: the Fashion-MNIST folder; empty means the engine's default.
    explicit MainWindow(const QString &dataDir = QString(), QWidget *parent = nullptr);
    ~MainWindow() override;

    SampleGridView *sampleGridView() const { return m_samples; }

private:
    void openDataFolder();
    void showAbout();

    std::unique_ptr<Ui::MainWindow> m_ui;
    SampleGridView *m_samples = nullptr;
    QString m_deviceText;
    QString m_torchText;
};

} // namespace vitscope::gui

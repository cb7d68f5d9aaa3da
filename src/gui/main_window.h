#pragma once
// The application's main window: one tab per view (MAE explorer, Zero-shot, Training,
// Models, Dataset, Inside), menus with the main actions and their shortcuts, the compute device
// in the status bar, presentation mode, export, and the window layout and last choices
// kept in QSettings. Lives on the GUI thread; views do model work on workers.

#include <QMainWindow>
#include <QString>
#include <QStringList>

#include <functional>
#include <memory>

namespace Ui {
class MainWindow;
}
class QLabel;

namespace vitscope::gui {

class InsideView;
class LessonPlayer;
class MaeExplorerView;
class ModelRegistry;
class ModelsView;
class SampleGridView;
class TrainingView;
class ZeroShotView;

class MainWindow : public QMainWindow {
    Q_OBJECT

public:
    struct Options {
        QString dataDir;          // Fashion-MNIST folder; empty: the engine's default
        bool loadBundled = true;  // load the bundled models at start
        bool restoreSettings = true;
    };
    explicit MainWindow(const Options &options, QWidget *parent = nullptr);
    explicit MainWindow(const QString &dataDir = QString(), QWidget *parent = nullptr);
    ~MainWindow() override;

    ModelRegistry *models() const { return m_models; }
    MaeExplorerView *maeExplorer() const { return m_mae; }
    ZeroShotView *zeroShot() const { return m_zeroShot; }
    TrainingView *training() const { return m_training; }
    ModelsView *modelsView() const { return m_modelsView; }
    SampleGridView *sampleGridView() const { return m_samples; }
    InsideView *insideView() const { return m_inside; }
    LessonPlayer *lessons() const { return m_lessons; }

    // Images, image folders, models (folders, checkpoint files, bundled names, Hub ids), run
    // folders and lessons (.json), as given on the command line or dropped on the window.
    void openPaths(const QStringList &paths);
    // "mae", "zeroshot", "training", "models", "dataset", "inside"; false for an unknown name.
    // Wins over the view that openPaths() picks, including once a model it opened has loaded.
    bool showView(const QString &name);
    static QStringList viewNames();
    void setPresentationMode(bool on);
    bool presentationMode() const { return m_presentation; }
    // True while any view or model load has work in flight.
    bool isBusy() const;
    // Saves one PNG per view (and a few variants) into `dir`, then calls done(ok).
    void saveScreenshots(const QString &dir, std::function<void(bool, QString)> done);

protected:
    void closeEvent(QCloseEvent *event) override;
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    void openDataFolder();
    void setUpLessons();
    void connectActions();
    void exportView();
    void paste();
    void showAbout();
    void showWhat();
    void updateDeviceLabel();
    void saveSettings() const;

    std::unique_ptr<Ui::MainWindow> m_ui;
    ModelRegistry *m_models = nullptr;
    MaeExplorerView *m_mae = nullptr;
    ZeroShotView *m_zeroShot = nullptr;
    TrainingView *m_training = nullptr;
    ModelsView *m_modelsView = nullptr;
    SampleGridView *m_samples = nullptr;
    InsideView *m_inside = nullptr;
    LessonPlayer *m_lessons = nullptr;
    QLabel *m_device = nullptr;
    QString m_torchText;
    QFont m_baseFont;
    bool m_presentation = false;
    bool m_showModelsView = false; // a model was opened: show its view once it is current
    QWidget *m_pathsView = nullptr; // the view openPaths() showed last
};

} // namespace vitscope::gui

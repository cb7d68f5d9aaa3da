#pragma once
// *Get model*: a model from the Hugging Face Hub. Pick one of the short list or type any
// org/name[@revision]; the files it needs and their sizes are shown before anything is
// downloaded; the download runs on a worker thread with a progress bar (rate, ETA) and can
// be cancelled (the partial file resumes next time). Non-modal: the app stays usable.
// When the files are in the cache, modelReady(folder) is emitted.

#include <QDialog>

#include <atomic>
#include <memory>

class QComboBox;
class QLabel;
class QProgressBar;
class QPushButton;
class QTimer;

namespace vitscope::gui {

class GetModelDialog : public QDialog {
    Q_OBJECT
public:
    explicit GetModelDialog(QWidget *parent = nullptr);
    ~GetModelDialog() override;

    void setModelId(const QString &id);
    QString modelId() const;
    QString infoText() const;
    bool isDownloading() const { return m_downloading; }
    void startDownload();
    void cancel();

Q_SIGNALS:
    void modelReady(const QString &folder);

private:
    void askInfo();
    void progress(const QString &file, qint64 allDone, qint64 allTotal, double rate, double eta);
    void finished(const QString &folder, const QString &error);

    QComboBox *m_id = nullptr;
    QLabel *m_info = nullptr;
    QProgressBar *m_bar = nullptr;
    QLabel *m_rate = nullptr;
    QPushButton *m_download = nullptr;
    QPushButton *m_cancel = nullptr;
    QTimer *m_debounce = nullptr;
    int m_infoRequest = 0;
    bool m_downloading = false;
    std::shared_ptr<std::atomic<bool>> m_cancelFlag;
};

} // namespace vitscope::gui

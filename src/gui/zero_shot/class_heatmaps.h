#pragma once
// "Where is each class?" for the zero-shot view: for the selected image, one small heat
// map per most probable class: the cosine similarity between each patch token (through
// CLIP's final LayerNorm and projection, the path only the class token was trained on)
// and the class's text embedding. Computed on a worker; a newer request supersedes an
// older one.

#include <QFutureWatcher>
#include <QWidget>

#include <functional>
#include <memory>
#include <vector>

#include "src/engine/sessions.h"
#include "src/gui/common/newest_request_wins.h"

class QLabel;

namespace vitscope::gui {

class PatchImageWidget;

class ClassHeatmaps : public QWidget {
    Q_OBJECT
public:
    explicit ClassHeatmaps(QWidget *parent = nullptr);
    ~ClassHeatmaps() override;

    // classes: the names shown (at most kMaps) with their embeddings.
    void request(std::shared_ptr<engine::ClipSession> session, const engine::RgbImage &image,
                 const QStringList &classes, const std::vector<std::vector<float>> &embeddings);
    void clear();
    bool isBusy() const { return m_job->isBusy(); }
    // The maps shown, for tests: classes x patches.
    const std::vector<std::vector<float>> &maps() const { return m_maps; }
    const QStringList &classes() const { return m_classes; }
    static constexpr int kMaps = 3;

Q_SIGNALS:
    void updated();

private:
    struct Job {
        std::vector<std::vector<float>> maps;
        engine::RgbImage input;
        QString error;
    };
    std::function<Job()> prepareJob();
    void show(const Job &job);

    std::vector<PatchImageWidget *> m_panels;
    QLabel *m_note = nullptr;
    QString m_noteText;
    std::unique_ptr<NewestRequestWins<Job>> m_job;
    std::shared_ptr<engine::ClipSession> m_session;
    engine::RgbImage m_image;
    QStringList m_classes;
    std::vector<std::vector<float>> m_embeddings;
    std::vector<std::vector<float>> m_maps;
};

} // namespace vitscope::gui

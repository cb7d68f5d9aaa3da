#include "src/gui/zero_shot/class_heatmaps.h"

#include <QHBoxLayout>
#include <QLabel>
#include <QVBoxLayout>
#include <QtConcurrent/QtConcurrentRun>

#include <cmath>

#include "src/gui/common/image_io.h"
#include "src/gui/common/patch_image_widget.h"

namespace vitscope::gui {

ClassHeatmaps::ClassHeatmaps(QWidget *parent) : QWidget(parent)
{
    auto *col = new QVBoxLayout(this);
    col->setContentsMargins(0, 0, 0, 0);
    auto *row = new QHBoxLayout();
    for (int i = 0; i < kMaps; ++i) {
        auto *p = new PatchImageWidget(QString(), this);
        p->setShowGrid(false);
        p->setMinimumSize(110, 130);
        row->addWidget(p);
        m_panels.push_back(p);
    }
    col->addLayout(row, 1);
    m_note = new QLabel(this);
    m_note->setWordWrap(true);
    col->addWidget(m_note);
    setToolTip(tr("Where is each class? Cosine similarity between each patch token (through CLIP's final LayerNorm and "
                  "projection) and the class's text embedding. CLIP trained only the class token against text: patch "
                  "maps are noisy and sometimes highlight the background (Zhou et al. 2022, MaskCLIP; Li et al. 2023)."));
    m_noteText = tr("Where is each class? Patch-text cosine for the top classes, each map scaled from its lowest to "
                    "its highest patch (hover a map for its range).");
    m_job = std::make_unique<NewestRequestWins<Job>>(
        this, [this] { return prepareJob(); }, [this](const Job &job) { show(job); });
    clear();
}

ClassHeatmaps::~ClassHeatmaps() = default; // m_job waits for a running job

void ClassHeatmaps::clear()
{
    m_job->invalidate();
    m_maps.clear();
    for (auto *p : m_panels) {
        p->setTitle(QString());
        p->setImage(QImage(), 0);
    }
    m_session.reset();
    m_classes.clear();
    m_embeddings.clear();
    m_image = {};
    m_note->setText(tr("Where is each class? (select an image)"));
}

void ClassHeatmaps::request(std::shared_ptr<engine::ClipSession> session, const engine::RgbImage &image,
                            const QStringList &classes, const std::vector<std::vector<float>> &embeddings)
{
    const QStringList top = classes.mid(0, kMaps);
    std::vector<std::vector<float>> firstEmbeddings(
        embeddings.begin(), embeddings.begin() + std::min<std::ptrdiff_t>(kMaps, std::ptrdiff_t(embeddings.size())));
    // The same image, model and classes as shown (a folder's next batch arriving, say):
    // nothing to do.
    if (session == m_session && top == m_classes && firstEmbeddings == m_embeddings && image.rgb == m_image.rgb &&
        image.width == m_image.width)
        return;
    m_session = std::move(session);
    m_image = image;
    m_classes = top;
    m_embeddings = std::move(firstEmbeddings);
    m_job->request();
}

std::function<ClassHeatmaps::Job()> ClassHeatmaps::prepareJob()
{
    if (!m_session || m_image.width == 0 || m_embeddings.empty())
        return {};
    auto session = m_session;
    const auto image = m_image;
    const auto embeddings = m_embeddings;
    return [session, image, embeddings]() {
        Job job;
        try {
            auto sim = session->patchSimilarity(image, embeddings);
            job.maps = std::move(sim.maps);
            job.input = std::move(sim.input); // the image as the model saw it (size, crop)
        } catch (const std::exception &e) {
            job.error = QString::fromUtf8(e.what());
        }
        return job;
    };
}

void ClassHeatmaps::show(const Job &job)
{
    if (!job.error.isEmpty()) {
        m_note->setText(job.error);
    } else {
        m_maps = job.maps;
        const QImage input = toQImage(job.input);
        for (int i = 0; i < kMaps; ++i) {
            auto *p = m_panels[std::size_t(i)];
            if (i >= int(m_maps.size())) {
                p->setTitle(QString());
                p->setImage(QImage(), 0);
                continue;
            }
            const int grid = int(std::lround(std::sqrt(double(m_maps[std::size_t(i)].size()))));
            float lo = 1, hi = -1;
            for (float v : m_maps[std::size_t(i)])
                lo = std::min(lo, v), hi = std::max(hi, v);
            p->setTitle(m_classes.value(i));
            p->setToolTip(tr("%1: patch-text cosine from %2 (dark) to %3 (bright)")
                              .arg(m_classes.value(i))
                              .arg(lo, 0, 'f', 2)
                              .arg(hi, 0, 'f', 2));
            p->setImage(input, grid);
            p->setOverlay(m_maps[std::size_t(i)], -1, 0.55);
        }
        if (m_note->text() != m_noteText)
            m_note->setText(m_noteText); // a wrapped label re-lays the view out: only when it changes
        Q_EMIT updated();
    }
}

} // namespace vitscope::gui

#include "src/gui/lessons/lesson_player.h"

#include <QAction>
#include <QDir>
#include <QFileInfo>
#include <QLabel>
#include <QMainWindow>
#include <QMenu>
#include <QMessageBox>
#include <QStatusBar>

#include "src/engine/sessions.h"
#include "src/gui/common/file_dialogs.h"
#include "src/gui/common/model_registry.h"
#include "src/gui/inside/inside_view.h"
#include "src/gui/mae_explorer/mae_explorer_view.h"
#include "src/gui/zero_shot/zero_shot_view.h"

namespace vitscope::gui {

namespace {

const QStringList kInsideModes = {QStringLiteral("class-token"), QStringLiteral("rollout"), QStringLiteral("patch")};

} // namespace

LessonPlayer::LessonPlayer(LessonTargets targets) : QObject(targets.window), m_t(std::move(targets)) {}

void LessonPlayer::open(const QString &path)
{
    Lesson lesson = readLesson(path);
    m_lesson = std::move(lesson);
    m_path = QFileInfo(path).absoluteFilePath();
    m_index = -1;
    show(0);
}

QString LessonPlayer::resolve(const QString &p) const
{
    if (p.isEmpty() || QDir::isAbsolutePath(p) || m_path.isEmpty())
        return p;
    return QDir::cleanPath(QFileInfo(m_path).dir().filePath(p));
}

QString LessonPlayer::relative(const QString &path) const
{
    if (path.isEmpty() || m_path.isEmpty())
        return path;
    return QFileInfo(m_path).dir().relativeFilePath(path);
}

void LessonPlayer::addProblem(const QString &text)
{
    m_problem += (m_problem.isEmpty() ? QString() : QStringLiteral("; ")) + text;
}

void LessonPlayer::next()
{
    if (m_index + 1 < count())
        show(m_index + 1);
}

void LessonPlayer::previous()
{
    if (m_index > 0)
        show(m_index - 1);
}

void LessonPlayer::show(int index)
{
    if (index < 0 || index >= count())
        return;
    m_index = index;
    m_problem.clear();
    const quint64 generation = ++m_generation;
    disconnect(m_onCurrent);
    disconnect(m_onFailed);
    m_waiting = false;
    const Slide s = m_lesson.slides[std::size_t(index)];
    if (!s.view.isEmpty() && !m_t.showView(s.view))
        addProblem(tr("unknown view \"%1\" (%2)").arg(s.view, m_t.viewNames.join(QStringLiteral(", "))));
    if (s.model.isEmpty()) {
        applySettings(s);
        return;
    }
    // A path is relative to the lesson file; a bundled name or Hub id is not a path.
    QString spec = s.model;
    if (const QString local = resolve(s.model); local != s.model && QFileInfo::exists(local))
        spec = local;
    ModelRegistry *models = m_t.models;
    if (models->find(spec)) {
        models->load(spec, true); // current at once
        applySettings(s);
        return;
    }
    // Load first: the views' defaults follow a new model, the slide's settings go on top.
    m_waiting = true;
    m_onCurrent = connect(models, &ModelRegistry::currentChanged, this,
                          [this, s, spec, generation, models](const QString &, const QString &id) {
                              const ModelEntry *m = models->find(spec);
                              if (generation != m_generation || !m || m->id != id)
                                  return;
                              disconnect(m_onCurrent);
                              disconnect(m_onFailed);
                              m_waiting = false;
                              applySettings(s);
                          });
    m_onFailed = connect(models, &ModelRegistry::failed, this,
                         [this, s, spec, generation](const QString &dirOrName, const QString &message) {
                             if (generation != m_generation || dirOrName != spec)
                                 return;
                             disconnect(m_onCurrent);
                             disconnect(m_onFailed);
                             m_waiting = false;
                             addProblem(tr("model %1: %2").arg(s.model, message));
                             applySettings(s);
                         });
    models->load(spec, true);
}

void LessonPlayer::applySettings(const Slide &s)
{
    auto *mae = m_t.mae;
    if (s.strategy)
        mae->setStrategy(*s.strategy);
    if (s.ratioPercent)
        mae->setRatioPercent(*s.ratioPercent);
    if (s.seed)
        mae->setSeed(*s.seed);
    if (s.compare)
        mae->setCompare(*s.compare);
    auto *zs = m_t.zeroShot;
    if (s.classes)
        zs->setClassText(s.classes->join(QLatin1Char('\n')));
    if (s.templateSet)
        zs->selectTemplateSet(*s.templateSet);
    if (s.templates)
        zs->setTemplates(*s.templates);
    if (s.ensemble)
        zs->setEnsemble(*s.ensemble);
    auto *inside = m_t.inside;
    if (s.insideMode)
        inside->setMode(InsideView::Mode(kInsideModes.indexOf(*s.insideMode)));
    if (s.layer)
        inside->setLayer(*s.layer);
    if (s.head)
        inside->setHead(*s.head);
    if (!s.image.isEmpty()) {
        const QString path = resolve(s.image);
        if (!QFileInfo::exists(path)) {
            addProblem(tr("image %1: no such file (looked for %2)").arg(s.image, QDir::toNativeSeparators(path)));
        } else if (s.view == QLatin1String("zeroshot")) {
            zs->clearImages();
            zs->addFiles({path});
        } else if (s.view == QLatin1String("inside")) {
            inside->openImageFile(path);
        } else {
            mae->openImageFile(path);
        }
    }
    Q_EMIT slideShown(m_index, m_problem);
}

Slide LessonPlayer::capture() const
{
    Slide s;
    s.view = m_t.currentView();
    auto keepModel = [&](const QString &id) {
        const auto bundled = engine::bundledModels();
        const bool isBundled = std::find(bundled.begin(), bundled.end(), id.toStdString()) != bundled.end();
        s.model = isBundled || !QFileInfo::exists(id) ? id : relative(id);
    };
    if (s.view == QLatin1String("mae")) {
        const auto *mae = m_t.mae;
        keepModel(mae->currentModel());
        s.image = relative(mae->imagePath());
        if (mae->currentStrategy() != QLatin1String("custom"))
            s.strategy = mae->currentStrategy();
        s.ratioPercent = mae->ratioPercent();
        s.seed = mae->seed();
        s.compare = mae->compare();
    } else if (s.view == QLatin1String("zeroshot")) {
        const auto *zs = m_t.zeroShot;
        keepModel(zs->currentModel());
        s.classes = QStringList();
        for (const auto &c : engine::parseClassNames(zs->classText().toStdString()))
            s.classes->append(QString::fromStdString(c));
        if (zs->templateSetName() == QObject::tr("Custom"))
            s.templates = zs->templates();
        else
            s.templateSet = zs->templateSetName();
        s.ensemble = zs->ensemble();
    } else if (s.view == QLatin1String("inside")) {
        const auto *inside = m_t.inside;
        keepModel(inside->currentModel());
        s.insideMode = kInsideModes.value(int(inside->mode()));
        s.layer = inside->layer();
        s.head = inside->head();
    }
    return s;
}

void LessonPlayer::addSlide(const Slide &slide)
{
    m_lesson.slides.push_back(slide);
    m_index = count() - 1;
}

void LessonPlayer::save(const QString &path)
{
    // Paths in the slides are relative to the file they are saved in.
    for (auto &s : m_lesson.slides) {
        for (QString *p : {&s.image, &s.model}) {
            const QString absolute = resolve(*p);
            if (!p->isEmpty() && QFileInfo::exists(absolute))
                *p = QFileInfo(path).absoluteDir().relativeFilePath(absolute);
        }
    }
    writeLesson(m_lesson, path);
    m_path = QFileInfo(path).absoluteFilePath();
}

QMenu *LessonPlayer::createMenu()
{
    auto *menu = new QMenu(tr("&Lesson"), m_t.window);
    auto add = [&](const QString &text, const QKeySequence &key, auto slot) {
        QAction *a = menu->addAction(text);
        a->setShortcut(key);
        m_t.window->addAction(a);
        connect(a, &QAction::triggered, this, slot);
        return a;
    };
    add(tr("&Open lesson…"), QKeySequence(QStringLiteral("Ctrl+L")), &LessonPlayer::openDialog);
    menu->addSeparator();
    add(tr("&Next slide"), QKeySequence(Qt::Key_PageDown), &LessonPlayer::next);
    add(tr("&Previous slide"), QKeySequence(Qt::Key_PageUp), &LessonPlayer::previous);
    menu->addSeparator();
    add(tr("&Add this view as a slide"), QKeySequence(QStringLiteral("Ctrl+Shift+L")), [this]() {
        addSlide(capture());
        Q_EMIT slideShown(m_index, QString());
    });
    add(tr("&Save lesson as…"), QKeySequence(), &LessonPlayer::saveDialog);
    m_slideLabel = new QLabel(m_t.window);
    m_slideLabel->setObjectName(QStringLiteral("slideLabel"));
    m_slideLabel->hide();
    m_t.window->statusBar()->addPermanentWidget(m_slideLabel); // status messages do not hide it
    connect(this, &LessonPlayer::slideShown, this, [this](int index, const QString &problem) {
        const Slide &s = m_lesson.slides[std::size_t(index)];
        QString text = tr("Slide %1 / %2").arg(index + 1).arg(count());
        if (!s.title.isEmpty())
            text += QStringLiteral(": ") + s.title.toHtmlEscaped();
        if (!problem.isEmpty())
            text += QStringLiteral(" · <span style=\"color:#c0392b\">%1</span>").arg(problem.toHtmlEscaped());
        m_slideLabel->setText(text);
        m_slideLabel->setToolTip(s.notes);
        m_slideLabel->show();
    });
    return menu;
}

void LessonPlayer::openDialog()
{
    const QString path = askOpenFile(m_t.window, tr("Open a lesson"), QStringLiteral("lessons/lastDir"),
                                     tr("Lessons (*.json);;All files (*)"));
    if (path.isEmpty())
        return;
    try {
        open(path);
    } catch (const LessonError &e) {
        QMessageBox::warning(m_t.window, tr("Lesson"), QString::fromStdString(e.what()));
    }
}

void LessonPlayer::saveDialog()
{
    if (!isOpen()) {
        QMessageBox::information(m_t.window, tr("Lesson"),
                                 tr("No slides yet: set a view up, then Lesson > Add this view as a slide."));
        return;
    }
    const QString path = askSaveFile(m_t.window, tr("Save the lesson"), QStringLiteral("lessons/lastDir"),
                                     tr("Lessons (*.json)"), QStringLiteral("lesson.json"));
    if (path.isEmpty())
        return;
    try {
        save(path);
    } catch (const LessonError &e) {
        QMessageBox::warning(m_t.window, tr("Lesson"), QString::fromStdString(e.what()));
    }
}

} // namespace vitscope::gui

#pragma once
// Plays a lesson in the main window: shows a slide (its view, then its model, made current
// and loaded first if need be, then the view's settings and its image), steps forward and
// back (Page Down, Page Up), captures the view on screen as a new slide, saves the lesson.
// What a slide cannot restore (a missing image or model) is named in problem() and the
// rest of the slide, and of the lesson, still plays.

#include <QObject>
#include <QString>

#include "src/gui/lessons/lesson.h"

#include <QStringList>

#include <functional>

class QLabel;
class QMainWindow;
class QMenu;

namespace vitscope::gui {

class InsideView;
class MaeExplorerView;
class ModelRegistry;
class ZeroShotView;

// What a lesson plays on: the window's views and how to bring one to the front.
struct LessonTargets {
    QMainWindow *window = nullptr;
    ModelRegistry *models = nullptr;
    MaeExplorerView *mae = nullptr;
    ZeroShotView *zeroShot = nullptr;
    InsideView *inside = nullptr;
    QStringList viewNames;                          // "mae", "zeroshot", ...
    std::function<bool(const QString &)> showView; // false for an unknown name
    std::function<QString()> currentView;           // the name of the view in front
};

class LessonPlayer : public QObject {
    Q_OBJECT
public:
    explicit LessonPlayer(LessonTargets targets);

    void open(const QString &path); // LessonError naming the file; shows the first slide
    const Lesson &lesson() const { return m_lesson; }
    QString path() const { return m_path; }
    bool isOpen() const { return !m_lesson.slides.empty(); }
    int current() const { return m_index; } // -1 before the first slide
    int count() const { return int(m_lesson.slides.size()); }
    void show(int index);
    void next();
    void previous();
    bool isSettling() const { return m_waiting; } // waiting for the slide's model to load
    QString problem() const { return m_problem; } // what the current slide could not restore

    // The Lesson menu: Open lesson (Ctrl+L), Next and Previous slide (Page Down, Page Up),
    // Add this view as a slide (Ctrl+Shift+L), Save lesson as; the slide and its problem
    // in the status bar.
    QMenu *createMenu();
    void openDialog();
    void saveDialog();

    Slide capture() const; // the view on screen as a slide
    void addSlide(const Slide &slide);
    void save(const QString &path); // LessonError naming the file

Q_SIGNALS:
    void slideShown(int index, const QString &problem);

private:
    void applySettings(const Slide &s);
    void addProblem(const QString &text);
    QString resolve(const QString &relative) const; // against the lesson file's folder
    QString relative(const QString &path) const;

    LessonTargets m_t;
    Lesson m_lesson;
    QString m_path;
    int m_index = -1;
    QString m_problem;
    bool m_waiting = false;
    quint64 m_generation = 0; // a newer slide wins over one still waiting for its model
    QMetaObject::Connection m_onCurrent, m_onFailed;
    QLabel *m_slideLabel = nullptr;
};

} // namespace vitscope::gui

#pragma once
// A lesson: a list of slides a teacher steps through in presentation mode. Each slide is
// a view's state: the view, the model (bundled name, path or Hub id), the image (a path
// relative to the lesson file), the MAE explorer's strategy, ratio, seed and compare
// switch, the Zero-shot view's classes, templates and ensembling, Inside's mode, layer
// and head. A field a slide leaves out keeps what is on screen. The file is JSON,
// versioned; docs/lessons.md describes it.

#include <QString>
#include <QStringList>

#include <optional>
#include <stdexcept>
#include <vector>

namespace vitscope::gui {

struct Slide {
    QString title;
    QString notes;
    QString view;  // MainWindow::viewNames(); empty: stay
    QString model; // a bundled name, a path (relative to the lesson file or absolute) or a Hub id
    QString image; // a file or folder, relative to the lesson file or absolute
    // MAE explorer
    std::optional<QString> strategy; // random, block, grid
    std::optional<int> ratioPercent;
    std::optional<int> seed;
    std::optional<bool> compare;
    // Zero-shot
    std::optional<QStringList> classes;
    std::optional<QString> templateSet; // a set's name; with `templates`, the templates themselves
    std::optional<QStringList> templates;
    std::optional<bool> ensemble;
    // Inside
    std::optional<QString> insideMode; // class-token, rollout, patch
    std::optional<int> layer;          // 0-based
    std::optional<int> head;           // -1: the mean of the heads
};

struct Lesson {
    static constexpr int kVersion = 1;
    QString title;
    std::vector<Slide> slides;
};

// What is wrong with a lesson file, naming the file (and the slide).
class LessonError : public std::runtime_error {
public:
    explicit LessonError(const QString &message) : std::runtime_error(message.toStdString()) {}
};

Lesson readLesson(const QString &path);
void writeLesson(const Lesson &lesson, const QString &path); // atomically (a temporary, then rename)

} // namespace vitscope::gui

#include "src/gui/lessons/lesson.h"

#include <QFile>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace vitscope::gui {

namespace {

const QString kFormat = QStringLiteral("vitscope-lesson");

QStringList strings(const QJsonValue &v, const QString &where)
{
    if (!v.isArray())
        throw LessonError(where + QStringLiteral(": expected a list of strings"));
    QStringList out;
    for (const auto &s : v.toArray()) {
        if (!s.isString())
            throw LessonError(where + QStringLiteral(": expected a list of strings"));
        out << s.toString();
    }
    return out;
}

// Reads the optional field `key` of `o` into `out` when present, checking its JSON type.
template <class T>
void field(const QJsonObject &o, const char *key, std::optional<T> &out, const QString &where)
{
    const QJsonValue v = o.value(QLatin1String(key));
    if (v.isUndefined() || v.isNull())
        return;
    const QString at = where + QStringLiteral(", \"") + QLatin1String(key) + QLatin1Char('"');
    if constexpr (std::is_same_v<T, QString>) {
        if (!v.isString())
            throw LessonError(at + QStringLiteral(": expected a string"));
        out = v.toString();
    } else if constexpr (std::is_same_v<T, bool>) {
        if (!v.isBool())
            throw LessonError(at + QStringLiteral(": expected true or false"));
        out = v.toBool();
    } else if constexpr (std::is_same_v<T, int>) {
        if (!v.isDouble() || v.toDouble() != double(v.toInt()))
            throw LessonError(at + QStringLiteral(": expected an integer"));
        out = v.toInt();
    } else {
        out = strings(v, at);
    }
}

QString text(const QJsonObject &o, const char *key, const QString &where)
{
    std::optional<QString> s;
    field(o, key, s, where);
    return s.value_or(QString());
}

Slide readSlide(const QJsonObject &o, const QString &where)
{
    Slide s;
    s.title = text(o, "title", where);
    s.notes = text(o, "notes", where);
    s.view = text(o, "view", where);
    s.model = text(o, "model", where);
    s.image = text(o, "image", where);
    const QJsonObject mae = o.value(QStringLiteral("mae")).toObject();
    field(mae, "strategy", s.strategy, where + QStringLiteral(", mae"));
    field(mae, "ratio", s.ratioPercent, where + QStringLiteral(", mae"));
    field(mae, "seed", s.seed, where + QStringLiteral(", mae"));
    field(mae, "compare", s.compare, where + QStringLiteral(", mae"));
    const QJsonObject zs = o.value(QStringLiteral("zeroshot")).toObject();
    field(zs, "classes", s.classes, where + QStringLiteral(", zeroshot"));
    field(zs, "template_set", s.templateSet, where + QStringLiteral(", zeroshot"));
    field(zs, "templates", s.templates, where + QStringLiteral(", zeroshot"));
    field(zs, "ensemble", s.ensemble, where + QStringLiteral(", zeroshot"));
    const QJsonObject inside = o.value(QStringLiteral("inside")).toObject();
    field(inside, "mode", s.insideMode, where + QStringLiteral(", inside"));
    field(inside, "layer", s.layer, where + QStringLiteral(", inside"));
    field(inside, "head", s.head, where + QStringLiteral(", inside"));
    if (s.strategy && !QStringList{QStringLiteral("random"), QStringLiteral("block"), QStringLiteral("grid")}.contains(*s.strategy))
        throw LessonError(where + QStringLiteral(", mae, \"strategy\": \"%1\" is not random, block or grid").arg(*s.strategy));
    if (s.ratioPercent && (*s.ratioPercent < 0 || *s.ratioPercent > 95))
        throw LessonError(where + QStringLiteral(", mae, \"ratio\": %1 is outside 0 to 95 (percent)").arg(*s.ratioPercent));
    if (s.insideMode &&
        !QStringList{QStringLiteral("class-token"), QStringLiteral("rollout"), QStringLiteral("patch")}.contains(*s.insideMode))
        throw LessonError(where + QStringLiteral(", inside, \"mode\": \"%1\" is not class-token, rollout or patch").arg(*s.insideMode));
    return s;
}

template <class T, class F>
void put(QJsonObject &o, const char *key, const std::optional<T> &v, F convert)
{
    if (v)
        o.insert(QLatin1String(key), convert(*v));
}

QJsonObject slideJson(const Slide &s)
{
    QJsonObject o;
    auto str = [](const QString &x) { return QJsonValue(x); };
    auto num = [](int x) { return QJsonValue(x); };
    auto flag = [](bool x) { return QJsonValue(x); };
    auto list = [](const QStringList &x) { return QJsonValue(QJsonArray::fromStringList(x)); };
    for (const auto &[key, value] : {std::pair{"title", s.title}, {"notes", s.notes}, {"view", s.view},
                                     {"model", s.model}, {"image", s.image}})
        if (!value.isEmpty())
            o.insert(QLatin1String(key), value);
    QJsonObject mae, zs, inside;
    put(mae, "strategy", s.strategy, str);
    put(mae, "ratio", s.ratioPercent, num);
    put(mae, "seed", s.seed, num);
    put(mae, "compare", s.compare, flag);
    put(zs, "classes", s.classes, list);
    put(zs, "template_set", s.templateSet, str);
    put(zs, "templates", s.templates, list);
    put(zs, "ensemble", s.ensemble, flag);
    put(inside, "mode", s.insideMode, str);
    put(inside, "layer", s.layer, num);
    put(inside, "head", s.head, num);
    for (const auto &[key, part] : {std::pair{"mae", mae}, {"zeroshot", zs}, {"inside", inside}})
        if (!part.isEmpty())
            o.insert(QLatin1String(key), part);
    return o;
}

} // namespace

Lesson readLesson(const QString &path)
{
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly))
        throw LessonError(path + QStringLiteral(": cannot read (%1)").arg(f.errorString()));
    QJsonParseError error;
    const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &error);
    if (error.error != QJsonParseError::NoError)
        throw LessonError(path + QStringLiteral(": not JSON (%1 at byte %2)").arg(error.errorString()).arg(error.offset));
    const QJsonObject root = doc.object();
    if (root.value(QStringLiteral("format")).toString() != kFormat)
        throw LessonError(path + QStringLiteral(": not a vitscope lesson (\"format\" is not \"%1\")").arg(kFormat));
    const int version = root.value(QStringLiteral("version")).toInt(-1);
    if (version < 1 || version > Lesson::kVersion)
        throw LessonError(path + QStringLiteral(": lesson version %1; this vitscope reads version 1 to %2")
                                     .arg(version)
                                     .arg(Lesson::kVersion));
    Lesson lesson;
    lesson.title = root.value(QStringLiteral("title")).toString();
    const QJsonValue slides = root.value(QStringLiteral("slides"));
    if (!slides.isArray() || slides.toArray().isEmpty())
        throw LessonError(path + QStringLiteral(": \"slides\" must be a non-empty list"));
    int n = 0;
    for (const auto &v : slides.toArray()) {
        const QString where = path + QStringLiteral(": slide %1").arg(++n);
        if (!v.isObject())
            throw LessonError(where + QStringLiteral(": expected an object"));
        lesson.slides.push_back(readSlide(v.toObject(), where));
    }
    return lesson;
}

void writeLesson(const Lesson &lesson, const QString &path)
{
    QJsonArray slides;
    for (const auto &s : lesson.slides)
        slides.append(slideJson(s));
    const QJsonObject root{{QStringLiteral("format"), kFormat},
                           {QStringLiteral("version"), Lesson::kVersion},
                           {QStringLiteral("title"), lesson.title},
                           {QStringLiteral("slides"), slides}};
    QSaveFile f(path);
    if (!f.open(QIODevice::WriteOnly) || f.write(QJsonDocument(root).toJson(QJsonDocument::Indented)) < 0 ||
        !f.commit())
        throw LessonError(path + QStringLiteral(": cannot write (%1)").arg(f.errorString()));
}

} // namespace vitscope::gui

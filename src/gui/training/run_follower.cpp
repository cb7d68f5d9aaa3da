#include "src/gui/training/run_follower.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>

namespace vitscope::gui {

RunFollower::RunFollower(const QString &dir, QObject *parent) : QObject(parent), m_dir(dir)
{
    m_label = QFileInfo(dir).fileName();
    if (m_label == QLatin1String("run")) // a bundled model's run: name it after the model
        m_label = QFileInfo(QFileInfo(dir).absolutePath()).fileName();
    QFile config(QDir(dir).filePath(QStringLiteral("config.json")));
    if (!config.open(QIODevice::ReadOnly)) {
        m_error = tr("%1: not a run folder (no readable config.json)").arg(QDir::toNativeSeparators(dir));
        return;
    }
    QJsonParseError perr;
    const QJsonDocument doc = QJsonDocument::fromJson(config.readAll(), &perr);
    if (doc.isNull()) {
        m_error = tr("%1: config.json is not valid JSON (%2)").arg(config.fileName(), perr.errorString());
        return;
    }
    m_kind = doc.object().value(QStringLiteral("kind")).toString();
    // A data-parallel run: rank 0 writes the same folder; say how many ranks made it.
    const int ranks = doc.object().value(QStringLiteral("distributed")).toObject().value(QStringLiteral("world_size")).toInt(1);
    if (ranks > 1)
        m_label += tr(" (%1 ranks)").arg(ranks);
    m_status = QStringLiteral("running");
    m_timer.setInterval(500);
    connect(&m_timer, &QTimer::timeout, this, &RunFollower::poll);
    m_timer.start();
    poll();
}

void RunFollower::reset()
{
    m_offset = 0;
    stepX.clear(), stepLoss.clear(), epochX.clear(), epochLoss.clear(), evalX.clear(), evalY.clear();
    m_status = QStringLiteral("running");
}

void RunFollower::poll()
{
    QFile f(QDir(m_dir).filePath(QStringLiteral("metrics.jsonl")));
    if (!f.exists())
        return;
    if (f.size() < m_offset)
        reset();
    if (f.size() == m_offset || !f.open(QIODevice::ReadOnly))
        return;
    f.seek(m_offset);
    const QByteArray chunk = f.read(64 * 1024 * 1024);
    const int lastNewline = chunk.lastIndexOf('\n');
    if (lastNewline < 0)
        return;
    for (const QByteArray &line : chunk.left(lastNewline).split('\n'))
        if (!line.trimmed().isEmpty())
            parseLine(line);
    m_offset += lastNewline + 1;
    Q_EMIT updated();
}

void RunFollower::parseLine(const QByteArray &line)
{
    const QJsonObject o = QJsonDocument::fromJson(line).object();
    const QString type = o.value(QStringLiteral("type")).toString();
    if (type == QLatin1String("step")) {
        stepX << o.value(QStringLiteral("step")).toDouble();
        stepLoss << o.value(QStringLiteral("loss")).toDouble();
    } else if (type == QLatin1String("epoch")) {
        const double e = o.value(QStringLiteral("epoch")).toDouble() + 1;
        epochX << e;
        epochLoss << o.value(QStringLiteral("loss")).toDouble();
        const QJsonObject eval = o.value(QStringLiteral("eval")).toObject();
        for (const auto &[key, name] : {std::pair{"knn_top1", "kNN top-1"}, std::pair{"zeroshot_top1", "zero-shot top-1"}})
            if (eval.contains(QLatin1String(key))) {
                evalX << e;
                evalY << 100.0 * eval.value(QLatin1String(key)).toDouble();
                evalName = tr(name);
            }
    } else if (type == QLatin1String("end")) {
        m_status = QStringLiteral("finished");
    } else if (type == QLatin1String("stopped")) {
        m_status = QStringLiteral("stopped");
    } else if (type == QLatin1String("error")) {
        m_status = QStringLiteral("error: ") + o.value(QStringLiteral("message")).toString();
    }
}

} // namespace vitscope::gui

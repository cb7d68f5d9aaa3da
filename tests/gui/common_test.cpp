// The shared GUI pieces every view uses (src/gui/common/): "newest request wins" on a
// worker, and image intake by drag and drop or the clipboard.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include <QApplication>
#include <QClipboard>
#include <QCoreApplication>
#include <QDragEnterEvent>
#include <QDropEvent>
#include <QElapsedTimer>
#include <QMimeData>
#include <QUrl>
#include <QWidget>

#include "common/temp_dir.h"
#include "src/gui/common/image_intake.h"
#include "src/gui/common/newest_request_wins.h"

using namespace vitscope::gui;

namespace {

// Spins the event loop until `done` or 10 s.
template <typename F>
bool waitFor(F done)
{
    QElapsedTimer t;
    t.start();
    while (!done() && t.elapsed() < 10000) {
        QCoreApplication::processEvents(QEventLoop::AllEvents, 10);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
}

// A job that waits for its gate before answering the request number it was started with.
struct Gated {
    std::shared_ptr<std::atomic<bool>> gate = std::make_shared<std::atomic<bool>>(false);
    int current = 0;                // the inputs a request reads
    std::vector<int> delivered;     // what the view was handed
    std::vector<int> prepared;      // the inputs each started job captured
    QObject context;
    NewestRequestWins<int> jobs{&context,
                                [this]() -> NewestRequestWins<int>::Task {
                                    const int value = current;
                                    prepared.push_back(value);
                                    auto g = gate;
                                    return [g, value] {
                                        while (!*g)
                                            std::this_thread::sleep_for(std::chrono::milliseconds(1));
                                        return value;
                                    };
                                },
                                [this](const int &v) { delivered.push_back(v); }};
};

} // namespace

TEST(NewestRequestWins, RequestsDuringAJobCollapseIntoTheNewest)
{
    Gated g;
    g.current = 1;
    g.jobs.request();
    for (int v = 2; v <= 5; ++v) { // a slider dragged while the model works
        g.current = v;
        g.jobs.request();
    }
    EXPECT_TRUE(g.jobs.isBusy());
    *g.gate = true;
    ASSERT_TRUE(waitFor([&] { return !g.jobs.isBusy(); }));
    // Two jobs ran: the first (stale when it ended: not shown) and one for the newest inputs.
    EXPECT_EQ(g.prepared, (std::vector<int>{1, 5}));
    EXPECT_EQ(g.delivered, (std::vector<int>{5}));
    EXPECT_EQ(g.jobs.started(), 2u);
}

TEST(NewestRequestWins, AQuietRequestIsDeliveredAndInvalidateDropsTheRunningOne)
{
    Gated g;
    *g.gate = true;
    g.current = 7;
    g.jobs.request();
    ASSERT_TRUE(waitFor([&] { return !g.jobs.isBusy(); }));
    EXPECT_EQ(g.delivered, (std::vector<int>{7}));

    *g.gate = false;
    g.current = 8;
    g.jobs.request();
    g.jobs.invalidate(); // the inputs were cleared while it ran
    *g.gate = true;
    ASSERT_TRUE(waitFor([&] { return !g.jobs.isBusy(); }));
    EXPECT_EQ(g.delivered, (std::vector<int>{7})) << "an invalidated job's result must not be shown";
}

TEST(NewestRequestWins, NothingToComputeStartsNothing)
{
    QObject context;
    int delivered = 0;
    NewestRequestWins<int> jobs(&context, [] { return NewestRequestWins<int>::Task(); }, [&](const int &) { ++delivered; });
    jobs.request();
    EXPECT_FALSE(jobs.isBusy());
    EXPECT_EQ(jobs.started(), 0u);
    EXPECT_EQ(delivered, 0);
}

namespace {

struct IntakeProbe {
    QWidget view;
    QStringList paths;
    QImage image;
    QString label;
    ImageIntake *intake;
    explicit IntakeProbe(ImageIntake::Prefer prefer)
        : intake(new ImageIntake(
              &view, [this](const QImage &i, const QString &l) { image = i, label = l; },
              [this](const QStringList &p) { paths = p; }, prefer))
    {
    }
    bool drop(QMimeData *mime)
    {
        QDragEnterEvent enter(QPoint(1, 1), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&view, &enter);
        if (!enter.isAccepted())
            return false;
        QDropEvent drop(QPointF(1, 1), Qt::CopyAction, mime, Qt::LeftButton, Qt::NoModifier);
        QApplication::sendEvent(&view, &drop);
        return true;
    }
};

QImage redSquare()
{
    QImage i(8, 8, QImage::Format_RGB888);
    i.fill(Qt::red);
    return i;
}

} // namespace

TEST(ImageIntake, DropsHandTheViewAnImageOrPathsAsItPrefers)
{
    vitscope::test::TempDir tmp;
    const QString file = QString::fromStdString(tmp.file("a.png"));
    redSquare().save(file);
    {
        IntakeProbe p(ImageIntake::Prefer::Files);
        QMimeData both;
        both.setImageData(redSquare());
        both.setUrls({QUrl::fromLocalFile(file)});
        ASSERT_TRUE(p.drop(&both));
        EXPECT_EQ(p.paths, QStringList{file});
        EXPECT_TRUE(p.image.isNull());
    }
    {
        IntakeProbe p(ImageIntake::Prefer::Image);
        QMimeData both;
        both.setImageData(redSquare());
        both.setUrls({QUrl::fromLocalFile(file)});
        ASSERT_TRUE(p.drop(&both));
        EXPECT_TRUE(p.paths.isEmpty());
        EXPECT_EQ(p.image.size(), QSize(8, 8));
        EXPECT_EQ(p.label, QStringLiteral("dropped image"));
    }
    {
        IntakeProbe p(ImageIntake::Prefer::Image);
        QMimeData text;
        text.setText(QStringLiteral("not an image"));
        EXPECT_FALSE(p.drop(&text)) << "a drag of plain text is not accepted";
        EXPECT_TRUE(p.paths.isEmpty() && p.image.isNull());
    }
}

TEST(ImageIntake, PasteTakesTheClipboardsImageElseSaysNothingWasThere)
{
    IntakeProbe p(ImageIntake::Prefer::Files);
    QApplication::clipboard()->setImage(redSquare());
    EXPECT_TRUE(p.intake->paste());
    EXPECT_EQ(p.image.size(), QSize(8, 8));
    EXPECT_EQ(p.label, QStringLiteral("pasted image"));
    QApplication::clipboard()->setText(QStringLiteral("words"));
    p.image = QImage();
    EXPECT_FALSE(p.intake->paste());
    EXPECT_TRUE(p.image.isNull());
}

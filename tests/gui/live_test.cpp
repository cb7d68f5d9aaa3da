// Live input: a video file the test writes itself (OpenCV's own MJPEG writer), never a
// camera. Frame i is a flat grey of level 3 i, so the frame shown tells which one it was.
// When the consumer is slower than the video, frames are skipped, not queued; the Zero-shot
// bars and the MAE explorer follow the frames; Pause freezes them.
#include <gtest/gtest.h>

#include <cmath>

#include <QFile>
#include <QSignalSpy>
#include <QTest>

#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

#include "common/temp_dir.h"
#include "gui/views_common.h"
#include "src/gui/common/live_source.h"
#include "src/gui/zero_shot/class_heatmaps.h"
#include "src/gui/mae_explorer/mae_explorer_view.h"
#include "src/gui/zero_shot/class_heatmaps.h"
#include "src/gui/zero_shot/zero_shot_view.h"

using vitscope::gui::LiveSource;
using vitscope::test::waitFor;

namespace {

QString writeVideo(const vitscope::test::TempDir &dir, int frames, double fps)
{
    const std::string path = dir.file("ramp.avi");
    cv::VideoWriter writer(path, cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps,
                           cv::Size(96, 96));
    EXPECT_TRUE(writer.isOpened()) << path;
    for (int i = 0; i < frames; ++i)
        writer.write(cv::Mat(96, 96, CV_8UC3, cv::Scalar(3 * i, 3 * i, 3 * i)));
    writer.release();
    return QString::fromStdString(path);
}

// The frame's index: its mean grey over 3 (JPEG keeps a flat frame within a level or two).
int frameIndex(const QImage &image)
{
    const QImage g = image.convertToFormat(QImage::Format_Grayscale8);
    double sum = 0;
    for (int y = 0; y < g.height(); ++y)
        for (int x = 0; x < g.width(); ++x)
            sum += qGray(g.pixel(x, y));
    return int(std::lround(sum / (g.width() * g.height()) / 3.0));
}

} // namespace

TEST(Live, WithoutACameraTheChoiceSaysSoAndABadFileIsNamed)
{
    if (!LiveSource::available())
        GTEST_SKIP() << "built without Qt Multimedia";
    LiveSource source;
    QSignalSpy failed(&source, &LiveSource::failed);
    if (LiveSource::cameras().isEmpty()) {
        EXPECT_FALSE(source.openCamera(0));
        ASSERT_EQ(failed.count(), 1);
        EXPECT_TRUE(failed[0][0].toString().contains(QStringLiteral("No camera"))) << failed[0][0].toString().toStdString();
    }
    source.openVideo(QStringLiteral("/nonexistent/lecture.mp4"));
    ASSERT_FALSE(failed.isEmpty());
    EXPECT_TRUE(failed.last()[0].toString().contains(QStringLiteral("lecture.mp4")));
    // Not a video at all: the player's error, naming the file.
    vitscope::test::TempDir dir;
    const QString junk = QString::fromStdString(dir.file("notes.avi"));
    QFile f(junk);
    ASSERT_TRUE(f.open(QIODevice::WriteOnly));
    f.write("not a video, just text");
    f.close();
    failed.clear();
    source.openVideo(junk);
    ASSERT_TRUE(waitFor([&] { return !failed.isEmpty(); }, 15000)) << "no error for a text file posing as a video";
    EXPECT_TRUE(failed.last()[0].toString().contains(QStringLiteral("notes.avi"))) << failed.last()[0].toString().toStdString();
}

TEST(Live, ASlowConsumerGetsTheNewestFrameAndNothingQueues)
{
    if (!LiveSource::available())
        GTEST_SKIP() << "built without Qt Multimedia";
    vitscope::test::TempDir dir;
    const QString video = writeVideo(dir, 80, 100.0); // 0.8 s, looped
    LiveSource source;
    QSignalSpy failed(&source, &LiveSource::failed);
    source.openVideo(video);
    ASSERT_TRUE(waitFor([&] { return source.hasNewFrame() || !failed.isEmpty(); }, 20000));
    ASSERT_TRUE(failed.isEmpty()) << failed[0][0].toString().toStdString();
    // Take one frame every 120 ms: about 12 frames arrive in between.
    std::vector<int> taken;
    for (int k = 0; k < 8; ++k) {
        QTest::qWait(120);
        const QImage frame = source.takeFrame();
        if (!frame.isNull())
            taken.push_back(frameIndex(frame));
    }
    ASSERT_GE(taken.size(), 5u);
    // About 12 frames arrive between two takes; a loaded machine may decode fewer, so the
    // bound asks for more than one skipped per take, not for the 11 of an idle machine.
    EXPECT_GT(source.framesDropped(), int(taken.size())) << "frames were skipped, not queued";
    EXPECT_EQ(source.framesArrived(), source.framesTaken() + source.framesDropped() + (source.hasNewFrame() ? 1 : 0));
    int jumps = 0;
    for (std::size_t i = 1; i < taken.size(); ++i) {
        const int step = (taken[i] - taken[i - 1] + 80) % 80; // the video loops
        jumps += step >= 2;
    }
    EXPECT_GE(jumps, int(taken.size()) / 2) << "the newest frame, not the next in line";
    // Pause: no frame arrives; resume: they do again.
    source.setPaused(true);
    (void)source.takeFrame();
    const int before = source.framesArrived();
    QTest::qWait(300);
    EXPECT_LE(source.framesArrived(), before + 1);
    source.setPaused(false);
    ASSERT_TRUE(waitFor([&] { return source.framesArrived() > before + 3; }, 10000));
    source.stop();
    EXPECT_FALSE(source.isActive());
}

TEST_F(Views, AVideoDrivesTheZeroShotBarsAndTheExplorer)
{
    if (!LiveSource::available())
        GTEST_SKIP() << "built without Qt Multimedia";
    vitscope::test::TempDir dir;
    const QString video = writeVideo(dir, 50, 25.0);
    auto *zs = window->zeroShot();
    ASSERT_TRUE(waitFor([&] { return !zs->isBusy() && zs->currentBars().size() == 10; }));
    zs->liveSource()->openVideo(video);
    ASSERT_TRUE(waitFor([&] { return zs->liveFramesShown() >= 5; }, 20000))
        << zs->liveFramesShown() << " " << zs->messageText().toStdString();
    EXPECT_EQ(zs->currentBars().size(), 10);
    float sum = 0;
    for (const auto &b : zs->currentBars())
        sum += b.second;
    EXPECT_NEAR(sum, 1.0f, 1e-3f);
    EXPECT_LE(zs->liveFramesShown(), zs->liveSource()->framesTaken()) << "each frame shown was taken once";
    EXPECT_GE(zs->liveFramesShown(), zs->liveSource()->framesTaken() - 1) << "at most one frame in flight";
    // While the video plays, no class heat maps: those of the selected list item would
    // stand beside another image's bars.
    EXPECT_TRUE(zs->classHeatmaps()->maps().empty());
    // Pause freezes the frame on screen, and the heat maps are drawn for it: the classes of
    // the frozen frame's top bars.
    zs->liveSource()->setPaused(true);
    QTest::qWait(200);
    const int frozen = zs->liveFramesShown();
    QTest::qWait(400);
    EXPECT_EQ(zs->liveFramesShown(), frozen);
    ASSERT_TRUE(waitFor([&] { return !zs->isBusy() && !zs->classHeatmaps()->maps().empty(); }, 20000));
    QStringList top;
    for (const auto &b : zs->currentBars())
        if (top.size() < ClassHeatmaps::kMaps)
            top << b.first;
    EXPECT_EQ(zs->classHeatmaps()->classes(), top);
    zs->liveSource()->setPaused(false);
    EXPECT_TRUE(zs->classHeatmaps()->maps().empty()) << "playing again: the maps go";
    zs->liveSource()->stop();

    auto *mae = window->maeExplorer();
    mae->liveSource()->openVideo(video);
    ASSERT_TRUE(waitFor([&] { return mae->liveSource()->framesTaken() >= 4 && mae->hasResult() && !mae->isBusy(); }, 20000))
        << mae->messageText().toStdString();
    EXPECT_EQ(mae->imageName().toStdString(), "ramp.avi");
    mae->liveSource()->stop();
    ASSERT_TRUE(waitFor([&] { return !window->isBusy(); }));
}

#include "src/app/script_helpers.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QThread>

#include <cstring>

#if VITSCOPE_BENCH_VIDEO
#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>
#endif

namespace vitscope::gui {

void spin(int ms)
{
    QElapsedTimer t;
    t.start();
    while (t.elapsed() < ms)
        QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
}

bool spinUntil(const std::function<bool()> &done, int timeoutMs)
{
    QElapsedTimer t;
    t.start();
    while (!done()) {
        if (t.elapsed() > timeoutMs)
            return false;
        QCoreApplication::processEvents(QEventLoop::AllEvents, 5);
        QThread::msleep(1);
    }
    return true;
}

bool writeVideo(const QString &path, int frames, double fps, const std::function<QImage(int)> &frame)
{
#if VITSCOPE_BENCH_VIDEO
    constexpr int side = 224;
    cv::VideoWriter writer(path.toStdString(), cv::CAP_OPENCV_MJPEG, cv::VideoWriter::fourcc('M', 'J', 'P', 'G'), fps,
                           cv::Size(side, side));
    if (!writer.isOpened())
        return false;
    for (int i = 0; i < frames; ++i) {
        const QImage rgb = frame(i)
                               .scaled(side, side, Qt::IgnoreAspectRatio, Qt::SmoothTransformation)
                               .convertToFormat(QImage::Format_BGR888);
        cv::Mat bgr(side, side, CV_8UC3);
        for (int y = 0; y < side; ++y)
            std::memcpy(bgr.ptr(y), rgb.constScanLine(y), std::size_t(side) * 3);
        writer.write(bgr);
    }
    writer.release();
    return true;
#else
    (void)path, (void)frames, (void)fps, (void)frame;
    return false;
#endif
}

engine::TrainRequest shortTrainingRequest(std::int64_t limit)
{
    engine::TrainRequest q;
    q.limit = limit;
    q.epochs = 1;
    q.batch = 64;
    q.logEvery = 1;
    q.evalLimit = 0;
    return q;
}

} // namespace vitscope::gui

#pragma once
// What the app's scripted runs (--bench-ui, --screenshots) share: waiting while the event
// loop runs, and writing a short video for the live-input views.

#include <QImage>
#include <QString>

#include <cstdint>
#include <functional>

#include "src/engine/training.h"

namespace vitscope::gui {

// Runs the event loop for `ms` milliseconds.
void spin(int ms);
// Runs the event loop until `done()` holds (true) or `timeoutMs` passed (false).
bool spinUntil(const std::function<bool()> &done, int timeoutMs);

// Writes `frames` frames of 224 x 224 colour video at `fps`, MJPEG in AVI (OpenCV's own
// writer; GStreamer's avidemux and jpegdec play it), frame i drawn by `frame(i)` (scaled to
// 224 x 224). False where the app was built without OpenCV's videoio or the file cannot
// be written.
bool writeVideo(const QString &path, int frames, double fps, const std::function<QImage(int)> &frame);

// A short MAE run on the first `limit` Fashion-MNIST images: one epoch, batch 64, a curve
// point per step, no evaluation; what the scripts start and stop in the Training view.
engine::TrainRequest shortTrainingRequest(std::int64_t limit);

} // namespace vitscope::gui

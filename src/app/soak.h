#pragma once
// `vitscope --soak MINUTES`: a scripted, offscreen session that does what a day of lectures
// does, over and over, and watches the process for leaks: each cycle switches the current
// models (the bundled ones and any named on the command line), redraws the MAE explorer
// under every masking strategy and Compare, types and deletes a class name in Zero-shot,
// drops a folder of images and clears it, plays a video into the Zero-shot bars, draws
// Inside's attention maps and the embedding map, and starts and stops a training run.
// After every cycle it samples resident memory, open file descriptors and threads. The
// JSON gives them at the start, after the first cycle (the warm-up), at the end and at
// their peak, and the growth after the warm-up; goal over 30 minutes: resident memory
// grows by 5% or less, descriptors and threads come back to their warm-up values, no
// error. Blocks while the event loop runs.

#include <QJsonObject>
#include <QString>

namespace vitscope::gui {

class MainWindow;

QJsonObject runSoak(MainWindow *window, double minutes, const QString &workDir);

} // namespace vitscope::gui

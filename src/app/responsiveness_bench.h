#pragma once
// A scripted session that measures how long the GUI thread ever stays away from its event
// loop: a 5 ms timer records the gap between its ticks while the script drags the MAE
// ratio slider through every strategy, types class names, drops a folder of images, plays
// a video into the Zero-shot view and trains for a few seconds. Models named on the command
// line are current, so `vitscope --bench-ui MAE CLIP` measures at their sizes. `vitscope --bench-ui` prints the result as JSON; the goal is
// no gap above 50 ms. Benchmarks, not tests: machines are noisy.

#include <QJsonObject>

namespace vitscope::gui {

class MainWindow;

// Blocks (spinning the event loop) until the script is done; `imageDir` receives the
// images it drops (created there).
QJsonObject runUiBenchmark(MainWindow *window, const QString &imageDir);

} // namespace vitscope::gui

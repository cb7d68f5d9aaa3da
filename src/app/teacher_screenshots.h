#pragma once
// The screenshots of the teacher's path that need more than a view (`--screenshots DIR`
// takes them after the views):
//   mae-live.png, zero-shot-live.png  the MAE explorer and the Zero-shot bars following a
//       video (Fashion-MNIST samples sliding past, written here with OpenCV), paused;
//   get-model.png  the Get model dialog listing what a model holds, from the Hub at
//       HF_ENDPOINT (`make screenshots` serves the bundled CLIP from the tests' loopback
//       Hub when it was built; VITSCOPE_SCREENSHOT_HUB_ID names the model to ask for).
// Blocks while the event loop runs. Returns the files it could not write, each with why.

#include <QString>
#include <QStringList>

namespace vitscope::gui {

class MainWindow;

QStringList saveTeacherScreenshots(MainWindow *window, const QString &dir);

} // namespace vitscope::gui

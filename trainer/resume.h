#pragma once
// Continuing a stopped or killed run from its run folder, whatever trained it: the run's
// config.json says its kind ("mae", "clip") and options, and the newest checkpoint says
// where it stopped. Errors: FileError naming config.json for an unknown kind.

#include <string>

#include "trainer/loop.h"

namespace vitscope::train {

// Continues the run in `runDir` (MAE or CLIP) from its newest checkpoint, at any number of
// ranks that divides the run's global batch.
TrainResult resumeRun(const std::string &runDir, const TrainCallbacks &callbacks = {}, Group *group = nullptr);

} // namespace vitscope::train

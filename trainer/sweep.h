#pragma once
// The MAE paper's ablations at small scale: short pretraining runs under one equal budget
// (same data, epochs, batch, seed), each followed by a linear probe and kNN on frozen
// class-token features. Results as JSON records and a CSV table (columns documented in
// sweepCsvHeader()).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/mae_trainer.h"

namespace vitscope::train {

struct SweepPoint {
    std::string name;     // e.g. "random-0.75"
    MaeTrainOptions options;
};

// "mask-strategy": random 75%, block 50%, block 75%, grid 75% (Table 1f).
// "mask-ratio": random masking at each of `ratios` (Figure 5).
// "mask-tokens": encoder on visible patches vs with mask tokens (Table 1c).
// "norm-pix": normalized-pixel targets on vs off (Table 1d).
std::vector<SweepPoint> sweepPoints(const std::string &kind, const MaeTrainOptions &base,
                                    const std::vector<double> &ratios = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9});

struct SweepOptions {
    int64_t probeLimit = 10000;   // images of each split for the probes (0: all)
    std::string outDir;           // runs go to outDir/NAME; results.json and results.csv beside them
};

std::string sweepCsvHeader();

// Runs (or, when a point's run folder already holds a finished run, reuses) every point.
nlohmann::json runSweep(const std::string &kind, const std::vector<SweepPoint> &points, const SweepOptions &options,
                        const std::function<void(const std::string &name, const TrainCallbacks &)> &announce = {},
                        const TrainCallbacks &callbacks = {});

} // namespace vitscope::train

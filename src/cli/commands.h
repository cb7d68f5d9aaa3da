#pragma once
// vitscope-cli's commands. Each prints JSON on stdout and returns the exit status;
// failures throw (vitscope::Error or UsageError), and main() turns them into one line
// on stderr.

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "models/model_origin.h"
#include "models/runtime/tuning.h"
#include "src/cli/args.h"

namespace vitscope::cli {

struct Command {
    std::vector<std::string> words; // e.g. {"data", "info"}
    std::string options;            // usage text after the words
    std::string summary;
    std::set<std::string> flags;    // options that take no value
    std::function<int(Args &)> run;
};

const std::vector<Command> &commands();

// Model files (model_commands.cpp).
// Where a model came from: format, config and preprocessing sources, inferred settings.
nlohmann::json originJson(const ModelOrigin &origin);
int convertCommand(Args &args);

// The Hub (hub_commands.cpp). resolveModelArg: every command's model argument, through the
// engine's resolver (bundled name, then an existing path, then a Hub id org/name[@rev],
// downloaded with progress on stderr when needed); FileError when it is none of these.
std::string resolveModelArg(const std::string &arg);
int pullCommand(Args &args);
int benchLoadCommand(Args &args);

// MAE commands (mae_commands.cpp).
int infoCommand(Args &args);
int reconstructCommand(Args &args);
int benchMaeTrainCommand(Args &args);
int benchMaeExploreCommand(Args &args);

// CLIP commands (clip_commands.cpp).
nlohmann::json clipInfo(const std::string &dir);
int tokenizeCommand(Args &args);
int embedCommand(Args &args);
int zeroshotCommand(Args &args);
int benchClipImageCommand(Args &args);
int benchClipTextCommand(Args &args);

// Progress of a long pass over images (feature extraction) on stderr: a bar redrawn in
// place on a terminal, a line per tenth otherwise; rate and time left.
std::function<void(int64_t done, int64_t total)> progressPrinter(const std::string &what);

// Looking inside the models (inspect_commands.cpp).
int attentionCommand(Args &args);
int embedMapCommand(Args &args);
int evalShiftCommand(Args &args);

// Training and evaluation (train_commands.cpp).
int trainMaeCommand(Args &args);
int trainClipCommand(Args &args);
int evalZeroShotCommand(Args &args);
int evalTextPrecisionCommand(Args &args);
int evalImagePrecisionCommand(Args &args);
int evalFinetuneCommand(Args &args);
int sweepCommand(Args &args);
int resumeCommand(Args &args);
int evalLinearProbeCommand(Args &args);
int evalKnnCommand(Args &args);
int evalFewShotCommand(Args &args);
int benchSgemmCommand(Args &args);
int benchAllReduceCommand(Args &args);

// The machine's limits (machine_bench.cpp): the best GEMM rate, memory bandwidth.
int benchMatmulCommand(Args &args);
int benchMemoryCommand(Args &args);

// The benchmarks' --attention auto|explicit|fused: sets the process-wide attention kernel
// and returns the one in use ("fused" or "explicit").
std::string benchAttentionOption(Args &args); // also takes --linear auto|torch|onednn
// The linear layers' kernel as chosen (resolving auto): "onednn (measured)", "torch (set)"...
std::string linearKernelSummary();

// The inference benchmarks' --threads auto|N (models/runtime/tuning.h). auto, the default:
// the workload chooses its count as it does in the app, and settle() runs it until it has
// chosen (or read the cache), so that the timed runs all use the choice. N: every run at N
// threads. fields(): the count used, how it was set, the medians behind a measured choice.
class BenchThreads {
public:
    explicit BenchThreads(Args &args);
    ~BenchThreads();
    void settle(const std::function<void()> &call) const;
    nlohmann::json fields() const;

private:
    std::unique_ptr<ThreadCountScope> m_fixed;
};

// "vitscope-cli 0.1.0" plus the LibTorch version and device, one per line.
std::string versionText();

} // namespace vitscope::cli

#pragma once
// vitscope-cli ... --nproc-per-node N: starts N ranks of the same command on this machine
// with torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR,
// MASTER_PORT), waits for them, and stops the others when one fails. No torch here: the
// launcher process only forks, execs and waits.

#include <string>
#include <vector>

namespace vitscope::cli {

// Takes `--nproc-per-node N` (or `=N`) out of `args`; 0 when absent. UsageError when the
// value is not a positive integer.
int takeNprocPerNode(std::vector<std::string> &args);

// Runs `commandWords` + `args` as `nproc` ranks of this executable and returns the exit
// status to report: 0 when every rank succeeded, otherwise the first failed rank's
// (128 + signal for a rank killed by a signal). A rank that fails gives the others
// `graceSeconds` to notice and report it themselves; then they are terminated.
int launchLocalRanks(const std::vector<std::string> &commandWords, std::vector<std::string> args, int nproc,
                     int graceSeconds = 15);

} // namespace vitscope::cli

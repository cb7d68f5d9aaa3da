#pragma once
// What every training and evaluation command of vitscope-cli shares, read in one place:
// the run control (trainer/run_control.h) from its options, the process group of a
// distributed launch, progress on stderr, the run's summary. UsageError for a bad value.

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "src/cli/args.h"
#include "trainer/distributed.h"
#include "trainer/loop.h"
#include "trainer/run_control.h"

namespace vitscope::cli {

// --name on|off (true/false, 1/0); `fallback` when absent.
bool onOff(Args &args, const std::string &name, bool fallback);

// --data, --limit, --epochs, --batch, --warmup-epochs, --seed, --device, --workers: what
// every command that trains takes (fine-tuning and sweeps included).
void readRunBasics(Args &args, train::RunControl &o);
// readRunBasics and the loop's cadence: --clip-grad, --log-every, --checkpoint-every,
// --keep, --eval-every, --test-limit, --amp (train mae, train clip).
void readRunControl(Args &args, train::RunControl &o);

// The process group of a distributed launch (torchrun, Slurm, --nproc-per-node), or one
// process. --dist-backend auto|gloo|nccl, --dist-timeout SECONDS (rendezvous and every
// collective: how long a dead or hung rank can keep the others waiting).
std::shared_ptr<train::Group> processGroup(Args &args, const std::string &device);

// Progress on stderr: a bar redrawn in place on a terminal, plain lines otherwise. Ranks
// other than 0 of a distributed run print nothing (but stop on Ctrl-C with the others).
train::TrainCallbacks progressCallbacks(int64_t logEvery, bool lead = true);

// "m:ss" or "h:mm:ss"; "?" for a negative or unknown time.
std::string clock(double seconds);

// runs/KIND-YYYYmmdd-HHMMSS
std::string defaultRunDir(const std::string &kind);
// The JSON a training command prints when it ends.
nlohmann::json summary(const train::TrainResult &r);

} // namespace vitscope::cli

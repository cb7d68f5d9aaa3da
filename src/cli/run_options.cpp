#include "src/cli/run_options.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <ctime>
#include <unistd.h>

#include "models/runtime/device.h"
#include "src/cli/commands.h"
#include "trainer/evaluation.h"

namespace vitscope::cli {

using nlohmann::json;

namespace {

std::atomic<bool> g_interrupted{false};

extern "C" void onInterrupt(int)
{
    g_interrupted = true;
}

} // namespace

std::string clock(double seconds)
{
    if (!std::isfinite(seconds) || seconds < 0)
        return "?";
    const long s = long(seconds + 0.5);
    char buf[32];
    if (s >= 3600)
        std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
    return buf;
}

std::shared_ptr<train::Group> processGroup(Args &args, const std::string &device)
{
    train::GroupOptions g;
    g.backend = args.value("dist-backend", g.backend);
    const double timeout = args.number("dist-timeout", 300);
    if (!(timeout > 0))
        throw UsageError("--dist-timeout must be a positive number of seconds");
    g.timeout = std::chrono::milliseconds(int64_t(timeout * 1000));
    g.device = parseDevice(device);
    return train::Group::fromEnvironment(g);
}

train::TrainCallbacks progressCallbacks(int64_t logEvery, bool lead)
{
    const bool tty = ::isatty(2);
    std::signal(SIGINT, onInterrupt);
    std::signal(SIGTERM, onInterrupt);
    train::TrainCallbacks cb;
    cb.shouldStop = [] { return g_interrupted.load(); };
    if (!lead)
        return cb;
    cb.onStep = [tty, logEvery](const train::StepInfo &s) {
        if (tty) {
            const int width = 30;
            const int filled = int(double(width) * double(s.step) / double(std::max<int64_t>(1, s.totalSteps)));
            std::fprintf(stderr, "\r[%s%s] %3d%% step %lld/%lld epoch %lld/%lld loss %.4f %.0f img/s ETA %s ",
                         std::string(std::size_t(filled), '#').c_str(), std::string(std::size_t(width - filled), '.').c_str(),
                         int(100.0 * double(s.step) / double(std::max<int64_t>(1, s.totalSteps))), (long long)s.step,
                         (long long)s.totalSteps, (long long)s.epoch + 1, (long long)s.epochs, s.loss, s.imagesPerSecond,
                         clock(s.etaSeconds).c_str());
        } else if (s.step % std::max<int64_t>(1, logEvery) == 0 || s.step == s.totalSteps) {
            std::fprintf(stderr, "step %lld/%lld epoch %lld loss %.5f lr %.3g %.1f img/s eta %s\n", (long long)s.step,
                         (long long)s.totalSteps, (long long)s.epoch + 1, s.loss, s.lr, s.imagesPerSecond,
                         clock(s.etaSeconds).c_str());
        }
    };
    cb.onEpoch = [tty](const train::EpochInfo &e) {
        std::fprintf(stderr, "%sepoch %lld done: mean loss %.5f%s\n", tty ? "\n" : "", (long long)e.epoch + 1, e.meanLoss,
                     e.eval.is_null() ? "" : (" " + e.eval.dump()).c_str());
    };
    return cb;
}

train::ProgressFn progressPrinter(const std::string &what)
{
    const bool tty = ::isatty(2);
    const auto start = std::chrono::steady_clock::now();
    auto lastTenth = std::make_shared<int64_t>(-1);
    return [=](int64_t done, int64_t total) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double rate = elapsed > 0 ? double(done) / elapsed : 0;
        const double eta = rate > 0 ? double(total - done) / rate : 0;
        const int percent = int(100.0 * double(done) / double(std::max<int64_t>(1, total)));
        if (tty) {
            const int width = 30, filled = percent * width / 100;
            std::fprintf(stderr, "\r%s: [%s%s] %3d%% %lld/%lld %.0f img/s ETA %s %s", what.c_str(),
                         std::string(std::size_t(filled), '#').c_str(), std::string(std::size_t(width - filled), '.').c_str(),
                         percent, (long long)done, (long long)total, rate, clock(eta).c_str(), done == total ? "\n" : "");
        } else if (percent / 10 > *lastTenth || done == total) {
            *lastTenth = percent / 10;
            std::fprintf(stderr, "%s: %lld/%lld (%d%%) %.0f img/s eta %s\n", what.c_str(), (long long)done, (long long)total,
                         percent, rate, clock(eta).c_str());
        }
    };
}

std::string defaultRunDir(const std::string &kind)
{
    char buf[64];
    const std::time_t now = std::time(nullptr);
    std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", std::localtime(&now));
    return "runs/" + kind + "-" + buf;
}

json summary(const train::TrainResult &r)
{
    json j{{"status", r.status == train::RunStatus::Finished ? "finished" : "stopped"},
           {"run", r.runDir},
           {"steps", r.steps},
           {"loss", r.lastLoss},
           {"train_seconds", r.seconds},
           {"images_per_s", r.imagesPerSecond}};
    if (!r.modelDir.empty())
        j["model"] = r.modelDir;
    if (!r.lastEval.is_null())
        j["eval"] = r.lastEval;
    if (r.resumed)
        j["resumed_from_step"] = r.resumedFromStep;
    if (r.worldSize > 1) {
        j["world_size"] = r.worldSize;
        j["allreduce_s_per_step"] = r.allReduceSecondsPerStep;
        j["allreduce_mb_per_step"] = r.allReduceMegabytesPerStep;
    }
    if (r.status == train::RunStatus::Stopped)
        j["resume_with"] = "vitscope-cli resume " + r.runDir;
    return j;
}

bool onOff(Args &args, const std::string &name, bool fallback)
{
    const auto v = args.value(name);
    if (!v)
        return fallback;
    if (*v == "on" || *v == "true" || *v == "1")
        return true;
    if (*v == "off" || *v == "false" || *v == "0")
        return false;
    throw UsageError("--" + name + " expects on or off, got '" + *v + "'");
}

void readRunBasics(Args &args, train::RunControl &o)
{
    o.data = args.value("data", o.data);
    o.limit = args.integer("limit", o.limit);
    o.epochs = args.integer("epochs", o.epochs);
    o.batch = args.integer("batch", o.batch);
    o.warmupEpochs = args.number("warmup-epochs", o.warmupEpochs);
    o.seed = uint64_t(args.integer("seed", (long long)o.seed));
    o.device = args.value("device", o.device);
    o.workers = int(args.integer("workers", o.workers));
}

void readRunControl(Args &args, train::RunControl &o)
{
    readRunBasics(args, o);
    o.clipGrad = args.number("clip-grad", o.clipGrad);
    o.logEvery = args.integer("log-every", o.logEvery);
    o.checkpointEvery = args.integer("checkpoint-every", o.checkpointEvery);
    o.keepCheckpoints = int(args.integer("keep", o.keepCheckpoints));
    o.evalEvery = args.integer("eval-every", o.evalEvery);
    o.evalLimit = args.integer("test-limit", o.evalLimit);
    o.amp = onOff(args, "amp", o.amp);
}

} // namespace vitscope::cli

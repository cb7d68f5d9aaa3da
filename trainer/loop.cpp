#include "trainer/loop.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include "models/autocast.h"
#include "models/error.h"

namespace vitscope::train {

using nlohmann::json;

json toJson(const LoopOptions &o)
{
    return {{"epochs", o.epochs},         {"base_lr", o.baseLr},
            {"warmup_steps", o.warmupSteps}, {"clip_grad", o.clipGrad},
            {"log_every", o.logEvery},    {"checkpoint_every", o.checkpointEvery},
            {"keep_checkpoints", o.keepCheckpoints}, {"eval_every", o.evalEvery}, {"amp", o.amp}};
}

LoopOptions loopOptionsFromJson(const json &j)
{
    LoopOptions o;
    o.epochs = j.at("epochs");
    o.baseLr = j.at("base_lr");
    o.warmupSteps = j.at("warmup_steps");
    o.clipGrad = j.at("clip_grad");
    o.logEvery = j.at("log_every");
    o.checkpointEvery = j.at("checkpoint_every");
    o.keepCheckpoints = j.at("keep_checkpoints");
    o.evalEvery = j.at("eval_every");
    o.amp = j.value("amp", true);
    return o;
}

namespace {

TensorMap gatherState(torch::nn::Module &module, const AdamW &opt)
{
    TensorMap t;
    for (const auto &p : module.named_parameters(true))
        t["model." + p.key()] = p.value().detach();
    for (const auto &b : module.named_buffers(true))
        t["model." + b.key()] = b.value().detach();
    for (const auto &[k, v] : opt.state())
        t["optim." + k] = v;
    return t;
}

void restoreState(torch::nn::Module &module, AdamW &opt, const Checkpoint &c)
{
    torch::NoGradGuard noGrad;
    auto copyInto = [&](const std::string &name, torch::Tensor &target) {
        auto it = c.tensors.find("model." + name);
        if (it == c.tensors.end() || it->second.sizes() != target.sizes())
            throw FileError(c.path, "does not fit this run's model (" + name + ")");
        target.copy_(it->second);
    };
    for (auto &p : module.named_parameters(true))
        copyInto(p.key(), p.value());
    for (auto &b : module.named_buffers(true))
        copyInto(b.key(), b.value());
    TensorMap optState;
    for (const auto &[k, v] : c.tensors)
        if (k.rfind("optim.", 0) == 0)
            optState[k.substr(6)] = v.to(module.parameters().front().device());
    try {
        opt.loadState(optState, c.state.at("optimizer_steps").get<int64_t>());
    } catch (const Error &e) {
        throw FileError(c.path, e.what());
    }
}

} // namespace

TrainResult runTraining(RunFolder &run, TrainTask &task, const LoopOptions &o, const TrainCallbacks &cb)
{
    auto &loader = *task.loader;
    auto &opt = *task.optimizer;
    const int64_t perEpoch = loader.batchesPerEpoch();
    const int64_t total = perEpoch * o.epochs;
    TrainResult result;
    result.runDir = run.dir();

    // Resume: the newest whole checkpoint; metrics written after it are cut away, so the
    // records that follow are written once.
    int64_t step = 0;
    {
        std::error_code ec;
        for (const auto &e : std::filesystem::directory_iterator(std::filesystem::path(run.dir()) / "checkpoints"))
            if (e.path().extension() == ".partial")
                std::filesystem::remove(e.path(), ec); // a write that a kill interrupted
    }
    if (auto c = run.latestCheckpoint()) {
        restoreState(*task.module, opt, *c);
        step = c->step;
        run.truncateMetrics(c->state.value("metrics_bytes", uint64_t(0)));
        result.resumed = true;
        result.resumedFromStep = step;
        run.appendMetrics({{"type", "resumed"}, {"step", step}, {"checkpoint", c->path}});
    } else {
        run.truncateMetrics(0);
    }
    std::string lastCheckpoint;
    auto checkpoint = [&](int64_t epoch) {
        json state{{"epoch", epoch}, {"optimizer_steps", opt.steps()}};
        lastCheckpoint = run.saveCheckpoint(step, gatherState(*task.module, opt), state, o.keepCheckpoints);
    };

    const auto started = std::chrono::steady_clock::now();
    int64_t stepsThisProcess = 0;
    double lastLoss = 0;
    // On CUDA the losses stay on the device until a value is needed (a metrics line, a
    // callback, a checkpoint, the end of an epoch): reading one is a host synchronisation
    // that would stall the queue of kernels every step. On the CPU every loss is read at
    // once, before its backward pass.
    const bool readEveryStep = cb.lossReads == TrainCallbacks::LossReads::EveryStep ||
                               (cb.lossReads == TrainCallbacks::LossReads::Auto &&
                                (!task.device.is_cuda() || static_cast<bool>(cb.onStep)));
    std::vector<std::pair<int64_t, torch::Tensor>> pending; // (step number from 1, loss)
    double lossSum = 0;
    int64_t lossCount = 0;
    // Reads the pending losses (one synchronisation), refusing a non-finite one: the run
    // stops there, before anything after that step is written.
    auto readLosses = [&] {
        if (pending.empty())
            return;
        std::vector<torch::Tensor> losses;
        for (const auto &p : pending)
            losses.push_back(p.second.reshape({})); // stored detached
        const auto host = torch::stack(losses).to(torch::kCPU, torch::kFloat64);
        const auto values = host.accessor<double, 1>();
        for (std::size_t i = 0; i < pending.size(); ++i) {
            const double value = values[int64_t(i)];
            const int64_t at = pending[i].first;
            if (!std::isfinite(value)) {
                loader.stop();
                pending.clear();
                run.appendMetrics({{"type", "error"}, {"step", at - 1}, {"loss", std::to_string(value)}});
                const std::string kept = lastCheckpoint.empty()
                                             ? (run.latestCheckpoint() ? run.latestCheckpoint()->path : "none yet")
                                             : lastCheckpoint;
                throw Error("training stopped: the loss became " + std::to_string(value) + " at step " +
                            std::to_string(at) + " (learning rate " +
                            std::to_string(warmupCosine(at - 1, total, o.warmupSteps, o.baseLr)) +
                            "); the last good checkpoint is kept: " + kept +
                            ". Try a lower learning rate or --clip-grad.");
            }
            lastLoss = value;
            lossSum += value;
            ++lossCount;
        }
        pending.clear();
    };
    task.module->train();
    for (int64_t epoch = step / std::max<int64_t>(perEpoch, 1); epoch < o.epochs; ++epoch) {
        loader.start(epoch, step - epoch * perEpoch);
        lossSum = 0;
        lossCount = 0;
        int64_t windowImages = 0;
        auto windowStart = std::chrono::steady_clock::now();
        while (auto batch = loader.next()) {
            if (cb.shouldStop && cb.shouldStop()) {
                readLosses();
                loader.stop();
                checkpoint(epoch);
                run.appendMetrics({{"type", "stopped"}, {"step", step}, {"checkpoint", lastCheckpoint}});
                result.status = RunStatus::Stopped;
                result.steps = step;
                result.lastLoss = lastLoss;
                return result;
            }
            const double lr = warmupCosine(step, total, o.warmupSteps, o.baseLr);
            opt.zeroGrad();
            torch::Tensor loss;
            {
                CudaAutocast autocast(o.amp && task.device.is_cuda());
                loss = task.loss(*batch, step).to(torch::kFloat32);
            }
            pending.emplace_back(step + 1, loss.detach());
            if (readEveryStep)
                readLosses();
            loss.backward();
            if (o.clipGrad > 0)
                opt.clipGradNorm(o.clipGrad);
            opt.step(lr);
            if (task.afterStep)
                task.afterStep();
            ++step;
            ++stepsThisProcess;
            windowImages += batch->images.size(0);

            if (cb.onStep || step % std::max<int64_t>(o.logEvery, 1) == 0 || step == total) {
                readLosses();
                const double lossValue = lastLoss;
                const double elapsed =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                StepInfo info;
                info.step = step, info.totalSteps = total, info.epoch = epoch, info.epochs = o.epochs;
                info.loss = lossValue, info.lr = lr, info.elapsedSeconds = elapsed;
                const double window =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - windowStart).count();
                info.imagesPerSecond = window > 0 ? double(windowImages) / window : 0;
                info.etaSeconds = elapsed / double(stepsThisProcess) * double(total - step);
                if (step % std::max<int64_t>(o.logEvery, 1) == 0 || step == total) {
                    run.appendMetrics({{"type", "step"},
                                       {"step", step},
                                       {"epoch", epoch},
                                       {"loss", lossValue},
                                       {"lr", lr},
                                       {"images_per_s", info.imagesPerSecond},
                                       {"elapsed_s", elapsed}});
                    windowImages = 0;
                    windowStart = std::chrono::steady_clock::now();
                }
                if (cb.onStep)
                    cb.onStep(info);
            }
            if (o.checkpointEvery > 0 && step % o.checkpointEvery == 0 && step % perEpoch != 0) {
                readLosses(); // never a checkpoint after a non-finite loss
                checkpoint(epoch);
            }
        }
        readLosses();
        EpochInfo info;
        info.epoch = epoch;
        info.step = step;
        info.meanLoss = lossCount ? lossSum / double(lossCount) : lastLoss;
        if (task.evaluate && o.evalEvery > 0 && ((epoch + 1) % o.evalEvery == 0 || epoch + 1 == o.epochs)) {
            info.eval = task.evaluate(epoch);
            result.lastEval = info.eval;
            task.module->train();
        }
        json record{{"type", "epoch"}, {"epoch", epoch}, {"step", step}, {"loss", info.meanLoss}};
        if (!info.eval.is_null())
            record["eval"] = info.eval;
        run.appendMetrics(record);
        checkpoint(epoch + 1);
        if (cb.onEpoch)
            cb.onEpoch(info);
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    result.stepsThisProcess = stepsThisProcess;
    result.imagesPerSecond =
        result.seconds > 0 ? double(stepsThisProcess * loader.batchSize()) / result.seconds : 0.0;
    task.module->eval();
    task.saveModel(run.modelDir());
    run.appendMetrics({{"type", "end"}, {"step", step}, {"model", run.modelDir()}});
    result.status = RunStatus::Finished;
    result.modelDir = run.modelDir();
    result.steps = step;
    result.lastLoss = lastLoss;
    return result;
}

} // namespace vitscope::train

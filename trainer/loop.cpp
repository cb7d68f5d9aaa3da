#include "trainer/loop.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "models/autocast.h"
#include "models/device.h"
#include "models/error.h"
#include "vitscope/version.h"

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
    const auto oneProcess = Group::single();
    Group &group = task.group ? *task.group : *oneProcess;
    const bool lead = group.lead();
    const bool dist = group.size() > 1;
    const int64_t perEpoch = loader.batchesPerEpoch();
    const int64_t total = perEpoch * o.epochs;
    TrainResult result;
    result.runDir = run.dir();
    result.worldSize = group.size();

    // Resume: the newest whole checkpoint; metrics written after it are cut away, so the
    // records that follow are written once. Only rank 0 reads it: the other ranks receive
    // the parameters, the optimizer state and the step from rank 0 (they need not see the
    // run folder).
    int64_t step = 0;
    if (lead) {
        std::error_code ec;
        for (const auto &e : std::filesystem::directory_iterator(std::filesystem::path(run.dir()) / "checkpoints"))
            if (e.path().extension() == ".partial")
                std::filesystem::remove(e.path(), ec); // a write that a kill interrupted
        if (auto c = run.latestCheckpoint()) {
            restoreState(*task.module, opt, *c);
            step = c->step;
            run.truncateMetrics(c->state.value("metrics_bytes", uint64_t(0)));
            result.resumed = true;
            result.resumedFromStep = step;
            run.appendMetrics({{"type", "resumed"}, {"step", step}, {"checkpoint", c->path}, {"world_size", group.size()}});
        } else {
            run.truncateMetrics(0);
        }
    }
    if (dist) {
        collective(group, "starting: broadcasting rank 0's model", [&] {
            torch::NoGradGuard noGrad;
            auto state = torch::tensor({step, opt.steps()}, torch::kLong);
            group.broadcast({state});
            step = state[0].item<int64_t>();
            std::vector<torch::Tensor> tensors;
            for (const auto &p : task.module->parameters(true))
                tensors.push_back(p.detach());
            for (const auto &b : task.module->buffers(true))
                tensors.push_back(b.detach());
            if (step > 0)
                for (const auto &[k, v] : opt.state())
                    tensors.push_back(v);
            group.broadcast(tensors);
            if (step > 0 && !lead) {
                opt.loadState(opt.state(), state[1].item<int64_t>());
                result.resumed = true;
                result.resumedFromStep = step;
            }
        });
    }
    std::vector<torch::Tensor> params;
    for (const auto &p : task.module->parameters(true))
        if (p.requires_grad())
            params.push_back(p);
    std::string lastCheckpoint;
    auto checkpoint = [&](int64_t epoch) {
        json state{{"epoch", epoch}, {"optimizer_steps", opt.steps()}};
        if (lead)
            lastCheckpoint = run.saveCheckpoint(step, gatherState(*task.module, opt), state, o.keepCheckpoints);
    };

    const auto started = std::chrono::steady_clock::now();
    int64_t stepsThisProcess = 0;
    double lastLoss = 0;
    // On CUDA the losses stay on the device until a value is needed (a metrics line, a
    // callback, a checkpoint, the end of an epoch): reading one is a host synchronisation
    // that would stall the queue of kernels every step. On the CPU every loss is read at
    // once, before its backward pass.
    // With several ranks a read is a collective (the average over ranks), so every rank reads
    // at the same steps: metrics lines, checkpoints, the ends of epochs.
    const bool readEveryStep = !dist && (cb.lossReads == TrainCallbacks::LossReads::EveryStep ||
                                         (cb.lossReads == TrainCallbacks::LossReads::Auto &&
                                          (!task.device.is_cuda() || static_cast<bool>(cb.onStep))));
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
        auto stacked = torch::stack(losses);
        if (dist)
            collective(group, "averaging the losses", [&] {
                group.allReduceSum({stacked});
                stacked.div_(double(group.size()));
            });
        const auto host = stacked.to(torch::kCPU, torch::kFloat64);
        const auto values = host.accessor<double, 1>();
        for (std::size_t i = 0; i < pending.size(); ++i) {
            const double value = values[int64_t(i)];
            const int64_t at = pending[i].first;
            if (!std::isfinite(value)) {
                loader.stop();
                pending.clear();
                if (lead)
                    run.appendMetrics({{"type", "error"}, {"step", at - 1}, {"loss", std::to_string(value)}});
                const std::string kept = !lead                 ? "in " + run.dir() + " (rank 0)"
                                         : !lastCheckpoint.empty() ? lastCheckpoint
                                         : run.latestCheckpoint() ? run.latestCheckpoint()->path
                                                                  : "none yet";
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
            bool stop = cb.shouldStop && cb.shouldStop();
            if (dist) // a stop asked for on any rank stops every rank at this step
                collective(group, "agreeing on a stop", [&] {
                    auto flag = torch::tensor({stop ? 1.0f : 0.0f});
                    group.allReduceMax({flag});
                    stop = flag.item<float>() > 0;
                });
            group.setProgress(step);
            if (stop) {
                readLosses();
                loader.stop();
                checkpoint(epoch);
                if (lead)
                    run.appendMetrics({{"type", "stopped"}, {"step", step}, {"checkpoint", lastCheckpoint}});
                result.status = RunStatus::Stopped;
                result.steps = step;
                result.lastLoss = lastLoss;
                result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                result.stepsThisProcess = stepsThisProcess;
                result.imagesPerSecond = result.seconds > 0
                                             ? double(stepsThisProcess * loader.batchSize() * group.size()) / result.seconds
                                             : 0.0;
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
            group.averageGradients(params);
            if (o.clipGrad > 0)
                opt.clipGradNorm(o.clipGrad);
            opt.step(lr);
            if (task.afterStep)
                task.afterStep();
            ++step;
            ++stepsThisProcess;
            windowImages += batch->images.size(0) * group.size();

            if ((cb.onStep && !dist) || step % std::max<int64_t>(o.logEvery, 1) == 0 || step == total) {
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
                if ((step % std::max<int64_t>(o.logEvery, 1) == 0 || step == total) && lead) {
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
        if (lead && task.evaluate && o.evalEvery > 0 && ((epoch + 1) % o.evalEvery == 0 || epoch + 1 == o.epochs)) {
            info.eval = task.evaluate(epoch);
            result.lastEval = info.eval;
            task.module->train();
        }
        json record{{"type", "epoch"}, {"epoch", epoch}, {"step", step}, {"loss", info.meanLoss}};
        if (!info.eval.is_null())
            record["eval"] = info.eval;
        if (lead)
            run.appendMetrics(record);
        checkpoint(epoch + 1);
        if (cb.onEpoch)
            cb.onEpoch(info);
    }
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    result.stepsThisProcess = stepsThisProcess;
    result.imagesPerSecond =
        result.seconds > 0 ? double(stepsThisProcess * loader.batchSize() * group.size()) / result.seconds : 0.0;
    const auto &comm = group.stats();
    if (comm.gradientReductions > 0) {
        result.allReduceSecondsPerStep = comm.gradientSeconds / double(comm.gradientReductions);
        result.allReduceMegabytesPerStep = comm.gradientMegabytes / double(comm.gradientReductions);
    }
    task.module->eval();
    if (lead)
        task.saveModel(run.modelDir());
    // Every rank returns once the model is written.
    collective(group, "finishing", [&] { group.barrier(); });
    if (lead) {
        json end{{"type", "end"}, {"step", step}, {"model", run.modelDir()}, {"world_size", group.size()}};
        if (dist)
            end["allreduce_s_per_step"] = result.allReduceSecondsPerStep, end["allreduce_mb_per_step"] = result.allReduceMegabytesPerStep;
        run.appendMetrics(end);
    }
    result.status = RunStatus::Finished;
    result.modelDir = run.modelDir();
    result.steps = step;
    result.lastLoss = lastLoss;
    return result;
}

TrainingSkeleton::TrainingSkeleton(const std::string &device, int64_t batch, uint64_t seed, int workers, Group *group)
    : m_group(group), m_seed(seed), m_workers(workers)
{
    if (!m_group) {
        m_own = Group::single();
        m_group = m_own.get();
    }
    const int world = m_group->size();
    if (batch <= 0 || batch % world != 0)
        throw Error("the batch (" + std::to_string(batch) + ", the global batch of all ranks) must be a positive multiple of "
                    "the number of ranks (" + std::to_string(world) + ")");
    m_localBatch = batch / world;
    m_device = parseDevice(device);
    if (m_device.is_cuda() && world > 1 && !m_device.has_index()) // one GPU per rank on a node
        m_device = torch::Device(torch::kCUDA, torch::DeviceIndex(m_group->env().localRank % std::max<int64_t>(1, int64_t(torch::cuda::device_count()))));
}

RunFolder TrainingSkeleton::createRun(const std::string &dir, const std::string &kind, const json &options)
{
    json config{{"kind", kind},
                {"options", options},
                {"device", m_device.str()},
                {"libtorch", torchVersion()},
                {"vitscope", VITSCOPE_VERSION},
                {"threads", at::get_num_threads()}};
    if (m_group->size() > 1)
        config["distributed"] = {{"world_size", m_group->size()},
                                 {"backend", m_group->backend()},
                                 {"launcher", m_group->env().launcher},
                                 {"batch_per_rank", m_localBatch}};
    if (!m_group->lead())
        return RunFolder::follower(dir, config);
    return RunFolder::create(dir, config);
}

std::unique_ptr<data::BatchLoader> TrainingSkeleton::makeLoader(std::shared_ptr<const data::SampleSource> source,
                                                                data::BatchLoader::MakeSample makeSample) const
{
    data::LoaderOptions lo;
    lo.batchSize = m_localBatch;
    lo.seed = m_seed;
    lo.workers = m_workers;
    lo.pinMemory = m_device.is_cuda();
    lo.rank = m_group->rank();
    lo.worldSize = m_group->size();
    return std::make_unique<data::BatchLoader>(std::move(source), std::move(makeSample), lo);
}

LoopOptions TrainingSkeleton::loop(double lr, int64_t batchesPerEpoch, bool canEvaluate) const
{
    LoopOptions l = m_loop;
    l.baseLr = lr;
    l.warmupSteps = int64_t(m_warmupEpochs * double(batchesPerEpoch));
    if (!canEvaluate)
        l.evalEvery = 0;
    return l;
}

std::unique_lock<std::mutex> TrainingSkeleton::seededInit(uint64_t seed)
{
    static std::mutex generator;
    std::unique_lock<std::mutex> lock(generator);
    torch::manual_seed(seed);
    return lock;
}

TrainTask TrainingSkeleton::task(torch::nn::Module &module, AdamW &optimizer, data::BatchLoader &loader)
{
    TrainTask t;
    t.group = m_group;
    t.module = &module;
    t.optimizer = &optimizer;
    t.loader = &loader;
    t.device = m_device;
    return t;
}

json shareFromLead(Group &group, const json &value)
{
    if (group.size() == 1)
        return value;
    return collective(group, "sharing the run configuration", [&] {
        const std::string text = group.lead() ? value.dump() : std::string();
        auto size = torch::tensor({int64_t(text.size())}, torch::kLong);
        group.broadcast({size});
        auto bytes = torch::zeros({size.item<int64_t>()}, torch::kUInt8);
        if (group.lead())
            std::memcpy(bytes.data_ptr<uint8_t>(), text.data(), text.size());
        group.broadcast({bytes});
        return json::parse(std::string(reinterpret_cast<const char *>(bytes.data_ptr<uint8_t>()), std::size_t(bytes.numel())));
    });
}

} // namespace vitscope::train

#include "trainer/loop.h"
#include "models/runtime/tuning.h"

#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "models/autocast.h"
#include "models/runtime/device.h"
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

// One call of runTraining: the state its phases share (resume, the steps, the ends of
// epochs, the end of the run), one method per phase.
class LoopRun {
public:
    LoopRun(RunFolder &run, TrainTask &task, const LoopOptions &o, const TrainCallbacks &cb)
        : m_run(run), m_task(task), m_o(o), m_cb(cb), m_loader(*task.loader), m_opt(*task.optimizer),
          m_oneProcess(Group::single()), m_group(task.group ? *task.group : *m_oneProcess), m_lead(m_group.lead()),
          m_dist(m_group.size() > 1), m_perEpoch(m_loader.batchesPerEpoch()), m_total(m_perEpoch * o.epochs)
    {
        m_result.runDir = run.dir();
        m_result.worldSize = m_group.size();
        // On CUDA the losses stay on the device until a value is needed (a metrics line, a
        // callback, a checkpoint, the end of an epoch): reading one is a host
        // synchronisation that would stall the queue of kernels every step. On the CPU
        // every loss is read at once, before its backward pass. With several ranks a read
        // is a collective (the average over ranks), so every rank reads at the same steps:
        // metrics lines, checkpoints, the ends of epochs.
        m_readEveryStep = !m_dist && (cb.lossReads == TrainCallbacks::LossReads::EveryStep ||
                                      (cb.lossReads == TrainCallbacks::LossReads::Auto &&
                                       (!task.device.is_cuda() || static_cast<bool>(cb.onStep))));
    }

    TrainResult run()
    {
        resume();
        if (m_dist)
            broadcastStart();
        for (const auto &p : m_task.module->parameters(true))
            if (p.requires_grad())
                m_params.push_back(p);
        m_started = std::chrono::steady_clock::now();
        m_task.module->train();
        for (int64_t epoch = m_step / std::max<int64_t>(m_perEpoch, 1); epoch < m_o.epochs; ++epoch) {
            m_loader.start(epoch, m_step - epoch * m_perEpoch);
            m_lossSum = 0;
            m_lossCount = 0;
            m_windowImages = 0;
            m_windowStart = std::chrono::steady_clock::now();
            while (auto batch = m_loader.next()) {
                if (stopRequested())
                    return stopped(epoch);
                trainStep(*batch, epoch);
            }
            endEpoch(epoch);
        }
        return finish();
    }

private:
    // The newest whole checkpoint; metrics written after it are cut away, so the records
    // that follow are written once. Only rank 0 reads it: the other ranks receive the
    // parameters, the optimizer state and the step from rank 0 (they need not see the run
    // folder).
    void resume()
    {
        if (!m_lead)
            return;
        std::error_code ec;
        for (const auto &e : std::filesystem::directory_iterator(std::filesystem::path(m_run.dir()) / "checkpoints"))
            if (e.path().extension() == ".partial")
                std::filesystem::remove(e.path(), ec); // a write that a kill interrupted
        if (auto c = m_run.latestCheckpoint()) {
            restoreState(*m_task.module, m_opt, *c);
            m_step = c->step;
            m_run.truncateMetrics(c->state.value("metrics_bytes", uint64_t(0)));
            m_result.resumed = true;
            m_result.resumedFromStep = m_step;
            m_run.appendMetrics(
                {{"type", "resumed"}, {"step", m_step}, {"checkpoint", c->path}, {"world_size", m_group.size()}});
        } else {
            m_run.truncateMetrics(0);
        }
    }

    // Rank 0's step, parameters, buffers and (when resuming) optimizer state on every rank.
    void broadcastStart()
    {
        collective(m_group, "starting: broadcasting rank 0's model", [&] {
            torch::NoGradGuard noGrad;
            auto state = torch::tensor({m_step, m_opt.steps()}, torch::kLong);
            m_group.broadcast({state});
            m_step = state[0].item<int64_t>();
            std::vector<torch::Tensor> tensors;
            for (const auto &p : m_task.module->parameters(true))
                tensors.push_back(p.detach());
            for (const auto &b : m_task.module->buffers(true))
                tensors.push_back(b.detach());
            if (m_step > 0)
                for (const auto &[k, v] : m_opt.state())
                    tensors.push_back(v);
            m_group.broadcast(tensors);
            if (m_step > 0 && !m_lead) {
                m_opt.loadState(m_opt.state(), state[1].item<int64_t>());
                m_result.resumed = true;
                m_result.resumedFromStep = m_step;
            }
        });
    }

    void checkpoint(int64_t epoch)
    {
        json state{{"epoch", epoch}, {"optimizer_steps", m_opt.steps()}};
        if (m_lead)
            m_lastCheckpoint = m_run.saveCheckpoint(m_step, gatherState(*m_task.module, m_opt), state, m_o.keepCheckpoints);
    }

    // Reads the pending losses (one synchronisation), refusing a non-finite one: the run
    // stops there, before anything after that step is written.
    void readLosses()
    {
        if (m_pending.empty())
            return;
        std::vector<torch::Tensor> losses;
        for (const auto &p : m_pending)
            losses.push_back(p.second.reshape({})); // stored detached
        auto stacked = torch::stack(losses);
        if (m_dist)
            collective(m_group, "averaging the losses", [&] {
                m_group.allReduceSum({stacked});
                stacked.div_(double(m_group.size()));
            });
        const auto host = stacked.to(torch::kCPU, torch::kFloat64);
        const auto values = host.accessor<double, 1>();
        for (std::size_t i = 0; i < m_pending.size(); ++i) {
            const double value = values[int64_t(i)];
            if (!std::isfinite(value))
                failOnLoss(value, m_pending[i].first);
            m_lastLoss = value;
            m_lossSum += value;
            ++m_lossCount;
        }
        m_pending.clear();
    }

    [[noreturn]] void failOnLoss(double value, int64_t at)
    {
        m_loader.stop();
        m_pending.clear();
        if (m_lead)
            m_run.appendMetrics({{"type", "error"}, {"step", at - 1}, {"loss", std::to_string(value)}});
        const std::string kept = !m_lead                      ? "in " + m_run.dir() + " (rank 0)"
                                 : !m_lastCheckpoint.empty() ? m_lastCheckpoint
                                 : m_run.latestCheckpoint()  ? m_run.latestCheckpoint()->path
                                                             : "none yet";
        throw Error("training stopped: the loss became " + std::to_string(value) + " at step " + std::to_string(at) +
                    " (learning rate " + std::to_string(warmupCosine(at - 1, m_total, m_o.warmupSteps, m_o.baseLr)) +
                    "); the last good checkpoint is kept: " + kept + ". Try a lower learning rate or --clip-grad.");
    }

    // A stop asked for on any rank stops every rank at this step.
    bool stopRequested()
    {
        bool stop = m_cb.shouldStop && m_cb.shouldStop();
        if (m_dist)
            collective(m_group, "agreeing on a stop", [&] {
                auto flag = torch::tensor({stop ? 1.0f : 0.0f});
                m_group.allReduceMax({flag});
                stop = flag.item<float>() > 0;
            });
        m_group.setProgress(m_step);
        return stop;
    }

    TrainResult stopped(int64_t epoch)
    {
        readLosses();
        m_loader.stop();
        checkpoint(epoch);
        if (m_lead)
            m_run.appendMetrics({{"type", "stopped"}, {"step", m_step}, {"checkpoint", m_lastCheckpoint}});
        m_result.status = RunStatus::Stopped;
        m_result.steps = m_step;
        m_result.lastLoss = m_lastLoss;
        measureRate();
        return m_result;
    }

    void trainStep(const data::Batch &batch, int64_t epoch)
    {
        const double lr = warmupCosine(m_step, m_total, m_o.warmupSteps, m_o.baseLr);
        // Not with several ranks: a step's time there includes waiting for the others.
        const bool choose = !m_task.workload.empty() && m_task.device.is_cpu() && !m_dist;
        const WorkloadThreads threads(choose ? m_task.workload : std::string("train"), choose);
        m_opt.zeroGrad();
        torch::Tensor loss;
        {
            CudaAutocast autocast(m_o.amp && m_task.device.is_cuda());
            loss = m_task.loss(batch, m_step).to(torch::kFloat32);
        }
        m_pending.emplace_back(m_step + 1, loss.detach());
        if (m_readEveryStep)
            readLosses();
        loss.backward();
        m_group.averageGradients(m_params);
        if (m_o.clipGrad > 0)
            m_opt.clipGradNorm(m_o.clipGrad);
        m_opt.step(lr);
        if (m_task.afterStep)
            m_task.afterStep();
        ++m_step;
        ++m_stepsThisProcess;
        m_windowImages += batch.images.size(0) * m_group.size();
        const bool logStep = m_step % std::max<int64_t>(m_o.logEvery, 1) == 0 || m_step == m_total;
        if ((m_cb.onStep && !m_dist) || logStep)
            report(epoch, lr, logStep);
        if (m_o.checkpointEvery > 0 && m_step % m_o.checkpointEvery == 0 && m_step % m_perEpoch != 0) {
            readLosses(); // never a checkpoint after a non-finite loss
            checkpoint(epoch);
        }
    }

    // The step's loss to the callback, and on logged steps to metrics.jsonl.
    void report(int64_t epoch, double lr, bool logStep)
    {
        readLosses();
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count();
        StepInfo info;
        info.step = m_step, info.totalSteps = m_total, info.epoch = epoch, info.epochs = m_o.epochs;
        info.loss = m_lastLoss, info.lr = lr, info.elapsedSeconds = elapsed;
        const double window = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_windowStart).count();
        info.imagesPerSecond = window > 0 ? double(m_windowImages) / window : 0;
        info.etaSeconds = elapsed / double(m_stepsThisProcess) * double(m_total - m_step);
        if (logStep && m_lead) {
            m_run.appendMetrics({{"type", "step"},
                                 {"step", m_step},
                                 {"epoch", epoch},
                                 {"loss", m_lastLoss},
                                 {"lr", lr},
                                 {"images_per_s", info.imagesPerSecond},
                                 {"elapsed_s", elapsed}});
            m_windowImages = 0;
            m_windowStart = std::chrono::steady_clock::now();
        }
        if (m_cb.onStep)
            m_cb.onStep(info);
    }

    // The epoch's mean loss, its evaluation (rank 0), a metrics record and a checkpoint.
    void endEpoch(int64_t epoch)
    {
        readLosses();
        EpochInfo info;
        info.epoch = epoch;
        info.step = m_step;
        info.meanLoss = m_lossCount ? m_lossSum / double(m_lossCount) : m_lastLoss;
        if (m_lead && m_task.evaluate && m_o.evalEvery > 0 &&
            ((epoch + 1) % m_o.evalEvery == 0 || epoch + 1 == m_o.epochs)) {
            info.eval = m_task.evaluate(epoch);
            m_result.lastEval = info.eval;
            m_task.module->train();
        }
        json record{{"type", "epoch"}, {"epoch", epoch}, {"step", m_step}, {"loss", info.meanLoss}};
        if (!info.eval.is_null())
            record["eval"] = info.eval;
        if (m_lead)
            m_run.appendMetrics(record);
        checkpoint(epoch + 1);
        if (m_cb.onEpoch)
            m_cb.onEpoch(info);
    }

    void measureRate()
    {
        m_result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_started).count();
        m_result.stepsThisProcess = m_stepsThisProcess;
        m_result.imagesPerSecond =
            m_result.seconds > 0 ? double(m_stepsThisProcess * m_loader.batchSize() * m_group.size()) / m_result.seconds
                                 : 0.0;
    }

    // The final model (rank 0), the "end" record; every rank returns once it is written.
    TrainResult finish()
    {
        measureRate();
        const auto &comm = m_group.stats();
        if (comm.gradientReductions > 0) {
            m_result.allReduceSecondsPerStep = comm.gradientSeconds / double(comm.gradientReductions);
            m_result.allReduceMegabytesPerStep = comm.gradientMegabytes / double(comm.gradientReductions);
        }
        m_task.module->eval();
        if (m_lead)
            m_task.saveModel(m_run.modelDir());
        collective(m_group, "finishing", [&] { m_group.barrier(); });
        if (m_lead) {
            json end{{"type", "end"}, {"step", m_step}, {"model", m_run.modelDir()}, {"world_size", m_group.size()}};
            if (m_dist)
                end["allreduce_s_per_step"] = m_result.allReduceSecondsPerStep,
                end["allreduce_mb_per_step"] = m_result.allReduceMegabytesPerStep;
            m_run.appendMetrics(end);
        }
        m_result.status = RunStatus::Finished;
        m_result.modelDir = m_run.modelDir();
        m_result.steps = m_step;
        m_result.lastLoss = m_lastLoss;
        return m_result;
    }

    RunFolder &m_run;
    TrainTask &m_task;
    const LoopOptions &m_o;
    const TrainCallbacks &m_cb;
    data::BatchLoader &m_loader;
    AdamW &m_opt;
    std::shared_ptr<Group> m_oneProcess;
    Group &m_group;
    const bool m_lead, m_dist;
    const int64_t m_perEpoch, m_total;
    bool m_readEveryStep = true;
    TrainResult m_result;
    int64_t m_step = 0;
    std::vector<torch::Tensor> m_params;
    std::string m_lastCheckpoint;
    std::chrono::steady_clock::time_point m_started = std::chrono::steady_clock::now(), m_windowStart = m_started;
    int64_t m_stepsThisProcess = 0, m_windowImages = 0;
    double m_lastLoss = 0, m_lossSum = 0;
    int64_t m_lossCount = 0;
    std::vector<std::pair<int64_t, torch::Tensor>> m_pending; // (step number from 1, detached loss)
};

} // namespace

TrainResult runTraining(RunFolder &run, TrainTask &task, const LoopOptions &o, const TrainCallbacks &cb)
{
    return LoopRun(run, task, o, cb).run();
}

TrainingSkeleton::TrainingSkeleton(const RunControl &o, Group *group)
    : m_group(group), m_seed(o.seed), m_workers(o.workers)
{
    m_loop.epochs = o.epochs;
    m_loop.clipGrad = o.clipGrad;
    m_loop.logEvery = o.logEvery;
    m_loop.checkpointEvery = o.checkpointEvery;
    m_loop.keepCheckpoints = o.keepCheckpoints;
    m_loop.evalEvery = o.evalEvery;
    m_loop.amp = o.amp;
    m_warmupEpochs = o.warmupEpochs;
    const int64_t batch = o.batch;
    if (!m_group) {
        m_own = Group::single();
        m_group = m_own.get();
    }
    const int world = m_group->size();
    if (batch <= 0 || batch % world != 0)
        throw Error("the batch (" + std::to_string(batch) + ", the global batch of all ranks) must be a positive multiple of "
                    "the number of ranks (" + std::to_string(world) + ")");
    m_localBatch = batch / world;
    m_device = parseDevice(o.device);
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

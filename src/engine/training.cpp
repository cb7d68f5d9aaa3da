#include "src/engine/training.h"

#include "models/clip.h"
#include "models/error.h"
#include "models/mae.h"
#include "trainer/clip_trainer.h"
#include "trainer/mae_trainer.h"
#include "trainer/resume.h"

namespace vitscope::engine {

namespace {

train::TrainCallbacks callbacksFor(const TrainHooks &hooks)
{
    train::TrainCallbacks cb;
    if (hooks.onStep)
        cb.onStep = [f = hooks.onStep](const train::StepInfo &s) {
            TrainProgress p;
            p.step = s.step, p.totalSteps = s.totalSteps, p.epoch = s.epoch, p.epochs = s.epochs;
            p.loss = s.loss, p.lr = s.lr, p.imagesPerSecond = s.imagesPerSecond;
            p.elapsedSeconds = s.elapsedSeconds, p.etaSeconds = s.etaSeconds;
            f(p);
        };
    if (hooks.onEpoch)
        cb.onEpoch = [f = hooks.onEpoch](const train::EpochInfo &e) {
            EpochProgress p;
            p.epoch = e.epoch, p.step = e.step, p.meanLoss = e.meanLoss;
            if (e.eval.is_object())
                for (const char *key : {"knn_top1", "zeroshot_top1"})
                    if (e.eval.contains(key) && e.eval[key].is_number()) {
                        p.evalName = key;
                        p.evalValue = e.eval[key].get<double>();
                    }
            f(p);
        };
    cb.shouldStop = hooks.shouldStop;
    return cb;
}

TrainOutcome outcomeOf(const train::TrainResult &r)
{
    TrainOutcome o;
    o.finished = r.status == train::RunStatus::Finished;
    o.runDir = r.runDir;
    o.modelDir = r.modelDir;
    o.steps = r.steps;
    o.seconds = r.seconds;
    return o;
}

} // namespace

std::vector<std::string> presetNames(const std::string &kind)
{
    return kind == "clip" ? ClipConfig::presetNames() : MaeConfig::presetNames();
}

TrainOutcome train(const TrainRequest &q, const std::string &runDir, const TrainHooks &hooks)
{
    if (q.epochs < 1)
        throw Error("epochs must be at least 1");
    if (q.batch < 2)
        throw Error("the batch must hold at least 2 images");
    if (!(q.lr > 0))
        throw Error("the learning rate must be positive");
    if (q.kind == "mae") {
        train::MaeTrainOptions o;
        o.data = q.data, o.limit = q.limit, o.preset = q.preset, o.maskStrategy = q.maskStrategy;
        o.maskRatio = q.maskRatio, o.normPixLoss = q.normPixLoss, o.epochs = q.epochs, o.batch = q.batch;
        o.baseLr = q.lr, o.warmupEpochs = q.warmupEpochs, o.seed = q.seed, o.device = q.device;
        o.logEvery = q.logEvery, o.evalLimit = q.evalLimit;
        return outcomeOf(train::trainMae(o, runDir, callbacksFor(hooks)));
    }
    if (q.kind == "clip") {
        train::ClipTrainOptions o;
        o.data = q.data, o.limit = q.limit, o.preset = q.preset, o.epochs = q.epochs, o.batch = q.batch;
        o.lr = q.lr, o.warmupEpochs = q.warmupEpochs, o.seed = q.seed, o.device = q.device;
        o.logEvery = q.logEvery, o.evalLimit = q.evalLimit;
        return outcomeOf(train::trainClip(o, runDir, callbacksFor(hooks)));
    }
    throw Error("unknown training kind \"" + q.kind + "\" (expected mae or clip)");
}

TrainOutcome resume(const std::string &runDir, const TrainHooks &hooks)
{
    return outcomeOf(train::resumeRun(runDir, callbacksFor(hooks)));
}

} // namespace vitscope::engine

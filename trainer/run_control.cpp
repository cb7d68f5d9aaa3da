#include "trainer/run_control.h"

namespace vitscope::train {

using nlohmann::json;

json RunControl::toJson() const
{
    return {{"data", data},
            {"limit", limit},
            {"epochs", epochs},
            {"batch", batch},
            {"warmup_epochs", warmupEpochs},
            {"clip_grad", clipGrad},
            {"seed", seed},
            {"device", device},
            {"workers", workers},
            {"log_every", logEvery},
            {"checkpoint_every", checkpointEvery},
            {"keep_checkpoints", keepCheckpoints},
            {"eval_every", evalEvery},
            {"eval_limit", evalLimit},
            {"amp", amp}};
}

void RunControl::readJson(const json &j)
{
    auto get = [&](const char *k, auto &field) {
        if (j.contains(k))
            field = j.at(k).get<std::decay_t<decltype(field)>>();
    };
    get("data", data), get("limit", limit), get("epochs", epochs), get("batch", batch);
    get("warmup_epochs", warmupEpochs), get("clip_grad", clipGrad), get("seed", seed), get("device", device);
    get("workers", workers), get("log_every", logEvery), get("checkpoint_every", checkpointEvery);
    get("keep_checkpoints", keepCheckpoints), get("eval_every", evalEvery), get("eval_limit", evalLimit);
    get("amp", amp);
}

} // namespace vitscope::train

#include "trainer/resume.h"

#include "models/error.h"
#include "trainer/clip_trainer.h"
#include "trainer/distributed.h"
#include "trainer/mae_trainer.h"
#include "trainer/run_folder.h"

namespace vitscope::train {

using nlohmann::json;

TrainResult resumeRun(const std::string &runDir, const TrainCallbacks &cb, Group *group)
{
    const auto oneProcess = Group::single();
    Group &g = group ? *group : *oneProcess;
    RunFolder run = g.lead() ? RunFolder::open(runDir) : RunFolder::follower(runDir, json());
    const json config = shareFromLead(g, run.config());
    if (!g.lead())
        run = RunFolder::follower(runDir, config);
    const std::string kind = config.at("kind");
    if (kind == "mae")
        return resumeMae(run, cb, &g);
    if (kind == "clip")
        return resumeClip(run, cb, &g);
    throw FileError(runDir + "/config.json", "unknown run kind \"" + kind + "\"");
}

} // namespace vitscope::train

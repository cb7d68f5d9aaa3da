// The Hugging Face Hub from the command line: `pull org/name[@rev]`, and every model
// argument resolved through the engine's one resolver (src/engine/model_spec.h), with
// the download's progress on stderr.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "models/error.h"
#include "models/runtime/data_files.h"
#include "src/cli/commands.h"
#include "src/engine/model_spec.h"
#ifdef VITSCOPE_WITH_HUB
#include "src/hub/hub.h"
#endif

namespace vitscope::cli {

using nlohmann::json;

#ifdef VITSCOPE_WITH_HUB
namespace {

std::string duration(double s)
{
    if (s < 0)
        return "?";
    char buf[32];
    if (s < 60)
        std::snprintf(buf, sizeof buf, "%.0f s", s);
    else if (s < 3600)
        std::snprintf(buf, sizeof buf, "%d min %02d s", int(s) / 60, int(s) % 60);
    else
        std::snprintf(buf, sizeof buf, "%d h %02d min", int(s) / 3600, (int(s) / 60) % 60);
    return buf;
}

// Progress on stderr: one rewritten line on a terminal, a line per file otherwise.
hub::ProgressCallback stderrProgress()
{
    const bool tty = ::isatty(2);
    auto lastFile = std::make_shared<std::string>();
    auto lastDraw = std::make_shared<double>(-1);
    return [tty, lastFile, lastDraw](const hub::Progress &p) {
        if (tty) {
            const double now = double(p.allDone);
            if (now - *lastDraw < 256 * 1024 && p.done != p.total)
                return true;
            *lastDraw = now;
            std::fprintf(stderr, "\r\033[K%s  %s / %s  %s/s  ETA %s", p.file.c_str(), hub::humanBytes(double(p.allDone)).c_str(),
                         p.allTotal >= 0 ? hub::humanBytes(double(p.allTotal)).c_str() : "?",
                         hub::humanBytes(p.bytesPerSecond).c_str(), duration(p.etaSeconds).c_str());
            std::fflush(stderr);
        } else if (*lastFile != p.file) {
            *lastFile = p.file;
            std::fprintf(stderr, "downloading %s (%s)\n", p.file.c_str(),
                         p.total >= 0 ? hub::humanBytes(double(p.total)).c_str() : "size unknown");
        }
        return true;
    };
}

} // namespace

int pullCommand(Args &args)
{
    const auto pos = args.positionals();
    const bool verify = args.flag("verify");
    args.finish();
    if (pos.size() != 1)
        throw UsageError("pull takes one model id: vitscope-cli pull facebook/vit-mae-base[@revision]");
    auto repo = hub::parseRepoId(pos[0]);
    if (!repo)
        throw UsageError("'" + pos[0] + "' is not a Hub model id (org/name or org/name@revision)");
    hub::HubSettings settings = hub::HubSettings::fromEnvironment();
    settings.verifyCached = verify;
    hub::HubClient client(settings);
    const hub::Snapshot s = client.fetchModel(*repo, stderrProgress());
    for (const auto &r : s.repaired)
        std::fprintf(stderr, "vitscope-cli: damaged in the cache, fetched again: %s\n", r.c_str());
    if (!s.fetched.empty() && ::isatty(2))
        std::fprintf(stderr, "\n");
    json files = json::array();
    int64_t total = 0;
    for (const auto &f : s.files) {
        const bool fetched = std::find(s.fetched.begin(), s.fetched.end(), f.name) != s.fetched.end();
        files.push_back({{"name", f.name}, {"bytes", f.size}, {"downloaded", fetched}});
        total += std::max<int64_t>(0, f.size);
    }
    std::cout << json{{"model", repo->id},
                      {"revision", repo->revision},
                      {"commit", s.commit},
                      {"folder", s.folder},
                      {"cache", client.settings().cacheDir},
                      {"offline", client.settings().offline},
                      {"bytes", total},
                      {"files", files},
                      {"repaired", s.repaired}}
                     .dump(2)
              << std::endl;
    return 0;
}

#else

int pullCommand(Args &args)
{
    args.positionals();
    args.finish();
    throw Error("this vitscope-cli was built without the Hugging Face Hub client (libcurl and OpenSSL were not "
                "found at build time): download the model folder another way and pass its path");
}

#endif

std::string resolveModelArg(const std::string &spec)
{
#ifdef VITSCOPE_WITH_HUB
    const auto print = stderrProgress();
    bool downloaded = false;
    const std::string path = engine::resolveModel(spec, [&](const engine::HubProgress &h) {
        hub::Progress p;
        p.file = h.file, p.done = h.done, p.total = h.total, p.allDone = h.allDone, p.allTotal = h.allTotal;
        p.bytesPerSecond = h.bytesPerSecond, p.etaSeconds = h.etaSeconds;
        downloaded = true;
        return print(p);
    });
    if (downloaded && ::isatty(2))
        std::fprintf(stderr, "\n");
    return path;
#else
    return engine::resolveModel(spec);
#endif
}

} // namespace vitscope::cli

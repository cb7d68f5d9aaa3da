#include "src/engine/hub_models.h"

#include <filesystem>

#include "models/error.h"
#ifdef VITSCOPE_WITH_HUB
#include "src/hub/hub.h"
#endif

namespace vitscope::engine {

std::vector<std::string> suggestedHubModels()
{
    return {"facebook/vit-mae-base",          "facebook/vit-mae-large",
            "facebook/vit-mae-huge",          "openai/clip-vit-base-patch32",
            "openai/clip-vit-base-patch16",   "openai/clip-vit-large-patch14",
            "laion/CLIP-ViT-B-32-laion2B-s34B-b79K"};
}

#ifdef VITSCOPE_WITH_HUB

bool hubAvailable()
{
    return true;
}

namespace {

hub::RepoId parse(const std::string &id)
{
    auto repo = hub::parseRepoId(id);
    if (!repo)
        throw Error("'" + id + "' is not a Hugging Face model id (org/name or org/name@revision)");
    return *repo;
}

} // namespace

HubModelInfo hubModelInfo(const std::string &id)
{
    try {
        hub::HubClient client;
        const hub::RepoId repo = parse(id);
        const hub::RepoInfo info = client.repoInfo(repo);
        HubModelInfo out;
        out.id = repo.id;
        out.revision = repo.revision;
        out.commit = info.commit;
        const std::filesystem::path snap = std::filesystem::path(client.settings().cacheDir) /
                                           repo.cacheFolderName() / "snapshots" / info.commit;
        for (const auto &f : hub::filesForModel(info)) {
            std::error_code ec;
            HubFile h{f.name, f.size, std::filesystem::exists(snap / f.name, ec)};
            out.totalBytes += std::max<std::int64_t>(0, f.size);
            if (h.cached)
                out.cachedBytes += std::max<std::int64_t>(0, f.size);
            out.files.push_back(h);
        }
        return out;
    } catch (const hub::HubError &e) {
        throw Error(e.what());
    }
}

std::string downloadHubModel(const std::string &id, const std::function<bool(const HubProgress &)> &progress)
{
    try {
        hub::HubClient client;
        const hub::Snapshot s = client.fetchModel(parse(id), [&](const hub::Progress &p) {
            if (!progress)
                return true;
            HubProgress h;
            h.file = p.file, h.done = p.done, h.total = p.total, h.allDone = p.allDone, h.allTotal = p.allTotal;
            h.bytesPerSecond = p.bytesPerSecond, h.etaSeconds = p.etaSeconds;
            return progress(h);
        });
        return s.folder;
    } catch (const hub::HubError &e) {
        throw Error(e.what());
    }
}

#else

bool hubAvailable()
{
    return false;
}

HubModelInfo hubModelInfo(const std::string &)
{
    throw Error("this build has no Hugging Face Hub client (libcurl and OpenSSL were missing at build time)");
}

std::string downloadHubModel(const std::string &, const std::function<bool(const HubProgress &)> &)
{
    throw Error("this build has no Hugging Face Hub client (libcurl and OpenSSL were missing at build time)");
}

#endif

} // namespace vitscope::engine

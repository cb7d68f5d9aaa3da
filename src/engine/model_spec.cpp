#include "src/engine/model_spec.h"

#include <algorithm>
#include <filesystem>

#include "models/error.h"
#include "models/runtime/data_files.h"
#ifdef VITSCOPE_WITH_HUB
#include "src/hub/hub.h"
#endif

namespace fs = std::filesystem;

namespace vitscope::engine {

namespace {

bool looksLikeHubId(const std::string &spec)
{
#ifdef VITSCOPE_WITH_HUB
    return hub::parseRepoId(spec).has_value();
#else
    // No Hub client to parse it: org/name[@revision] by its shape, so that the error says
    // the build lacks the client rather than that the model is missing.
    const auto slash = spec.find('/');
    return slash != std::string::npos && slash > 0 && spec.find('/', slash + 1) == std::string::npos &&
           spec.front() != '.' && slash + 1 < spec.size();
#endif
}

} // namespace

ModelSpecKind modelSpecKind(const std::string &spec)
{
    if (spec.empty())
        return ModelSpecKind::Unknown;
    const auto bundled = bundledModelNames();
    if (std::find(bundled.begin(), bundled.end(), spec) != bundled.end())
        return ModelSpecKind::Bundled;
    std::error_code ec;
    if (fs::is_directory(spec, ec) || fs::is_regular_file(spec, ec))
        return ModelSpecKind::Path;
    if (!fs::exists(spec, ec) && looksLikeHubId(spec))
        return ModelSpecKind::HubId;
    return ModelSpecKind::Unknown;
}

std::string resolveModel(const std::string &spec, const std::function<bool(const HubProgress &)> &progress)
{
    switch (modelSpecKind(spec)) {
    case ModelSpecKind::Bundled:
    case ModelSpecKind::Path:
        return resolveModelDir(spec);
    case ModelSpecKind::HubId:
        return downloadHubModel(spec, progress);
    case ModelSpecKind::Unknown:
        break;
    }
    std::error_code ec;
    if (fs::exists(spec, ec))
        return resolveModelDir(spec); // exists but is neither file nor folder: its own message
    std::string names;
    for (const auto &name : bundledModelNames())
        names += (names.empty() ? "" : ", ") + name;
    throw FileError(spec.empty() ? std::string("(empty model argument)") : spec,
                    "missing: no such file or folder, and not a bundled model name (" + names +
                        "), nor a Hugging Face model id (org/name or org/name@revision)");
}

} // namespace vitscope::engine

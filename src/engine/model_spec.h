#pragma once
// One door for "which model": every model argument of both front ends (the CLI's --model,
// the app's command line, the Models view, a session's load) is resolved here, once, to a
// local path that the format reader opens. The order:
//   1. a bundled model's name ("fmnist-mae", "fmnist-clip")  -> its folder;
//   2. an existing file or folder (a path that looks like org/name included) -> itself;
//   3. a Hugging Face Hub id "org/name[@revision]" -> its snapshot folder in the Hugging
//      Face cache, downloaded first when files are missing (a cached, complete snapshot
//      needs no network when HF_HUB_OFFLINE=1).
// Plain C++ types; no LibTorch, no Qt. Blocks while downloading: call it on a worker.

#include <functional>
#include <string>

#include "src/engine/hub_models.h"

namespace vitscope::engine {

enum class ModelSpecKind {
    Bundled, // a bundled model's name
    Path,    // an existing file or folder
    HubId,   // org/name[@revision] that is not a local path
    Unknown, // none of the three
};

// What `spec` names, without touching the network.
ModelSpecKind modelSpecKind(const std::string &spec);

// The local path for `spec` (see above). `progress` follows a download (return false to
// cancel). Errors: vitscope::FileError naming the spec when it is none of the three, the
// Hub's error (one line) when a download fails.
std::string resolveModel(const std::string &spec, const std::function<bool(const HubProgress &)> &progress = {});

} // namespace vitscope::engine

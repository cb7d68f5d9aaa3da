#pragma once
// The Hugging Face Hub for the GUI: what a model id would download, and the download itself
// into huggingface_hub's cache (src/hub). Plain C++ types; no LibTorch, no Qt, no curl.
// Both calls block: run them on a worker thread. Errors: vitscope::Error (one line).

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace vitscope::engine {

// False when this build has no Hub client (libcurl or OpenSSL missing at build time).
bool hubAvailable();

// The short list the Get model dialog offers (any other id can be typed).
std::vector<std::string> suggestedHubModels();

struct HubFile {
    std::string name;
    std::int64_t bytes = -1;
    bool cached = false;
};

struct HubModelInfo {
    std::string id, revision, commit;
    std::vector<HubFile> files; // what a download fetches: the files the model needs
    std::int64_t totalBytes = 0;
    std::int64_t cachedBytes = 0; // already in the cache
};

// "org/name[@revision]": the files the model needs and their sizes (asks the Hub API).
HubModelInfo hubModelInfo(const std::string &id);

struct HubProgress {
    std::string file;
    std::int64_t done = 0, total = -1, allDone = 0, allTotal = -1;
    double bytesPerSecond = 0, etaSeconds = -1;
};

// Downloads what is missing and returns the snapshot folder. `progress` returning false
// cancels (Error "cancelled"; the partial file resumes next time).
std::string downloadHubModel(const std::string &id, const std::function<bool(const HubProgress &)> &progress);

} // namespace vitscope::engine

#pragma once
// The Hub client's plain types, shared by its transport (src/hub/http.h) and its cache
// logic (src/hub/hub.h): a repository id, the settings from the environment, the file
// list, progress, and the one error type. No libcurl, no OpenSSL.

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace vitscope::hub {

class HubError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct RepoId {
    std::string id;                  // "org/name"
    std::string revision = "main";   // branch, tag or commit

    // "models--org--name"
    std::string cacheFolderName() const;
};

// "org/name" or "org/name@revision": both parts of letters, digits, '-', '_', '.'; not
// an existing path (a local folder called org/name wins).
std::optional<RepoId> parseRepoId(const std::string &arg);

struct HubSettings {
    std::string endpoint = "https://huggingface.co";
    std::string cacheDir;
    std::string token;
    bool offline = false;
    int maxAttempts = 5;             // per request, for 429, 5xx and connection failures
    double firstBackoffSeconds = 0.5; // doubled after each failure
    long connectTimeoutSeconds = 20;
    long lowSpeedSeconds = 60;       // give up when under 1 kB/s for this long
    bool verifyCached = false;       // hash large cached files too before trusting them

    static HubSettings fromEnvironment();
};

struct RepoFile {
    std::string name;   // "model.safetensors", "text_encoder/config.json"
    int64_t size = -1;  // bytes, -1 unknown
    std::string sha256; // LFS files
    std::string blobId; // git blob id (sha1 of "blob SIZE\0" + content) for small files
};

struct RepoInfo {
    RepoId repo;
    std::string commit;
    std::vector<RepoFile> files;
};

struct Progress {
    std::string file;
    int64_t done = 0;        // bytes of this file, resumed bytes included
    int64_t total = -1;      // bytes of this file
    int64_t allDone = 0;     // bytes of every file being fetched
    int64_t allTotal = -1;
    double bytesPerSecond = 0;
    double etaSeconds = -1;
};
// Return false to cancel (the partial file stays for a later resume).
using ProgressCallback = std::function<bool(const Progress &)>;

} // namespace vitscope::hub

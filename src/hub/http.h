#pragma once
// The Hub client's HTTP transport (libcurl): one request, or one with retries for 429
// (after Retry-After), 5xx and connection failures with doubling backoff; downloads
// written to a file as they arrive and hashed on the way; the token sent to the
// endpoint's host only. Errors: HubError with one line naming the URL or the repository.
// Internal to vitscope_hub (src/hub/hub.cpp is its one user). One Http per thread.

#include <cstdint>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "src/hub/hub_types.h"

namespace vitscope::hub {

// Small text helpers of the protocol (headers, URLs, ETags).
std::string env(const char *name); // "" when unset
std::string lower(std::string s);
std::string trim(const std::string &s);
bool isHexDigest(const std::string &s, std::size_t length); // `length` hex digits
bool isCommitHash(const std::string &s);                     // 40 of them
std::string hostOf(const std::string &url);
std::string urlEncode(const std::string &s);
std::string normalizeEtag(std::string e); // W/"abc" -> abc

// Writing a download to its file failed (a full disk, a file size limit): `what()` is the
// system's reason ("No space left on device"); the caller names the file.
class WriteError : public HubError {
public:
    using HubError::HubError;
};

struct Response {
    long status = 0;
    std::map<std::string, std::string> headers; // lower-case names, of the last response
    std::string body;
    CURLcode curl = CURLE_OK;
    std::string curlError;

    std::string header(const std::string &name) const
    {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

class Http {
public:
    explicit Http(const HubSettings &s);

    // One request, no retries. `sink`: the body goes to that file (downloads).
    Response once(const std::string &method, const std::string &url, const std::vector<std::string> &extraHeaders,
                  bool follow, std::ofstream *sink, const std::function<bool(int64_t, int64_t)> *progress,
                  bool &cancelled);

    // With retries for 429, 5xx and connection failures; `sinkFor` (re)opens a sink for
    // each attempt, `headersFor` gives each attempt's headers (a resumed Range).
    Response withRetries(const std::string &method, const std::string &url, const std::vector<std::string> &headers,
                         bool follow, const std::function<std::ofstream *(Response *)> &sinkFor = {},
                         const std::function<std::vector<std::string>()> &headersFor = {},
                         const std::function<bool(int64_t, int64_t)> *progress = nullptr);

    // Throws the HubError that explains a failed request (not found, gated, rate limited...).
    [[noreturn]] void fail(const std::string &what, const std::string &url, const Response &r, const RepoId &repo);

    // The digest that downloads update as bytes arrive (nullptr: none).
    void setHash(EVP_MD_CTX *ctx) { m_hash = ctx; }

private:
    const HubSettings &m_settings;
    std::string m_endpointHost;
    EVP_MD_CTX *m_hash = nullptr;
};

} // namespace vitscope::hub

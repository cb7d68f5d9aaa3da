#include "src/hub/http.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>

namespace vitscope::hub {

std::string env(const char *name)
{
    const char *v = std::getenv(name);
    return v ? std::string(v) : std::string();
}

std::string lower(std::string s)
{
    for (auto &c : s)
        c = char(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

std::string trim(const std::string &s)
{
    const auto b = s.find_first_not_of(" \t\r\n");
    const auto e = s.find_last_not_of(" \t\r\n");
    return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

bool isHexDigest(const std::string &s, std::size_t length)
{
    return s.size() == length &&
           std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

bool isCommitHash(const std::string &s)
{
    return isHexDigest(s, 40);
}

std::string hostOf(const std::string &url)
{
    const auto scheme = url.find("://");
    const auto start = scheme == std::string::npos ? 0 : scheme + 3;
    const auto end = url.find_first_of("/?#", start);
    return lower(url.substr(start, end == std::string::npos ? std::string::npos : end - start));
}

std::string urlEncode(const std::string &s)
{
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/')
            out.push_back(char(c));
        else {
            char buf[4];
            std::snprintf(buf, sizeof buf, "%%%02X", c);
            out += buf;
        }
    }
    return out;
}

// ETag values as the Hub sends them: W/"abc" or "abc".
std::string normalizeEtag(std::string e)
{
    e = trim(e);
    if (e.rfind("W/", 0) == 0)
        e = e.substr(2);
    if (e.size() >= 2 && e.front() == '"' && e.back() == '"')
        e = e.substr(1, e.size() - 2);
    return e;
}

namespace {

void initCurl()
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
    Response *response = nullptr;
    std::ofstream *sink = nullptr;     // downloads: the .incomplete file
    bool sinkTruncated = false;
    std::string sinkPath;
    const std::function<bool(int64_t, int64_t)> *progress = nullptr;
    EVP_MD_CTX *hash = nullptr;        // downloads: hashed as the bytes arrive
    bool cancelled = false;
    bool writeFailed = false;
    int writeErrno = 0;
};

size_t onHeader(char *data, size_t size, size_t n, void *user)
{
    auto *t = static_cast<Transfer *>(user);
    const std::string line(data, size * n);
    if (line.rfind("HTTP/", 0) == 0) {
        t->response->headers.clear(); // a new response (after a redirect)
    } else if (auto colon = line.find(':'); colon != std::string::npos) {
        t->response->headers[lower(trim(line.substr(0, colon)))] = trim(line.substr(colon + 1));
    }
    return size * n;
}

size_t onBody(char *data, size_t size, size_t n, void *user)
{
    auto *t = static_cast<Transfer *>(user);
    if (t->sink) {
        errno = 0;
        t->sink->write(data, std::streamsize(size * n));
        if (!*t->sink) {
            t->writeFailed = true;
            t->writeErrno = errno;
            return 0;
        }
        if (t->hash)
            EVP_DigestUpdate(t->hash, data, size * n);
    } else {
        if (t->response->body.size() + size * n > (std::size_t(64) << 20))
            return 0; // API answers are small; refuse to buffer anything large
        t->response->body.append(data, size * n);
    }
    return size * n;
}

int onProgress(void *user, curl_off_t total, curl_off_t now, curl_off_t, curl_off_t)
{
    auto *t = static_cast<Transfer *>(user);
    if (t->progress && *t->progress && !(*t->progress)(int64_t(now), int64_t(total))) {
        t->cancelled = true;
        return 1;
    }
    return 0;
}

} // namespace

Http::Http(const HubSettings &s) : m_settings(s), m_endpointHost(hostOf(s.endpoint))
{
    initCurl();
}

Response Http::once(const std::string &method, const std::string &url, const std::vector<std::string> &extraHeaders,
                    bool follow, std::ofstream *sink, const std::function<bool(int64_t, int64_t)> *progress,
                    bool &cancelled)
{
    Response r;
    Transfer t;
    t.response = &r;
    t.sink = sink;
    t.progress = progress;
    t.hash = sink ? m_hash : nullptr;
    CURL *curl = curl_easy_init();
    if (!curl)
        throw HubError(url + ": cannot start an HTTP transfer (libcurl)");
    char err[CURL_ERROR_SIZE] = {};
    struct curl_slist *headers = nullptr;
    for (const auto &h : extraHeaders)
        headers = curl_slist_append(headers, h.c_str());
    headers = curl_slist_append(headers, "Accept-Encoding: identity");
    if (!m_settings.token.empty() && hostOf(url) == m_endpointHost)
        headers = curl_slist_append(headers, ("Authorization: Bearer " + m_settings.token).c_str());
    curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "vitscope/0.1 (huggingface_hub-compatible cache)");
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, onHeader);
    curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, onBody);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, onProgress);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, m_settings.connectTimeoutSeconds);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, m_settings.lowSpeedSeconds);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, follow ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L * 1024L); // fewer, larger writes
    // A redirect to another host never carries the token (curl drops custom
    // Authorization headers on a host change; the header is only set for the endpoint).
    curl_easy_setopt(curl, CURLOPT_UNRESTRICTED_AUTH, 0L);
    if (method == "HEAD")
        curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
    r.curl = curl_easy_perform(curl);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
    if (r.curl != CURLE_OK)
        r.curlError = err[0] ? err : curl_easy_strerror(r.curl);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    cancelled = t.cancelled;
    if (t.writeFailed)
        throw WriteError(t.writeErrno ? std::strerror(t.writeErrno) : "the write failed");
    return r;
}

Response Http::withRetries(const std::string &method, const std::string &url, const std::vector<std::string> &headers,
                           bool follow, const std::function<std::ofstream *(Response *)> &sinkFor,
                           const std::function<std::vector<std::string>()> &headersFor,
                           const std::function<bool(int64_t, int64_t)> *progress)
{
    double wait = m_settings.firstBackoffSeconds;
    Response r;
    for (int attempt = 1;; ++attempt) {
        std::vector<std::string> h = headersFor ? headersFor() : headers;
        std::ofstream *sink = sinkFor ? sinkFor(nullptr) : nullptr;
        bool cancelled = false;
        try {
            r = once(method, url, h, follow, sink, progress, cancelled);
        } catch (const WriteError &) {
            if (sink)
                sink->close(); // what reached the disk stays, for a resume
            throw;
        }
        if (sink) {
            errno = 0;
            sink->close(); // flushes the last buffered bytes: a full disk may show only here
            if (sink->fail())
                throw WriteError(errno ? std::strerror(errno) : "the write failed");
        }
        if (cancelled)
            throw HubError(url + ": cancelled (the partial download is kept and resumes next time)");
        const bool transient = (r.curl != CURLE_OK && r.curl != CURLE_WRITE_ERROR) || r.status == 429 ||
                               (r.status >= 500 && r.status <= 599);
        if (!transient || attempt >= m_settings.maxAttempts)
            return r;
        double pause = wait;
        if (r.status == 429 && !r.header("retry-after").empty()) {
            try {
                pause = std::min(30.0, std::max(0.0, std::stod(r.header("retry-after"))));
            } catch (const std::exception &) {
            }
        }
        std::this_thread::sleep_for(std::chrono::duration<double>(pause));
        wait *= 2;
    }
}

void Http::fail(const std::string &what, const std::string &url, const Response &r, const RepoId &repo)
{
    if (r.curl != CURLE_OK && r.status == 0)
        throw HubError(url + ": " + r.curlError + " (no network? HF_HUB_OFFLINE=1 uses the cache alone)");
    const std::string code = r.header("x-error-code");
    const std::string msg = r.header("x-error-message");
    std::string text = url + ": " + what + " failed with HTTP " + std::to_string(r.status);
    if (r.status == 401 || code == "RepoNotFound")
        text = repo.id + ": repository not found, or private or gated (HTTP " + std::to_string(r.status) +
               "): check the name; for a private or gated model set HF_TOKEN";
    else if (r.status == 403)
        text = repo.id + ": access refused (HTTP 403): the model is gated; accept its conditions on its Hub page "
                         "with your account and set HF_TOKEN to that account's token";
    else if (code == "RevisionNotFound")
        text = repo.id + ": revision '" + repo.revision + "' not found (HTTP 404)";
    else if (code == "EntryNotFound")
        text = url + ": not in the repository (HTTP 404)";
    else if (r.status == 429)
        text = url + ": rate limited (HTTP 429) after " + std::to_string(m_settings.maxAttempts) + " attempts";
    else if (r.status >= 500)
        text = url + ": server error (HTTP " + std::to_string(r.status) + ") after " +
               std::to_string(m_settings.maxAttempts) + " attempts";
    if (!msg.empty())
        text += " (" + msg + ")";
    throw HubError(text);
}

} // namespace vitscope::hub

#include "src/hub/hub.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <curl/curl.h>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <sys/file.h>
#include <unistd.h>

namespace fs = std::filesystem;
using nlohmann::json;

namespace vitscope::hub {
namespace {

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

bool isCommitHash(const std::string &s)
{
    return s.size() == 40 && std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
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

void initCurl()
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

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

struct Transfer {
    Response *response = nullptr;
    std::ofstream *sink = nullptr;     // downloads: the .incomplete file
    bool sinkTruncated = false;
    std::string sinkPath;
    const std::function<bool(int64_t, int64_t)> *progress = nullptr;
    EVP_MD_CTX *hash = nullptr;        // downloads: hashed as the bytes arrive
    bool cancelled = false;
    bool writeFailed = false;
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
        t->sink->write(data, std::streamsize(size * n));
        if (!*t->sink) {
            t->writeFailed = true;
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

class Http {
public:
    explicit Http(const HubSettings &s) : m_settings(s), m_endpointHost(hostOf(s.endpoint)) { initCurl(); }

    // One request, no retries. `sink`: the body goes to that file (downloads).
    Response once(const std::string &method, const std::string &url, const std::vector<std::string> &extraHeaders,
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
            throw HubError(url + ": writing the download failed (disk full?)");
        return r;
    }

    // With retries for 429, 5xx and connection failures; `beforeAttempt` reopens a sink.
    Response withRetries(const std::string &method, const std::string &url, const std::vector<std::string> &headers,
                         bool follow, const std::function<std::ofstream *(Response *)> &sinkFor = {},
                         const std::function<std::vector<std::string>()> &headersFor = {},
                         const std::function<bool(int64_t, int64_t)> *progress = nullptr)
    {
        double wait = m_settings.firstBackoffSeconds;
        Response r;
        for (int attempt = 1;; ++attempt) {
            std::vector<std::string> h = headersFor ? headersFor() : headers;
            std::ofstream *sink = sinkFor ? sinkFor(nullptr) : nullptr;
            bool cancelled = false;
            r = once(method, url, h, follow, sink, progress, cancelled);
            if (sink)
                sink->close();
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

    [[noreturn]] void fail(const std::string &what, const std::string &url, const Response &r, const RepoId &repo)
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

    // The digest that downloads update as bytes arrive (nullptr: none).
    void setHash(EVP_MD_CTX *ctx) { m_hash = ctx; }

private:
    const HubSettings &m_settings;
    std::string m_endpointHost;
    EVP_MD_CTX *m_hash = nullptr;
};

// Hashes the bytes of `path` already on disk into `ctx` (a resumed download).
void hashExisting(EVP_MD_CTX *ctx, const std::string &path)
{
    std::ifstream in(path, std::ios::binary);
    std::vector<char> buf(1 << 20);
    while (in) {
        in.read(buf.data(), std::streamsize(buf.size()));
        if (in.gcount() > 0)
            EVP_DigestUpdate(ctx, buf.data(), std::size_t(in.gcount()));
    }
}

std::string hexOf(EVP_MD_CTX *ctx)
{
    unsigned char out[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx, out, &len);
    std::string hex;
    char two[3];
    for (unsigned int i = 0; i < len; ++i) {
        std::snprintf(two, sizeof two, "%02x", out[i]);
        hex += two;
    }
    return hex;
}

// Hex digest of `path` with `md` ("sha256", "sha1"), after `prefix`.
std::string fileDigest(const std::string &path, const EVP_MD *md, const std::string &prefix = {})
{
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX *)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestInit_ex(ctx.get(), md, nullptr);
    EVP_DigestUpdate(ctx.get(), prefix.data(), prefix.size());
    hashExisting(ctx.get(), path);
    return hexOf(ctx.get());
}

// An advisory lock on a file of the cache's .locks folder, as huggingface_hub takes them.
class FileLock {
public:
    explicit FileLock(const fs::path &path)
    {
        std::error_code ec;
        fs::create_directories(path.parent_path(), ec);
        m_fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
        if (m_fd >= 0)
            ::flock(m_fd, LOCK_EX);
    }
    ~FileLock()
    {
        if (m_fd >= 0) {
            ::flock(m_fd, LOCK_UN);
            ::close(m_fd);
        }
    }
    FileLock(const FileLock &) = delete;
    FileLock &operator=(const FileLock &) = delete;

private:
    int m_fd = -1;
};

bool isShardOf(const std::string &name, const std::string &stem, const std::string &ext)
{
    // stem-00001-of-00002.ext
    return name.rfind(stem + "-", 0) == 0 && name.size() > ext.size() &&
           name.compare(name.size() - ext.size(), ext.size(), ext) == 0 && name.find("-of-") != std::string::npos;
}

} // namespace

std::string RepoId::cacheFolderName() const
{
    std::string s = "models--" + id;
    for (std::size_t p = s.find('/'); p != std::string::npos; p = s.find('/'))
        s.replace(p, 1, "--");
    return s;
}

std::optional<RepoId> parseRepoId(const std::string &arg)
{
    std::error_code ec;
    if (arg.empty() || fs::exists(arg, ec))
        return std::nullopt;
    RepoId r;
    std::string id = arg;
    if (auto at = arg.find('@'); at != std::string::npos) {
        id = arg.substr(0, at);
        r.revision = arg.substr(at + 1);
        if (r.revision.empty())
            return std::nullopt;
    }
    const auto slash = id.find('/');
    if (slash == std::string::npos || slash == 0 || slash + 1 == id.size() || id.find('/', slash + 1) != std::string::npos)
        return std::nullopt;
    for (char c : id)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' || c == '/'))
            return std::nullopt;
    if (id.find("..") != std::string::npos || id.front() == '.' || id.back() == '.')
        return std::nullopt;
    r.id = id;
    return r;
}

HubSettings HubSettings::fromEnvironment()
{
    HubSettings s;
    if (std::string e = env("HF_ENDPOINT"); !e.empty())
        s.endpoint = e;
    while (!s.endpoint.empty() && s.endpoint.back() == '/')
        s.endpoint.pop_back();
    std::string home = env("HF_HOME");
    if (home.empty()) {
        const std::string xdg = env("XDG_CACHE_HOME");
        home = !xdg.empty() ? xdg + "/huggingface" : env("HOME") + "/.cache/huggingface";
    }
    s.cacheDir = env("HF_HUB_CACHE");
    if (s.cacheDir.empty())
        s.cacheDir = env("HUGGINGFACE_HUB_CACHE");
    if (s.cacheDir.empty())
        s.cacheDir = home + "/hub";
    s.token = env("HF_TOKEN");
    if (s.token.empty())
        s.token = env("HUGGING_FACE_HUB_TOKEN");
    if (s.token.empty()) {
        std::string path = env("HF_TOKEN_PATH");
        if (path.empty())
            path = home + "/token";
        std::ifstream in(path);
        std::string t;
        if (in && std::getline(in, t))
            s.token = trim(t);
    }
    const std::string off = lower(env("HF_HUB_OFFLINE"));
    s.offline = off == "1" || off == "on" || off == "yes" || off == "true";
    return s;
}

std::vector<RepoFile> filesForModel(const RepoInfo &info)
{
    std::map<std::string, RepoFile> byName;
    for (const auto &f : info.files)
        if (f.name.find('/') == std::string::npos)
            byName[f.name] = f;
    std::vector<RepoFile> out;
    auto take = [&](const std::string &name) {
        auto it = byName.find(name);
        if (it == byName.end())
            return false;
        out.push_back(it->second);
        return true;
    };
    auto takeShards = [&](const std::string &stem, const std::string &ext) {
        for (const auto &[name, f] : byName)
            if (isShardOf(name, stem, ext))
                out.push_back(f);
    };
    const bool hf = take("config.json");
    const bool openClip = take("open_clip_config.json");
    if (!hf && !openClip)
        throw HubError(info.repo.id + ": no config.json or open_clip_config.json: not a model vitscope loads "
                                      "(MAE: vit_mae, CLIP: clip or open_clip)");
    bool weights = false;
    if (hf) {
        if (take("model.safetensors"))
            weights = true;
        else if (take("model.safetensors.index.json"))
            takeShards("model", ".safetensors"), weights = true;
        else if (take("pytorch_model.bin"))
            weights = true;
        else if (take("pytorch_model.bin.index.json"))
            takeShards("pytorch_model", ".bin"), weights = true;
    }
    if (!weights && openClip)
        weights = take("open_clip_model.safetensors") || take("open_clip_pytorch_model.bin");
    if (!weights)
        throw HubError(info.repo.id + "@" + info.repo.revision +
                       ": no weights vitscope reads (model.safetensors, pytorch_model.bin, sharded, or open_clip's)");
    for (const char *extra : {"preprocessor_config.json", "vocab.json", "merges.txt", "tokenizer_config.json",
                              "special_tokens_map.json"})
        take(extra);
    return out;
}

HubClient::HubClient(HubSettings settings) : m_settings(std::move(settings)) {}

RepoInfo HubClient::repoInfo(const RepoId &repo)
{
    if (m_settings.offline)
        throw HubError(repo.id + ": HF_HUB_OFFLINE is set: the Hub is not asked");
    Http http(m_settings);
    const std::string url =
        m_settings.endpoint + "/api/models/" + repo.id + "/revision/" + urlEncode(repo.revision) + "?blobs=true";
    Response r = http.withRetries("GET", url, {}, true);
    if (r.curl != CURLE_OK || r.status != 200)
        http.fail("the file list", url, r, repo);
    RepoInfo info;
    info.repo = repo;
    try {
        const json j = json::parse(r.body);
        info.commit = j.value("sha", "");
        for (const auto &s : j.at("siblings")) {
            RepoFile f;
            f.name = s.at("rfilename").get<std::string>();
            if (s.contains("size") && s["size"].is_number_integer())
                f.size = s["size"].get<int64_t>();
            if (s.contains("blobId") && s["blobId"].is_string())
                f.blobId = s["blobId"].get<std::string>();
            if (s.contains("lfs") && s["lfs"].is_object()) {
                const auto &lfs = s["lfs"];
                if (lfs.contains("sha256") && lfs["sha256"].is_string())
                    f.sha256 = lfs["sha256"].get<std::string>();
                else if (lfs.contains("oid") && lfs["oid"].is_string())
                    f.sha256 = lfs["oid"].get<std::string>();
                if (lfs.contains("size") && lfs["size"].is_number_integer())
                    f.size = lfs["size"].get<int64_t>();
            }
            if (f.name.empty() || f.name.find("..") != std::string::npos || f.name.front() == '/')
                throw HubError(url + ": the file list names '" + f.name + "', not a path inside the repository");
            info.files.push_back(std::move(f));
        }
    } catch (const json::exception &e) {
        throw HubError(url + ": the Hub's answer is not the expected JSON (" + std::string(e.what()) + ")");
    }
    if (!isCommitHash(info.commit))
        throw HubError(url + ": the Hub's answer has no commit (sha)");
    return info;
}

std::optional<std::string> HubClient::cachedModel(const RepoId &repo) const
{
    const fs::path root = fs::path(m_settings.cacheDir) / repo.cacheFolderName();
    std::string commit = repo.revision;
    if (!isCommitHash(commit)) {
        std::ifstream in(root / "refs" / repo.revision);
        if (!in || !std::getline(in, commit))
            return std::nullopt;
        commit = trim(commit);
    }
    const fs::path snap = root / "snapshots" / commit;
    std::error_code ec;
    if (!fs::is_directory(snap, ec))
        return std::nullopt;
    RepoInfo local;
    local.repo = repo;
    for (const auto &entry : fs::directory_iterator(snap, ec))
        if (fs::exists(entry.path(), ec)) // a link whose blob is gone does not count
            local.files.push_back(RepoFile{entry.path().filename().string(), -1, {}, {}});
    try {
        (void)filesForModel(local);
    } catch (const HubError &) {
        return std::nullopt;
    }
    return snap.string();
}

Snapshot HubClient::fetchModel(const RepoId &repo, const ProgressCallback &progress)
{
    if (m_settings.offline) {
        if (auto cached = cachedModel(repo))
            return Snapshot{*cached, fs::path(*cached).filename().string(), {}, {}};
        throw HubError(repo.id + "@" + repo.revision + ": not in the Hugging Face cache (" + m_settings.cacheDir +
                       ") and HF_HUB_OFFLINE is set");
    }
    const RepoInfo info = repoInfo(repo);
    const std::vector<RepoFile> files = filesForModel(info);
    const fs::path root = fs::path(m_settings.cacheDir) / repo.cacheFolderName();
    const fs::path snap = root / "snapshots" / info.commit;
    std::error_code ec;
    fs::create_directories(root / "blobs", ec);
    fs::create_directories(snap, ec);
    if (ec)
        throw HubError((root / "blobs").string() + ": cannot create the cache folder: " + ec.message());

    Snapshot out;
    out.folder = snap.string();
    out.commit = info.commit;
    out.files = files;
    std::vector<RepoFile> missing;
    int64_t allTotal = 0;
    for (const auto &f : files)
        if (!fs::exists(snap / f.name, ec)) {
            missing.push_back(f);
            allTotal += std::max<int64_t>(0, f.size);
        }
    Http http(m_settings);
    int64_t allDoneBefore = 0;
    int64_t resumedTotal = 0; // bytes already on disk when this run started (not counted in the rate)
    const auto started = std::chrono::steady_clock::now();
    for (const auto &f : missing) {
        const std::string resolveUrl = m_settings.endpoint + "/" + repo.id + "/resolve/" + info.commit + "/" + urlEncode(f.name);
        // Metadata first, without following the redirect: the etag names the blob.
        Response head = http.withRetries("HEAD", resolveUrl, {}, false);
        if (head.curl != CURLE_OK || (head.status != 200 && (head.status < 300 || head.status > 399)))
            http.fail("the metadata request", resolveUrl, head, repo);
        std::string etag = normalizeEtag(!head.header("x-linked-etag").empty() ? head.header("x-linked-etag")
                                                                               : head.header("etag"));
        if (etag.empty())
            etag = !f.sha256.empty() ? f.sha256 : f.blobId;
        if (etag.empty() || etag.find('/') != std::string::npos || etag.find("..") != std::string::npos)
            throw HubError(resolveUrl + ": the Hub sent no usable ETag for the file");
        int64_t size = f.size;
        if (std::string ls = head.header("x-linked-size"); !ls.empty())
            size = std::stoll(ls);
        else if (std::string cl = head.header("content-length"); !cl.empty() && head.status == 200)
            size = std::stoll(cl);
        if (f.size >= 0 && size != f.size)
            throw HubError(resolveUrl + ": the Hub announces " + std::to_string(size) + " bytes, its file list " +
                           std::to_string(f.size));
        std::string location = head.header("location");
        std::string downloadUrl = resolveUrl;
        if (head.status >= 300 && !location.empty())
            downloadUrl = location.front() == '/' ? m_settings.endpoint + location : location;

        const fs::path blob = root / "blobs" / etag;
        FileLock lock(fs::path(m_settings.cacheDir) / ".locks" / repo.cacheFolderName() / (etag + ".lock"));
        if (!fs::exists(blob, ec)) {
            const fs::path partial = blob.string() + ".incomplete";
            std::ofstream sink;
            std::vector<char> sinkBuffer(std::size_t(1) << 20);
            // The digest the Hub announced: sha256 for LFS files, the git blob id (sha1 of
            // "blob SIZE\0" + content) for small ones; computed while the bytes arrive.
            const std::string expectSha = !f.sha256.empty() ? f.sha256 : (etag.size() == 64 ? etag : std::string());
            const std::string expectBlob = expectSha.empty() && size >= 0 ? f.blobId : std::string();
            const EVP_MD *md = !expectSha.empty() ? EVP_sha256() : EVP_sha1();
            const std::string prefix = expectBlob.empty() ? std::string() : "blob " + std::to_string(size) + std::string(1, '\0');
            std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX *)> digest(EVP_MD_CTX_new(), EVP_MD_CTX_free);
            http.setHash(digest.get());
            int64_t resumeBase = 0;
            bool firstAttempt = true;
            const std::function<bool(int64_t, int64_t)> onBytes = [&](int64_t now, int64_t) {
                if (!progress)
                    return true;
                Progress p;
                p.file = f.name;
                p.done = resumeBase + now;
                p.total = size;
                p.allDone = allDoneBefore + p.done;
                p.allTotal = allTotal;
                const double secs =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
                p.bytesPerSecond = secs > 0 ? double(p.allDone - resumedTotal) / secs : 0;
                p.etaSeconds = p.bytesPerSecond > 0 && allTotal > 0 ? double(allTotal - p.allDone) / p.bytesPerSecond : -1;
                return progress(p);
            };
            Response get = http.withRetries(
                "GET", downloadUrl, {}, true,
                [&](Response *) {
                    // (Re)open for each attempt: resume after what is already on disk.
                    const int64_t have = fs::exists(partial, ec) ? int64_t(fs::file_size(partial, ec)) : 0;
                    resumeBase = have;
                    EVP_DigestInit_ex(digest.get(), md, nullptr);
                    EVP_DigestUpdate(digest.get(), prefix.data(), prefix.size());
                    if (have > 0)
                        hashExisting(digest.get(), partial.string());
                    if (firstAttempt)
                        resumedTotal += have, firstAttempt = false;
                    sink.rdbuf()->pubsetbuf(sinkBuffer.data(), std::streamsize(sinkBuffer.size()));
                    sink.open(partial, std::ios::binary | std::ios::app);
                    return &sink;
                },
                [&]() {
                    const int64_t have = fs::exists(partial, ec) ? int64_t(fs::file_size(partial, ec)) : 0;
                    if (have > 0 && (size < 0 || have < size))
                        return std::vector<std::string>{"Range: bytes=" + std::to_string(have) + "-"};
                    return std::vector<std::string>{};
                },
                &onBytes);
            if (get.curl != CURLE_OK || (get.status != 200 && get.status != 206 && get.status != 416))
                http.fail("the download", downloadUrl, get, repo);
            http.setHash(nullptr);
            bool rewritten = false;
            if (get.status == 200 && fs::exists(partial, ec)) {
                // The server ignored the Range: the file holds old bytes, then the whole
                // file again. Keep only the fresh copy (its last `size` bytes).
                const int64_t have = int64_t(fs::file_size(partial, ec));
                if (size >= 0 && have > size) {
                    std::ifstream in(partial, std::ios::binary);
                    in.seekg(have - size);
                    const fs::path fresh = partial.string() + ".fresh";
                    std::ofstream o(fresh, std::ios::binary | std::ios::trunc);
                    o << in.rdbuf();
                    o.close();
                    fs::rename(fresh, partial, ec);
                    rewritten = true;
                }
            }
            const int64_t got = int64_t(fs::file_size(partial, ec));
            if (size >= 0 && got != size) {
                fs::remove(partial, ec);
                throw HubError(downloadUrl + ": received " + std::to_string(got) + " bytes, the Hub announced " +
                               std::to_string(size) + "; the partial file was removed");
            }
            if (!expectSha.empty() || !expectBlob.empty()) {
                const std::string digestHex = rewritten ? fileDigest(partial.string(), md, prefix) : hexOf(digest.get());
                const std::string &want = !expectSha.empty() ? expectSha : expectBlob;
                if (digestHex != lower(want)) {
                    fs::remove(partial, ec);
                    throw HubError(downloadUrl + ": " + (!expectSha.empty() ? "sha256 " : "git blob id ") + digestHex +
                                   " differs from the announced " + want + "; the download was discarded");
                }
            }
            fs::rename(partial, blob, ec);
            if (ec)
                throw HubError(blob.string() + ": cannot move the download into the cache: " + ec.message());
            out.fetched.push_back(f.name);
        }
        allDoneBefore += std::max<int64_t>(0, size);
        // snapshots/COMMIT/NAME -> ../../blobs/ETAG, relative as huggingface_hub makes it.
        const fs::path link = snap / f.name;
        fs::remove(link, ec);
        fs::create_symlink(fs::relative(blob, link.parent_path()), link, ec);
        if (ec) { // no symlinks here: a copy
            fs::copy_file(blob, link, fs::copy_options::overwrite_existing, ec);
            if (ec)
                throw HubError(link.string() + ": cannot place the file in the snapshot: " + ec.message());
        }
    }
    if (repo.revision != info.commit) {
        fs::create_directories(root / "refs", ec);
        const fs::path ref = root / "refs" / repo.revision;
        fs::create_directories(ref.parent_path(), ec);
        std::ofstream(ref, std::ios::trunc) << info.commit;
    }
    return out;
}

std::string humanBytes(double bytes)
{
    const char *units[] = {"B", "kB", "MB", "GB", "TB"};
    int u = 0;
    while (bytes >= 1000 && u < 4)
        bytes /= 1000, ++u;
    char buf[32];
    std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
    return buf;
}

} // namespace vitscope::hub
